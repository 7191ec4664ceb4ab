"""The store and the runs commands under a broken or hostile file system (issue 16): every case
is one line naming what is wrong and where, exit 2, never a traceback; nothing saved is lost."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playground.cli import main
from playground.config import HParams
from playground.engine.runner import Runner
from playground.store import RunIsLive, RunStore, StoreError


def cli(*argv: str, home: Path) -> subprocess.CompletedProcess:
    """`playground ARGV` in a fresh process with PLAYGROUND_HOME=home."""
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "playground.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("playground: error: "), lines
    for word in words:
        assert word in lines[0], lines[0]


def test_a_home_that_is_a_file_is_named(tmp_path):
    home = tmp_path / "a-file"
    home.write_text("not a folder")
    one_line_error(cli("runs", "list", home=home), f"PLAYGROUND_HOME: {home} is a file")


def test_a_store_that_is_a_folder_is_named(tmp_path):
    (tmp_path / "runs.sqlite").mkdir()
    one_line_error(cli("runs", "list", home=tmp_path), "runs.sqlite is a folder")


@pytest.mark.parametrize("content", [b"garbage" * 100, b"SQLite format 3\x00" + b"\x00" * 50])
def test_a_store_that_is_not_a_database_is_named_and_left_alone(tmp_path, content):
    store = tmp_path / "runs.sqlite"
    store.write_bytes(content)
    one_line_error(cli("runs", "list", home=tmp_path), "runs.sqlite is not a store of runs",
                   "move this one away")
    assert store.read_bytes() == content  # nothing overwritten


def test_a_read_only_store_lists_and_shows_but_refuses_to_write(tmp_path, monkeypatch, capsys):
    """A folder this user cannot write (root ignores permissions, and the test's python is
    not runnable as another user here: `os.access` answers as for a read-only folder). The
    store is then opened in SQLite's immutable mode, so nothing at all is written."""
    import playground.store as store_module

    home = tmp_path / "ro"
    store = RunStore(home / "runs.sqlite")
    run_id = store.create_run(HParams().to_dict(), "cpu", name="kept")
    store.writer(run_id).finish("finished", 10, 1.0, {"val_loss": 0.5})
    del store
    gc.collect()  # the last connection closes: SQLite folds the journal into the file
    before = {path.name: path.read_bytes() for path in home.iterdir()}
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    monkeypatch.setattr(store_module.os, "access", lambda path, mode: mode != os.W_OK)
    assert main(["runs", "list"]) == 0
    listed = capsys.readouterr().out
    assert run_id in listed and "kept" in listed
    assert main(["runs", "show", run_id]) == 0 and "status   finished" in capsys.readouterr().out
    for argv in (["runs", "delete", run_id], ["train", "--epochs", "1", "--samples", "100"]):
        assert main(argv) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("playground: error: store: ") and "read-only" in error, error
    assert {path.name: path.read_bytes() for path in home.iterdir()} == before


@pytest.mark.parametrize("value", ["99999999999999999999", "0", "-3", "ten"])
def test_runs_list_limit_outside_its_range_is_refused(value, capsys):
    assert main(["runs", "list", "--limit", value]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("playground: error: limit: ") and "1 to 1,000,000" in error
    assert len(error) < 160


def test_a_run_that_a_live_process_trains_cannot_be_deleted_and_leaves_no_orphans():
    runner = Runner(HParams(samples=200, epochs=0), device="cpu")
    run_id = runner.start()
    deadline = time.monotonic() + 60
    while not RunStore().points(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(RunIsLive, match=f"run {run_id} is still running: a process trains it"):
        RunStore().delete(run_id)
    assert main(["runs", "delete", run_id]) == 2
    runner.stop()
    RunStore().delete(run_id)  # ended: it goes, with all its rows
    store = RunStore()
    for table in ("points", "layer_norms", "events"):
        left = store._db().execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?",
                                   (run_id,)).fetchone()[0]
        assert left == 0, table


def test_a_training_run_saves_its_seconds_as_it_goes():
    """So a run whose process is killed says how long it trained, not "615 steps in 0.0 s"."""
    runner = Runner(HParams(samples=200, epochs=0), device="cpu")
    run_id = runner.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        saved = RunStore().get(run_id)
        if saved.steps > 100 and saved.seconds > 0:
            break
        time.sleep(0.1)
    runner.stop()
    assert saved.steps > 100 and saved.seconds > 0


def test_control_characters_in_names_reach_the_terminal_escaped(capsys):
    store = RunStore()
    run_id = store.create_run(HParams().to_dict(), "cpu", name="\x1b[2J\x1b[31mred\x07")
    store.writer(run_id).finish("stopped", 1, 0.1, {})
    assert main(["runs", "list"]) == 0
    listed = capsys.readouterr().out
    assert "\x1b" not in listed and "\x07" not in listed
    assert "\\x1b[2J\\x1b[31mred\\x07" in listed
    assert main(["runs", "show", run_id]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_store_errors_are_store_errors_in_python_too(tmp_path):
    (tmp_path / "runs.sqlite").mkdir()
    with pytest.raises(StoreError, match="is a folder"):
        RunStore(tmp_path / "runs.sqlite")
