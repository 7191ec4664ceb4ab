"""The app without a browser: widgets, runner, pump and figures wired together."""

import time

import pytest
from bokeh.models import ColumnDataSource

from playground.app import Playground
from playground.config import HParams
from playground.engine.record import RunRecord


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def app():
    app = Playground(HParams(samples=200, epochs=2), device="cpu")
    app.pump.stop()  # the tests tick the pump themselves
    yield app
    app.close()


def train_points(app, run_id):
    return len(app.plots.loss.sources(run_id)["train"].data["step"])


def test_changing_a_widget_changes_the_runners_hyperparameters(app):
    app.controls.by_name["dropout"].value = 0.3
    app.controls.by_name["depth"].value = 4
    assert app.runner.hparams.dropout == 0.3 and app.runner.hparams.depth == 4


def test_a_refused_value_keeps_the_runner_and_says_why(app):
    app.controls.by_name["optimizer"].value = "nesterov"
    app.controls.by_name["momentum"].value = 0.0  # nesterov needs momentum
    assert app.runner.hparams.momentum == 0.9
    assert app.controls.by_name["momentum"].value == 0.9
    assert "momentum" in app.controls.message.value and "nesterov" in app.controls.message.value


def test_a_starting_runs_row_waits_for_its_first_points(app):
    app.runner.update(epochs=1000)
    app.start()
    run_id = app.runner.run_id
    app.drawn.refresh()  # what each pump round ends with; nothing is drawn yet
    assert run_id not in app.plots.runs and run_id not in app.runs_table.run_ids
    wait_until(lambda: app.runner.trainer is not None
               and app.runner.trainer.step > app.runner.log_every)  # train rows logged
    app.pump.tick()  # the first points are drawn, then the row is built
    assert train_points(app, run_id) > 0 and run_id in app.runs_table.run_ids
    app.stop()


def test_a_new_run_is_drawn_in_the_round_that_brings_its_first_points(app):
    app.runner.update(epochs=1000)
    app.start()
    run_id = app.runner.run_id
    wait_until(lambda: app.runner.trainer is not None
               and app.runner.trainer.step > app.runner.log_every)
    assert run_id not in app.plots.runs  # the click drew nothing
    app.pump.tick()
    assert train_points(app, run_id) > 0
    assert app.plots._runs[run_id]["epochs"] == 1000  # with its config, for the legend
    app.stop()


def test_a_run_with_no_rows_yet_is_drawn_a_round_later(app):
    app.show_run("quiet-run", HParams(lr=0.3).to_dict())
    app.pump.tick()
    assert "quiet-run" not in app.plots.runs
    app.pump.tick()
    assert "quiet-run" in app.plots.runs and train_points(app, "quiet-run") == 0


def test_a_run_streams_points_into_the_figures_in_batches(app, monkeypatch):
    app.start()
    assert app.runner.wait(60) == "finished"
    run_id = app.runner.run_id
    streams = []
    original = ColumnDataSource.stream

    def counting_stream(self, data, rollover=None):
        streams.append((self, len(data["step"])))
        return original(self, data, rollover)

    monkeypatch.setattr(ColumnDataSource, "stream", counting_stream)
    app.pump.tick()  # the run's lines, and everything it logged in one stream call each
    source = app.plots.loss.sources(run_id)["train"]
    streamed = [length for streamed_to, length in streams if streamed_to is source]
    steps = app.runner.trainer.step
    assert streamed == [steps] and train_points(app, run_id) == steps
    assert len(app.plots.loss.sources(run_id)["val"].data["step"]) > 2
    streams.clear()
    app.pump.tick()  # nothing new: no growth
    assert train_points(app, run_id) == steps and not streams
    assert "finished" in app.status_line.value


def test_live_change_is_marked_on_the_plot(app):
    app.update({"epochs": 200})
    app.start()
    wait_until(lambda: app.runner.trainer is not None and app.runner.trainer.step > 5)
    app.controls.by_name["lr"].value = 0.1
    wait_until(lambda: app.runner.trainer.hp.lr == 0.1)
    app.stop()
    app.pump.tick()
    markers = app.plots.loss.marker_source(app.runner.run_id).data
    assert len(next(iter(markers.values()))) == 1


def test_rollover_bounds_points_per_line():
    app = Playground(HParams(samples=200, epochs=20, batch_size=8), device="cpu")
    app.pump.stop()
    app.plots.loss.max_points = 100
    try:
        app.start()
        assert app.runner.wait(60) == "finished"
        assert app.runner.trainer.step == 400
        app.pump.tick()
        assert train_points(app, app.runner.run_id) <= 100
    finally:
        app.close()


