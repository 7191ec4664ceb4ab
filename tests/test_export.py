"""Exports that leave the playground: a standalone script that trains the run again, its
weights, its config; and where `runs export --out` may write. The oracle of the script is the
saved run itself: run in a fresh Python, the script must reach its validation accuracy."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data import write_mnist

from playground import data, exports, points
from playground.cli import main
from playground.config import HParams
from playground.engine.events import Callback
from playground.engine.runner import Runner
from playground.models import build_model
from playground.store import RunStore

TOLERANCE = 0.02  # of validation accuracy, between the saved run and its script


class ChangeAt(Callback):
    """Moves settings at given steps as a person moving sliders does (Runner.update); the
    trainer applies them at the next step."""

    def __init__(self, changes: dict[int, dict]):
        self.changes, self.runner = changes, None

    def before_step(self, trainer):
        if trainer.step in self.changes:
            self.runner.update(**self.changes[trainer.step])


def train(hp: HParams, changes: dict[int, dict] | None = None) -> tuple[RunStore, str]:
    slider = ChangeAt(changes or {})
    runner = slider.runner = Runner(hp, device="cpu", callbacks=[slider])
    run_id = runner.start()
    runner.wait(120)
    assert runner.store.get(run_id).status in ("finished", "stopped")
    return runner.store, run_id


def run_script(path: Path) -> dict:
    """The script's JSON line, from a fresh Python that cannot import the playground."""
    result = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True,
                            timeout=120, cwd=path.parent)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the script ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n, i in data.DATASETS.items() if i.kind == "points"])
@pytest.mark.parametrize("n, noise, seed", [(1000, 0.1, 0), (51, 0.3, 7)])
def test_the_points_are_scikit_learns_where_they_were_its(name, n, noise, seed):
    """data.py and the script both build the 2-D sets with points.py; circle, moons and
    gaussian were scikit-learn's generators, written out: the same numbers still."""
    from sklearn.datasets import make_blobs, make_circles, make_moons

    x, y = points.make_points(name, n, noise, seed)
    if name == "circle":
        expected = make_circles(n, noise=noise, factor=0.5, random_state=seed)
    elif name == "moons":
        x_sk, y_sk = make_moons(n, noise=noise, random_state=seed)
        expected = (x_sk - (0.5, 0.25), y_sk)
    elif name == "gaussian":
        expected = make_blobs(n, centers=[(-0.6, -0.6), (0.6, 0.6)], cluster_std=0.2 + noise,
                              random_state=seed)
    else:
        expected = (x, y)  # our own generators: points.py is their only source
    assert np.allclose(x, expected[0], atol=1e-12) and np.array_equal(y, expected[1])
    x_data, _, _ = data._points(HParams(dataset=name, samples=n, noise=noise, seed=seed))
    assert torch.equal(x_data, torch.tensor(x, dtype=torch.float32))


CASES = {
    "default MLP on moons": (HParams(samples=400, epochs=6), None),
    "lr changed mid-run, step schedule": (
        HParams(dataset="circle", samples=400, epochs=6, optimizer="sgd", lr=0.05,
                schedule="step", step_every=2),
        {25: {"lr": 0.5}}),
    "batch size, dropout and momentum changed": (
        HParams(dataset="spiral", samples=400, epochs=5, optimizer="momentum", lr=0.05,
                width=16, l1=1e-4, grad_clip=1.0),
        {10: {"batch_size": 16, "dropout": 0.2}, 30: {"momentum": 0.5, "lr": 0.02}}),
    "regression": (HParams(dataset="regression", samples=300, epochs=4, loss="huber"), None),
    "digits": (HParams(dataset="digits", epochs=2, batch_size=64), None),
}


