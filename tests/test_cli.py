import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from playground.cli import main
from playground.store import RunStore


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def test_train_json_summary_and_runs_commands(capsys, tmp_path):
    result = run_cli("train", "--dataset", "moons", "--epochs", "20", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= {"run_id", "config", "status", "steps", "seconds", "device",
                            "train_loss", "train_accuracy", "val_loss", "val_accuracy"}
    assert summary["status"] == "finished" and summary["device"] == "cpu"
    assert summary["config"]["epochs"] == 20 and summary["steps"] == 20 * (800 // 32)
    assert summary["val_accuracy"] >= 0.95
    run_id = summary["run_id"]

    assert main(["runs", "list"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["runs", "show", run_id[:12]]) == 0
    shown = capsys.readouterr().out
    assert "finished" in shown and "val_accuracy" in shown

    out = str(tmp_path / "a.csv")
    assert main(["runs", "export", run_id, "--format", "csv", "--out", out]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "a.csv")
    rows = list(csv.DictReader(open(tmp_path / "a.csv")))
    assert len([r for r in rows if r["split"] == "train"]) == summary["steps"]
    assert main(["runs", "export", run_id, "--format", "json"]) == 0
    exported = json.loads(open(capsys.readouterr().out.strip()).read())
    assert exported["run"]["id"] == run_id


def test_every_hparam_is_a_flag():
    result = run_cli("train", "--help")
    from playground.config import HParams
    for name in HParams.specs():
        assert "--" + name.replace("_", "-") in result.stdout


@pytest.mark.parametrize("args, words", [
    (["train", "--lr", "50"], "lr: 50.0 is not allowed; allowed: 1e-05 to 10"),
    (["train", "--depth", "two"], "depth: 'two' is not allowed; allowed: a whole number 0 to 10"),
    (["train", "--optimizer", "adagrad"], "optimizer: 'adagrad' is not allowed"),
    (["train", "--dataset", "moons", "--loss", "l1"], "loss: 'l1'"),
    (["train", "--colour", "red"], "unrecognized arguments: --colour red"),
    (["train", "--device", "tpu"], "device: 'tpu'"),
    (["train", "--config", "/nonexistent.json"], "config: cannot read"),
    (["runs", "show", "nope"], "run 'nope' not found"),
    (["runs", "export", "nope", "--format", "xml"], "format: 'xml' is not allowed"),
    (["data", "download", "moons"], "moons"),
])
def test_bad_input_exits_2_with_one_line(args, words):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0] and "Traceback" not in result.stderr


def test_config_file_is_validated(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lr": -1}))
    result = run_cli("train", "--config", str(bad))
    assert result.returncode == 2 and "lr: -1" in result.stderr


def test_killed_run_is_interrupted_and_keeps_its_points(playground_home):
    process = subprocess.Popen(
        [sys.executable, "-m", "playground.cli", "train", "--epochs", "1000", "--json"],
        env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = store.list_runs()
        if runs and len(store.points(runs[0].id)) > 200:
            break
        time.sleep(0.2)
    seen = len(store.points(runs[0].id))
    time.sleep(1.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = RunStore().get(runs[0].id)
    assert run.status == "interrupted"
    assert len(store.points(run.id)) >= seen > 200


def test_train_refuses_a_run_with_no_end_naming_epochs(tmp_path, capsys):
    from playground.config import HParams

    assert main(["train", "--epochs", "0", "--json"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("playground: error: epochs: 0 is not")
    assert "1 to 1000 for a headless run" in lines[0]
    saved = tmp_path / "free.json"  # a config saved from the app's free play
    saved.write_text(HParams.free_play().to_json())
    assert main(["train", "--config", str(saved)]) == 2
    assert "epochs: 0" in capsys.readouterr().err
    assert RunStore().list_runs() == []  # nothing started
    assert main(["sweep", "--epochs", "0", "--trials", "1"]) == 2  # every headless command
    assert "epochs: 0" in capsys.readouterr().err


def test_train_help_does_not_offer_until_stopped():
    result = run_cli("train", "--help")
    assert "1 to 1000 for a headless run" in " ".join(result.stdout.split())
