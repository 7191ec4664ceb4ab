"""A workshop's worst case, the parts other tests leave out: hostile names and files, bad
saved configs, and buttons pressed at awkward moments. Each asserts what a person would see
(the message, the status) and that nothing saved is lost or changed."""

import json
import pickle
import threading
import time
from pathlib import Path

import pytest

from playground.app import Playground
from playground.cli import main
from playground.config import HParams
from playground.engine.events import Callback
from playground.engine.runner import Runner
from playground.store import RunNotFound, RunStore
from playground.tabular import TableError, read_csv

HOSTILE_IDS = ["../../etc/x", "/etc/passwd", "..", "", "%", "_", "exports/../../x"]


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def saved_run(store: RunStore, name: str | None = None) -> str:
    run_id = store.create_run(HParams().to_dict(), "cpu", name=name)
    writer = store.writer(run_id)
    writer.add_points([{"step": 1, "epoch": 0, "split": "train", "loss": 0.5}])
    writer.finish("finished", 1, 0.1, {"val_loss": 0.5})
    return run_id


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def app(tmp_path):
    app = Playground(HParams(samples=200, epochs=2), device="cpu",
                     store=RunStore(tmp_path / "store" / "runs.sqlite"))
    app.pump.stop()  # tests tick it themselves where they need it
    yield app
    app.close()


# --- exports: only under the store's folder -------------------------------------------------
def test_exports_are_written_only_beside_the_store(tmp_path):
    store = RunStore(tmp_path / "store" / "runs.sqlite")  # not PLAYGROUND_HOME
    run_id = saved_run(store, name="../../../etc/cron.d/x")  # a name is never a path
    before = files_under(tmp_path)
    for hostile in HOSTILE_IDS:
        with pytest.raises(RunNotFound, match="not found"):
            store.export(hostile, "csv")
    assert files_under(tmp_path) == before
    path = store.export(run_id, "json")
    assert path == tmp_path / "store" / "exports" / f"{run_id}.json"
    assert files_under(tmp_path) - before == {path}


def test_the_apps_export_is_a_download_that_writes_nothing_and_refuses_other_ids(app, tmp_path):
    app.close()
    run_id = saved_run(app.store)
    reopened = Playground(device="cpu", store=app.store)  # saved runs are listed in the table
    try:
        reopened.pump.stop()
        reopened.runs_table.rows[run_id].export.click()
        link = reopened.runs_table.rows[run_id].file.value
        assert f'download="{app.store.get(run_id).name}.csv"' in link
        assert "data:text/csv;base64," in link and str(tmp_path) not in link
        for hostile in HOSTILE_IDS:
            with pytest.raises(RunNotFound):
                reopened.export_run(hostile)
        assert files_under(tmp_path / "store" / "exports") == set()  # nothing on the server
    finally:
        reopened.close()


# --- uploaded data: parsed as text, never run, unpickled or rendered as markup ---------------
class Trap:
    """Unpickling this writes a file: proof that something loaded a pickle."""

    path = ""

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])  # 0 is plain ASCII text
def test_a_pickle_upload_is_refused_as_text_and_never_loaded(tmp_path, protocol, monkeypatch):
    Trap.path = str(tmp_path / "unpickled")
    payload = pickle.dumps(Trap(), protocol=protocol)

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle loader was called on uploaded data")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    with pytest.raises(TableError, match="header: 1 column|not UTF-8"):
        read_csv(payload)
    assert not Path(Trap.path).exists()


def test_code_in_a_csv_is_a_value_never_run(tmp_path):
    proof = tmp_path / "ran"
    code = f"__import__('os').system('touch {proof}')"
    rows = "".join(f"{i},{i % 3}\n" for i in range(30))
    with pytest.raises(TableError, match=r"row 2, column 'x': .*is not a number"):
        read_csv(f"x,y\n{code},1\n{rows}".encode())
    labels = "".join(f"{i},{code if i % 2 else 'eval(1)'}\n" for i in range(30))
    table = read_csv(f"x,label\n{labels}".encode())  # text labels are class names
    assert table.class_names == tuple(sorted(["eval(1)", code])) and not proof.exists()


def test_names_in_an_upload_are_shown_as_text_never_markup(app):
    markup = '<img src=x onerror="alert(1)">'
    rows = "".join(f"{i % 7},{i % 2}\n" for i in range(40))
    app.upload.load(f"a,{markup}\n{rows}".encode(), f"<b>{markup}</b>.csv")
    assert "<img" not in app.upload.message.value and "&lt;b&gt;" in app.upload.message.value
    app.upload.use.click()
    assert app.runner.hparams.dataset == "custom"
    assert "40 rows" in app.upload.message.value and "<img" not in app.upload.message.value