@pytest.mark.parametrize("case", CASES)
def test_the_script_trains_the_run_again(case, tmp_path):
    hp, changes = CASES[case]
    store, run_id = train(hp, changes)
    out = tmp_path / "run.py"
    assert main(["runs", "export", run_id, "--format", "script", "--out", str(out)]) == 0
    text = out.read_text()
    assert "import playground" not in text and "sklearn" not in text.replace(
        "sklearn/datasets", "")  # the digits' file lives in scikit-learn's folder
    if changes:
        replayed = {step + 1: {name: values[name] for name in HParams.specs() if name in values}
                    for step, values in changes.items()}  # applied at the next step, in order
        assert "CHANGES = {  # before step: the settings changed" in text
        for step, values in replayed.items():
            assert f"    {step}: {values!r}," in text
    saved = store.get(run_id).summary
    result = run_script(out)
    assert abs(result["val_loss"] - saved["val_loss"]) <= 0.05 * saved["val_loss"] + 1e-6
    assert saved["val_accuracy"] is not None  # accuracy; R² for regression
    assert abs(result["val_accuracy"] - saved["val_accuracy"]) <= TOLERANCE


def test_the_script_trains_a_cnn_on_images_read_from_disk(playground_home, tmp_path):
    write_mnist(playground_home / "datasets", "MNIST", gz=True)
    store, run_id = train(HParams(dataset="mnist", epochs=3, batch_size=8, width=8))
    out = tmp_path / "cnn.py"
    assert main(["runs", "export", run_id, "--format", "script", "--out", str(out)]) == 0
    assert str(playground_home / "datasets" / "MNIST") in out.read_text()  # where the files are
    result = run_script(out)
    saved = store.get(run_id).summary
    assert abs(result["val_accuracy"] - saved["val_accuracy"]) <= TOLERANCE
    assert abs(result["val_loss"] - saved["val_loss"]) <= 0.05 * saved["val_loss"]