def test_a_new_session_lists_saved_runs_and_draws_one_when_asked(app):
    app.start()
    app.runner.wait(60)
    run_id = app.runner.run_id
    again = Playground(device="cpu")
    try:
        assert again.plots.runs == [] and run_id in again.runs_table.run_ids  # starts clean
        row = again.runs_table.rows[run_id]
        assert not row.show.value and row.name.value == "run 1"
        row.show.value = True  # a person ticks "show"
        assert again.plots.runs == [run_id] and train_points(again, run_id) > 0
        assert again.plots.legend[run_id] == "run 1"
        row.show.value = False  # and takes it off again: still saved and listed
        assert again.plots.runs == [] and run_id in again.runs_table.run_ids
    finally:
        again.close()


def test_clear_plots_keeps_the_run_that_trains_and_every_saved_run(app):
    app.start()
    app.runner.wait(60)
    first = app.runner.run_id
    app.update({"lr": 0.05})
    app.runner.update(epochs=0)  # the second run goes on until Stop
    app.start()
    second = app.runner.run_id
    wait_until(lambda: (app.pump.tick(), second in app.plots.runs)[1], timeout=60)
    app.clear_plots()
    assert app.plots.runs == [second]
    assert {first, second} <= {run.id for run in app.store.list_runs()}
    app.stop()


def test_url_query_sets_controls_and_bad_values_are_shown_not_raised():
    app = Playground.from_url("lr=0.3&depth=4&hide=dropout,seed&lesson=x", device="cpu")
    try:
        assert app.runner.hparams.lr == 0.3 and app.runner.hparams.depth == 4
        assert "dropout" not in app.controls.by_name and "seed" not in app.controls.by_name
    finally:
        app.close()
    bad = Playground.from_url("lr=50", device="cpu")
    try:
        assert bad.runner.hparams == HParams.free_play()
        assert "lr: 50.0 is not allowed" in bad.message.value
    finally:
        bad.close()


def test_a_pooled_kernel_has_the_plain_page_ready_and_lists_runs_saved_while_it_waited(
        monkeypatch):
    """In Voilà's preheated pool the app is built before a page asks for the kernel; a run
    another tab saved meanwhile is in its runs table once a page takes it."""
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    built = []
    from_link = Playground._from_link.__func__
    monkeypatch.setattr(Playground, "_from_link", classmethod(
        lambda cls, link, **kwargs: built.append(from_link(cls, link, **kwargs)) or built[-1]))

    def another_tab_saves_a_run_then_a_page_comes():  # page_query waits for the request
        store = built[0].store
        other = store.create_run(HParams(samples=200).to_dict(), "cpu", name="another tab")
        store.writer(other).finish("finished", 5, 1.0, {})
        return ""

    monkeypatch.setattr("playground.app.page_query", another_tab_saves_a_run_then_a_page_comes)
    app = Playground.from_url(device="cpu")
    try:
        assert built == [app]  # the plain page, built before the page came, is the one shown
        names = [app.store.get(run_id).name for run_id in app.runs_table.run_ids]
        assert "another tab" in names
    finally:
        app.close()


def test_a_pooled_kernel_builds_a_links_page_once_the_link_is_known(monkeypatch):
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setattr("playground.app.page_query", lambda: "lr=0.3&lesson=capacity")
    app = Playground.from_url(device="cpu")
    try:
        assert app.runner.hparams.lr == 0.3 and app.lesson.name == "capacity"
    finally:
        app.close()


def test_live_record_memory_is_bounded():
    record = RunRecord(maxlen=100)
    reader = record.reader()
    for step in range(1000):
        record.append("points", [{"step": step}])
    rows = reader.fetch()["points"]
    assert len(rows) == 100 and rows[-1]["step"] == 999
    assert reader.fetch() == {}


def test_live_record_takes_any_channel_name():
    """A new probe's channel needs no registration in the engine: readers made before its
    first row still get every row of it."""
    record = RunRecord(maxlen=3)
    early = record.reader()
    record.append("gauge", [{"step": step} for step in range(5)])
    late = record.reader()
    assert [r["step"] for r in early.fetch()["gauge"]] == [2, 3, 4]  # the oldest fell off
    record.append("gauge", [{"step": 5}])
    record.append("points", [{"step": 0}])
    assert early.fetch() == {"gauge": [{"step": 5}], "points": [{"step": 0}]}
    assert [r["step"] for r in late.fetch()["gauge"]] == [3, 4, 5]


def test_uploaded_csv_becomes_the_data_and_bad_files_are_explained(app):
    rows = "\n".join(f"{i % 7},{(i * 3) % 11},{'a' if i % 2 else 'b'}" for i in range(60))
    app.upload.load(f"x,y,kind\n{rows}\n".encode(), "mine.csv")
    assert list(app.upload.target.options) == ["x", "y", "kind"]
    app.upload.use.click()
    assert app.runner.hparams.dataset == "custom"
    assert "60 rows" in app.upload.message.value and "classification" in app.upload.message.value
    app.start()
    assert app.runner.wait(60) == "finished"
    assert app.runner.trainer.data.n_classes == 2
    app.upload.load(b"x,y,kind\n1,2\n", "broken.csv")
    assert "row 2: has 2 values" in app.upload.message.value
    assert app.upload.use.disabled and app.runner.hparams.dataset == "custom"