def test_a_link_with_markup_shows_it_as_text():
    app = Playground.from_url('lr=<img src=x onerror="alert(1)">', device="cpu")
    try:
        assert app.runner.hparams == HParams.free_play()  # refused, defaults kept
        assert "lr: '&lt;img src=x" in app.message.value and "<img" not in app.message.value
    finally:
        app.close()


# --- a saved config file with bad values: one line naming the field --------------------------
@pytest.mark.parametrize("content, words", [
    (b'{"lr": "fast"}', "lr: 'fast' is not allowed; allowed: 1e-05 to 10"),
    (b'{"depth": 2.5}', "depth: 2.5 is not allowed; allowed: a whole number"),
    (b'{"lr": NaN}', "lr: nan is not allowed"),
    (b'{"colour": 3}', "colour: 3 is not allowed; allowed: a field of HParams"),
    (b'{"dataset": "../../etc/passwd"}', "dataset: '../../etc/passwd' is not allowed"),
    (b"[1, 2]", "config: [1, 2] is not allowed; allowed: a mapping"),
    (b"lr = 0.1", "config: 'lr = 0.1' is not allowed; allowed: a JSON object"),
    (b"\xff\xfe{}", "is not allowed; allowed: a JSON object in UTF-8 text"),
])
def test_a_bad_saved_config_gives_one_line_and_saves_nothing(tmp_path, capsys, content, words):
    store = RunStore()
    kept = saved_run(store)
    config = tmp_path / "saved.json"
    config.write_bytes(content)
    capsys.readouterr()
    assert main(["train", "--config", str(config), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
    assert [run.id for run in store.list_runs()] == [kept]
    assert store.get(kept).status == "finished" and len(store.points(kept)) == 1


def test_a_good_saved_config_is_used_and_flags_win(tmp_path, capsys):
    config = tmp_path / "saved.json"
    config.write_text(json.dumps({"lr": 0.05, "depth": 1, "samples": 100}))
    assert main(["train", "--config", str(config), "--epochs", "1", "--depth", "3",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["lr"] == 0.05 and summary["config"]["depth"] == 3


# --- buttons pressed at awkward moments -------------------------------------------------------
class HoldStep(Callback):
    """Holds the training thread inside one step (after backward, before the update)."""

    def __init__(self, at_step: int):
        self.at_step, self.inside, self.release = at_step, threading.Event(), threading.Event()

    def after_backward(self, trainer):
        if trainer.step == self.at_step:
            self.inside.set()
            assert self.release.wait(30)


def test_stop_during_a_step_finishes_that_step_then_stops_and_saves():
    hold = HoldStep(at_step=5)
    runner = Runner(HParams(samples=200, epochs=1000), device="cpu", callbacks=[hold])
    run_id = runner.start()
    assert hold.inside.wait(60)
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    time.sleep(0.2)  # the stop is waiting on the step in progress
    assert stopper.is_alive() and runner.status == "running"
    hold.release.set()
    stopper.join(30)
    assert runner.status == "stopped" and runner.trainer.step == 6  # no step after the stop
    run = runner.store.get(run_id)
    assert run.status == "stopped" and run.steps == 6
    assert max(point["step"] for point in runner.store.points(run_id)) == 6


def test_start_pressed_twice_in_the_app_is_one_run(app):
    app.runner.update(epochs=1000)
    start = app.toolbar.buttons["Start"]
    start.click()
    start.click()  # before the first has shown "running"
    wait_until(lambda: app.runner.trainer is not None and app.runner.trainer.step > 0)
    start.click()  # while it runs: the button is enabled only by a stale status
    assert len(app.store.list_runs()) == 1 and app.runner.status == "running"
    app.toolbar.buttons["Stop"].click()
    assert app.runner.wait(30) == "stopped"
    assert app.status_line.value.count("failed") == 0


def test_reset_during_a_lesson_queue_ends_it_and_keeps_the_saved_run(tmp_path):
    app = Playground(lesson="regularisation", device="cpu",
                     store=RunStore(tmp_path / "store" / "runs.sqlite"))  # the pump runs
    try:
        app.play_lesson()  # four runs, one after another
        wait_until(lambda: app.runner.trainer is not None and app.runner.trainer.step > 20)
        first = app.runner.run_id
        app.toolbar.buttons["Reset"].click()
        assert app.runner.status == "idle" and app.runner.run_id is None
        time.sleep(1.0)  # ten pump ticks: the queue must not start its next run
        assert [run.id for run in app.store.list_runs()] == [first]
        assert app.store.get(first).status == "stopped" and app.store.points(first)
        assert not app.runner.active
    finally:
        app.close()