def test_the_script_is_plain_python_with_no_unknown_names(tmp_path):
    store, run_id = train(HParams(samples=100, epochs=1))
    store.rename(run_id, 'evil """; import os; os.system("x") #\\')
    out = exports.write(store, run_id, "script", str(tmp_path / "run.py"))
    text = out.read_text()
    compile(text, str(out), "exec")
    assert 'os.system("x")' not in text  # a name is text in the docstring, never code
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():  # F821: a name the copied code uses that the script does not define
        result = subprocess.run([str(ruff), "check", "--isolated", "--select", "F", str(out)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("config, event", [({"model": "user"}, None),
                                           ({}, ("model", "MyNet: 2 layers")),
                                           ({"dataset": "custom"}, None)])
def test_a_script_of_your_own_model_or_data_is_refused_naming_what_works(config, event, capsys):
    store = RunStore()
    run_id = store.create_run({**HParams().to_dict(), **config}, "cpu")
    writer = store.writer(run_id)
    if event:
        writer.add_event(0, *event)
    writer.finish("finished", 1, 0.1, {"val_loss": 0.5})
    assert main(["runs", "export", run_id, "--format", "script"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "your own" in error and "weights, config, csv, json" in error
    assert main(["runs", "export", run_id, "--format", "config"]) == 0  # the others work


# --- weights and config ------------------------------------------------------------------------
def test_weights_are_saved_as_a_run_ends_and_rebuild_its_model(tmp_path):
    store, run_id = train(HParams(samples=200, epochs=3), {10: {"lr": 0.02}})
    path = store.weights_path(run_id)
    assert path.is_file() and path.parent == store.path.parent / "weights"
    out = tmp_path / "w.pt"
    assert main(["runs", "export", run_id, "--format", "weights", "--out", str(out)]) == 0
    saved = torch.load(out, weights_only=True)
    hp = HParams.from_dict(saved["config"])
    assert hp.lr == 0.02  # the settings at the end, live changes included
    model = build_model(hp, tuple(saved["input_shape"]), saved["n_out"])
    model.load_state_dict(saved["state_dict"])
    ds = data.load_dataset(hp)
    with torch.no_grad():
        accuracy = (model(ds.x_val).argmax(1) == ds.y_val).float().mean().item()
    assert accuracy == pytest.approx(store.get(run_id).summary["val_accuracy"], abs=1e-6)

    store.delete(run_id)
    assert not path.exists()


def test_stop_saves_the_weights_too():
    runner = Runner(HParams.free_play(samples=200), device="cpu")
    run_id = runner.start()
    while runner.trainer is None or runner.trainer.step < 30:
        runner.wait(0.02)
    assert runner.stop() == "stopped"
    saved = torch.load(runner.store.weights_path(run_id), weights_only=True)
    assert saved["step"] == runner.store.get(run_id).steps


def test_a_run_without_weights_says_so(capsys):
    store = RunStore()
    run_id = store.create_run(HParams().to_dict(), "cpu")
    assert main(["runs", "export", run_id, "--format", "weights"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no saved weights" in error and "running" in error


def test_the_config_export_is_what_train_config_reads(tmp_path):
    store, run_id = train(HParams(dataset="xor", samples=100, epochs=1, depth=3, lr=0.03))
    out = tmp_path / "c.json"
    assert main(["runs", "export", run_id, "--format", "config", "--out", str(out)]) == 0
    assert HParams.from_json(out.read_text()) == HParams.from_dict(store.get(run_id).config)
    from playground.arguments import hparams_from_args
    from playground.cli import build_parser
    args = build_parser().parse_args(["train", "--config", str(out)])
    assert hparams_from_args(args).depth == 3


# --- where --out writes ------------------------------------------------------------------------
def test_out_refuses_to_overwrite_without_force_and_names_bad_paths(tmp_path, capsys):
    store = RunStore()
    run_id = store.create_run(HParams().to_dict(), "cpu")
    store.writer(run_id).finish("finished", 1, 0.1, {})
    taken = tmp_path / "taken.csv"
    taken.write_text("keep me")
    (tmp_path / "file").write_text("")
    for out, words in [(str(taken), "exists; add --force"), (str(tmp_path), "is a folder"),
                       ("", "'' is not allowed"),
                       (str(tmp_path / "file" / "x.csv"), "cannot write")]:
        assert main(["runs", "export", run_id, "--out", out]) == 2, out
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and words in error, error
    assert taken.read_text() == "keep me"
    assert main(["runs", "export", run_id, "--out", str(taken), "--force"]) == 0
    assert taken.read_text().startswith("step,epoch")


def test_out_is_cut_in_errors_and_never_writes_through_a_link(tmp_path, capsys):
    store = RunStore()
    run_id = store.create_run(HParams().to_dict(), "cpu")
    store.writer(run_id).finish("finished", 1, 0.1, {})
    for out, words in [("a" * 5000, "cannot be used (File name too long)"),
                       ("/dev/full", "No space left on device"),
                       ("/proc/self/x", "cannot write")]:
        assert main(["runs", "export", run_id, "--out", out, "--force"]) == 2, out[:20]
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and words in error and len(error) < 220, error
    target, link = tmp_path / "precious.txt", tmp_path / "run.csv"
    target.write_text("keep me")
    link.symlink_to(target)
    assert main(["runs", "export", run_id, "--out", str(link)]) == 2  # it exists
    assert main(["runs", "export", run_id, "--out", str(link), "--force"]) == 0
    assert target.read_text() == "keep me" and not link.is_symlink()
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere" / "x")
    assert main(["runs", "export", run_id, "--out", str(dangling)]) == 2
    assert "exists; add --force" in capsys.readouterr().err


# --- in the app: the same exports as downloads ---------------------------------------------------
def test_the_runs_table_downloads_every_format_as_base64_of_its_bytes():
    import base64
    import io
    import re

    from playground.app import Playground

    store, run_id = train(HParams(samples=200, epochs=2))
    app = Playground(device="cpu", store=store)
    try:
        app.pump.stop()
        table = app.runs_table
        assert table.format.options == exports.FORMATS  # the same list in the app and the CLI
        for fmt in exports.FORMATS:
            table.format.value = fmt
            table.rows[run_id].export.click()
            assert table.message.value == "", table.message.value
            link = table.rows[run_id].file.value
            (name,) = re.findall(r'download="([^"]+)"', link)
            assert name == run_id + exports.SUFFIX[fmt]
            (encoded,) = re.findall(r'href="data:[^;]+;base64,([^"]+)"', link)
            content = base64.b64decode(encoded)
            assert content == exports.export_bytes(store, run_id, fmt)
        weights = torch.load(io.BytesIO(exports.export_bytes(store, run_id, "weights")),
                             weights_only=True)
        assert set(weights) >= {"state_dict", "config"}

        store.weights_path(run_id).unlink()  # a run whose weights are gone says so
        table.format.value = "weights"
        table.rows[run_id].export.click()
        assert "no saved weights" in table.message.value
    finally:
        app.close()