def test_picking_a_lesson_shows_only_its_controls_and_free_play_shows_all_again(app):
    from playground.lessons import get_lesson

    lesson = get_lesson("learning_rate")
    app.lesson_panel.picker.value = "learning_rate"
    shown = {name for name, control in app.controls.by_name.items()
             if control.layout.display != "none"}
    assert shown == set(app.controls.by_name) - set(lesson.hidden) and "lr" in shown
    assert app.controls.groups["model"].layout.display == "none"  # nothing of it is shown
    app.lesson_panel.picker.value = ""
    assert all(c.layout.display is None for c in app.controls.by_name.values())


def test_only_data_sets_on_disk_are_offered(app):
    options = [value for _, value in app.controls.by_name["dataset"].options]
    assert "moons" in options and "digits" in options
    assert "mnist" not in options and "custom" not in options  # no files, no table yet


def test_a_lesson_from_the_link_loads_its_preset_hides_its_fields_and_plays():
    from playground.lessons import get_lesson

    lesson = get_lesson("capacity")
    app = Playground.from_url("lesson=capacity&epochs=3", device="cpu")
    try:
        first = lesson.configs()[0]
        assert app.runner.hparams == first.replace(epochs=3)  # the link overrides the preset
        controls = app.controls.by_name
        assert all(controls[name].layout.display == "none" for name in lesson.hidden)
        assert controls["depth"].layout.display is None  # what the lesson is about
        assert lesson.title in app.lesson_panel.explanation.value
        assert "lesson=capacity" in app.link() and "epochs=3" in app.link()
        app.pump.stop()
        app.play_lesson()
        while app._queue or app.runner.active:  # the pump would do this ~10 times a second
            app.runner.wait(60)
            app._next_in_queue()
        names = [run.name for run in reversed(app.store.list_runs())]
        assert names == lesson.labels
    finally:
        app.close()


def test_a_race_draws_its_members_on_the_main_plots_and_reset_ends_it(app):
    app.controls.by_name["epochs"].value = 500
    app.search.race.values.value = "0.01, 0.1, 0.5"
    assert app.search.race.start()
    wait_until(lambda: len(app.store.list_runs()) == 3, timeout=60)
    members = app.store.list_runs()
    assert all(run.source.startswith("race:") for run in members)

    def every_member_drawn():
        app.pump.tick()
        return all(run.id in app.plots.runs and train_points(app, run.id) > 0 for run in members)

    wait_until(every_member_drawn, timeout=60)
    assert sorted(app.plots.differences[run.id] for run in members) == [
        "learning rate=0.01", "learning rate=0.1", "learning rate=0.5"]
    assert "a race running" in app.status_line.value  # not just "no run yet · idle"
    assert "step 0" not in app.status_line.value  # the race's steps are not a main run's
    app.reset()  # a Reset in the middle of a race stops it, and keeps what it trained
    assert not app.jobs.busy
    app.pump.tick()
    assert "a race running" not in app.status_line.value
    statuses = {app.store.get(run.id).status for run in members}
    assert statuses == {"stopped"}


def test_focus_picks_the_run_whose_snapshots_the_plots_show(app):
    app.start()
    app.runner.wait(60)
    first = app.runner.run_id
    app.update({"width": 8})  # a new model: a second run
    app.start()
    app.runner.wait(60)
    second = app.runner.run_id
    wait_until(lambda: (app.pump.tick(), app.drawn._table_key and second in app.plots.runs)[1])
    app.drawn.changed()
    app.drawn.refresh()
    assert [value for _, value in app.drawn.focus.options] == [second, first]  # the bold one first
    assert app.drawn.focus.value == second and app.plots.weights.active == second
    app.drawn.focus.value = first  # a person picks the first run: its weights come back
    assert app.plots.loss.active == first and app.plots.weights.active == first
    assert app.plots.weights.latest(first) is not None


def test_a_race_members_gradient_norms_show_when_it_is_in_focus(app):
    app.controls.by_name["epochs"].value = 3
    app.search.race.values.value = "0.01, 1"
    assert app.search.race.start()
    wait_until(lambda: not app.jobs.busy, timeout=120)
    app.pump.tick()
    members = app.store.list_runs()
    assert len(members) == 2
    grad_norms = app.plots.grad_norms
    for run in members:
        app.drawn.focus.value = run.id
        app.pump.tick()
        assert grad_norms.showing == run.id
        assert grad_norms.layers, run.name
        assert all(len(grad_norms.source(layer).data["step"]) > 0 for layer in grad_norms.layers)
