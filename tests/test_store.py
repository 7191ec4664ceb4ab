"""The run store: round trips, concurrent writers, and runs whose process was killed."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from playground.store import RunInfo, RunNotFound, RunStore

REPO = Path(__file__).resolve().parent.parent
NAN, INF = float("nan"), float("inf")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # for the subprocesses below
    return RunStore()


def nan_safe(rows: list[dict]) -> list[dict]:
    """Rows with NaN replaced by a marker, so that == compares them."""
    return [{k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in rows]


def python(code: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, **popen)


def raw_status(store: RunStore, run_id: str) -> str:
    with sqlite3.connect(store.path) as db:
        return db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


# --- runs ----------------------------------------------------------------------------------
def test_store_lives_in_home(store: RunStore, tmp_path: Path):
    assert store.path == tmp_path / "home" / "runs.sqlite"
    assert store.path.exists()
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_list_get(store: RunStore):
    first = store.create_run({"lr": 0.1, "depth": 2}, "cpu", name="baseline")
    second = store.create_run({"lr": 0.3}, "cuda:0", source="sweep:abc", parent=first)
    third = store.create_run({}, "cpu", source="cli")
    assert len({first, second, third}) == 3
    assert len(first) == len("20261123-075102-a3f9") and first[8] == "-" and first[15] == "-"

    assert [run.id for run in store.list_runs()] == [third, second, first]  # newest first
    assert [run.id for run in store.list_runs(limit=2)] == [third, second]
    assert [run.id for run in store.list_runs(source="sweep:abc")] == [second]
    assert [run.id for run in store.list_runs(source="sweep")] == [second]
    assert store.list_runs(source="race") == []

    run = store.get(second)
    assert isinstance(run, RunInfo)
    assert (run.status, run.config, run.device, run.source, run.parent) == (
        "running", {"lr": 0.3}, "cuda:0", "sweep:abc", first)
    assert (run.steps, run.seconds, run.summary, run.error) == (0, 0.0, {}, None)
    assert run.created <= run.updated <= time.time()
    assert store.get(first).name == "baseline"
    with sqlite3.connect(store.path) as db:
        pid = db.execute("SELECT pid FROM runs WHERE id = ?", (first,)).fetchone()[0]
    assert pid == os.getpid()


def test_get_by_prefix_and_not_found(store: RunStore):
    run_id = store.create_run({}, "cpu")
    assert store.get(run_id[:-1]).id == run_id
    with pytest.raises(RunNotFound) as caught:
        store.get("abc")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == (
        "run 'abc' not found; `playground runs list` shows the saved runs")
    for method in (store.points, store.events, store.layer_norms, store.delete, store.writer):
        with pytest.raises(RunNotFound):
            method("abc")


def test_ambiguous_prefix_is_a_clear_error(store: RunStore):
    ids = [store.create_run({}, "cpu") for _ in range(3)]
    prefix = os.path.commonprefix(ids)
    with pytest.raises(RunNotFound) as caught:
        store.get(prefix)
    message = str(caught.value)
    assert "ambiguous" in message and "3 runs" in message and "\n" not in message
    with pytest.raises(RunNotFound):
        store.get("")


def test_rename_and_delete(store: RunStore):
    keep, gone = store.create_run({}, "cpu"), store.create_run({}, "cpu")
    store.rename(keep, "my favourite")
    assert store.get(keep).name == "my favourite"
    writer = store.writer(gone)
    writer.add_points([{"step": 1, "split": "train", "loss": 1.0}])
    writer.add_layer_norms([{"step": 1, "layer": "0", "grad_norm": 1.0, "weight_norm": 2.0}])
    writer.add_event(1, "change", "lr 0.1 -> 0.2", field="lr", old=0.1, new=0.2)
    writer.finish("stopped", 1, 0.1, {})
    store.delete(gone)
    assert [run.id for run in store.list_runs()] == [keep]
    with sqlite3.connect(store.path) as db:
        for table in ("points", "layer_norms", "events"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


# --- writing -------------------------------------------------------------------------------
POINTS = [
    {"step": 1, "epoch": 0.5, "split": "train", "loss": 2.5, "accuracy": 0.25, "lr": 0.1,
     "seconds": 0.01},
    {"step": 1, "epoch": 0.5, "split": "val", "loss": 2.0, "accuracy": 0.5, "lr": 0.1,
     "seconds": 0.02},
    {"step": 2, "epoch": 1.0, "split": "train", "loss": NAN, "accuracy": None, "lr": 0.1,
     "seconds": 0.03},
    {"step": 3, "epoch": 1.5, "split": "train", "loss": INF, "accuracy": -INF, "lr": 1e-300,
     "seconds": 0.04},
]
NORMS = [
    {"step": 1, "layer": "0.weight", "grad_norm": 0.5, "weight_norm": 3.0},
    {"step": 1, "layer": "2.weight", "grad_norm": NAN, "weight_norm": INF},
]


def test_writer_round_trips_points_norms_events(store: RunStore):
    run_id = store.create_run({"lr": 0.1}, "cpu")
    writer = store.writer(run_id)
    writer.add_points(list(reversed(POINTS[2:])))  # out of order: read back by step
    writer.add_points(POINTS[:2])
    writer.add_layer_norms(NORMS)
    writer.add_event(2, "change", "learning rate 0.1 -> 0.3", field="lr", old=0.1, new=0.3,
                     seconds=0.5)
    writer.add_event(3, "change", "widths", field="widths", old=[8, 8], new={"a": [1, None]})
    writer.add_event(4, "pause", "paused")
    writer.flush()

    assert nan_safe(store.points(run_id)) == nan_safe(POINTS)
    assert nan_safe(store.points(run_id, split="val")) == nan_safe(POINTS[1:2])
    assert nan_safe(store.layer_norms(run_id)) == nan_safe(NORMS)
    assert store.events(run_id) == [
        {"step": 2, "seconds": 0.5, "kind": "change", "field": "lr", "old": 0.1, "new": 0.3,
         "message": "learning rate 0.1 -> 0.3"},
        {"step": 3, "seconds": 0.0, "kind": "change", "field": "widths", "old": [8, 8],
         "new": {"a": [1, None]}, "message": "widths"},
        {"step": 4, "seconds": 0.0, "kind": "pause", "field": None, "old": None, "new": None,
         "message": "paused"},
    ]


def test_missing_point_keys_are_none(store: RunStore):
    run_id = store.create_run({}, "cpu")
    writer = store.writer(run_id)
    writer.add_points([{"step": 7, "split": "train", "loss": 1}])
    writer.close()
    assert store.points(run_id) == [{"step": 7, "epoch": None, "split": "train", "loss": 1.0,
                                     "accuracy": None, "lr": None, "seconds": None}]


def test_finish_sets_status_summary_and_closes(store: RunStore):
    ok, bad = store.create_run({}, "cpu"), store.create_run({}, "cpu")
    writer = store.writer(ok)
    writer.add_points(POINTS[:1])
    writer.finish("finished", 120, 3.5, {"val_loss": 0.25, "val_accuracy": 0.9})
    run = store.get(ok)
    assert (run.status, run.steps, run.seconds, run.error) == ("finished", 120, 3.5, None)
    assert run.summary == {"val_loss": 0.25, "val_accuracy": 0.9}
    assert len(store.points(ok)) == 1
    with pytest.raises(RuntimeError, match="closed"):
        writer.add_points(POINTS[:1])
    writer.close()  # twice is fine

    writer = store.writer(bad)
    writer.finish("diverged", 7, 0.1, {"train_loss": NAN}, error="loss became nan at step 7")
    run = store.get(bad)
    assert (run.status, run.error) == ("diverged", "loss became nan at step 7")
    assert math.isnan(run.summary["train_loss"])


def test_heartbeat_updates_progress_and_commits_status_changes(store: RunStore):
    run_id = store.create_run({}, "cpu")
    writer = store.writer(run_id)
    before = store.get(run_id).updated
    writer.heartbeat(10, 1.5, status="paused")  # committed at once: the thread now waits
    run = RunStore(store.path).get(run_id)
    assert (run.status, run.steps, run.seconds) == ("paused", 10, 1.5)
    assert run.updated >= before
    writer.heartbeat(11, 1.6)  # training again
    assert store.get(run_id).status == "running"
    writer.close()


def test_readable_while_writing(store: RunStore):
    run_id = store.create_run({}, "cpu")
    writer = store.writer(run_id)
    reader = RunStore(store.path)  # as another process would open it
    writer.add_points([{"step": 1, "split": "train", "loss": 1.0}])
    writer.flush()
    assert len(reader.points(run_id)) == 1
    time.sleep(0.6)  # the next add comes >= 0.5 s after the last commit: it commits
    writer.add_points([{"step": 2, "split": "train", "loss": 0.5}])
    writer.heartbeat(2, 0.7)
    assert [p["step"] for p in reader.points(run_id)] == [1, 2]
    assert reader.get(run_id).status == "running"
    writer.finish("finished", 2, 0.7, {"train_loss": 0.5})
    assert reader.get(run_id).status == "finished"


# --- export --------------------------------------------------------------------------------
@pytest.fixture
def finished_run(store: RunStore) -> str:
    run_id = store.create_run({"lr": 0.1, "dataset": "moons"}, "cpu", name="export me")
    writer = store.writer(run_id)
    writer.add_points(POINTS)
    writer.add_layer_norms(NORMS)
    writer.add_event(2, "change", "lr", field="lr", old=0.1, new=NAN)
    writer.finish("finished", 3, 0.04, {"val_loss": 2.0, "train_loss": INF})
    return run_id


def test_export_csv(store: RunStore, finished_run: str, tmp_path: Path):
    path = store.export(finished_run, "csv")
    assert path == tmp_path / "home" / "exports" / f"{finished_run}.csv"
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    parsed = [{key: (None if value == "" else value if key == "split"
                     else int(value) if key == "step" else float(value))
               for key, value in row.items()} for row in rows]
    assert nan_safe(parsed) == nan_safe(POINTS)


def test_export_json(store: RunStore, finished_run: str, tmp_path: Path):
    path = store.export(finished_run[:10], "json", tmp_path / "out" / "run.json")
    assert path == tmp_path / "out" / "run.json"
    record = json.loads(path.read_text())  # strict JSON: no NaN or Infinity tokens
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()

    def finite(rows: list[dict]) -> list[dict]:
        return [{k: None if isinstance(v, float) and not math.isfinite(v) else v
                 for k, v in row.items()} for row in rows]

    run = dataclasses.asdict(store.get(finished_run))
    run["summary"]["train_loss"] = None
    assert record["run"] == run
    assert record["points"] == finite(POINTS)
    assert record["layer_norms"] == finite(NORMS)
    assert [(e["field"], e["old"], e["new"]) for e in record["events"]] == [("lr", 0.1, None)]


def test_export_rejects_unknown_format(store: RunStore, finished_run: str):
    with pytest.raises(ValueError) as caught:
        store.export(finished_run, "xml")
    message = str(caught.value)
    assert "format" in message and "'xml'" in message and "csv, json" in message


# --- interrupted runs ----------------------------------------------------------------------
def test_run_of_a_dead_process_is_interrupted(store: RunStore):
    run_id = store.create_run({}, "cpu")
    dead = python("pass")
    dead.wait()
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET pid = ?, status = 'paused' WHERE id = ?", (dead.pid, run_id))
    run = store.get(run_id)
    assert run.status == "interrupted" and str(dead.pid) in run.error
    assert raw_status(store, run_id) == "interrupted"  # persisted on read


def test_run_on_another_host_is_interrupted_when_stale(store: RunStore):
    fresh, stale = store.create_run({}, "cpu"), store.create_run({}, "cpu")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET host = 'elsewhere', pid = 1")
        db.execute("UPDATE runs SET updated = ? WHERE id = ?", (time.time() - 120, stale))
    statuses = {run.id: run.status for run in store.list_runs()}
    assert statuses == {fresh: "running", stale: "interrupted"}


def test_finished_runs_are_never_interrupted(store: RunStore):
    run_id = store.create_run({}, "cpu")
    store.writer(run_id).finish("finished", 1, 0.1, {})
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE runs SET host = 'elsewhere', updated = 0")
    assert store.get(run_id).status == "finished"


KILLED = """
import time
from playground.store import RunStore
store = RunStore()
run_id = store.create_run({"lr": 0.1}, "cpu", source="cli")
writer = store.writer(run_id)
print(run_id, flush=True)
step = 0
while True:
    step += 1
    writer.add_points([{"step": step, "split": "train", "loss": 1.0 / step}])
    writer.heartbeat(step, step * 0.002)
    if step % 20 == 0:
        print(step, flush=True)
    time.sleep(0.002)
"""


def test_killed_process_leaves_an_interrupted_run_with_its_points(store: RunStore):
    child = python(KILLED, stdout=subprocess.PIPE)
    try:
        run_id = child.stdout.readline().strip()
        added = 0
        while added < 100:  # let it write for a while
            line = child.stdout.readline()
            assert line, "the writing process died on its own"
            added = int(line)
        time.sleep(1.2)  # everything added before this sleep must be committed by now
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    run = RunStore().get(run_id)
    assert run.status == "interrupted"
    assert run.steps >= added
    points = store.points(run_id)
    assert len(points) >= added
    assert [p["step"] for p in points] == list(range(1, len(points) + 1))


# --- concurrent writers --------------------------------------------------------------------
def test_two_writer_threads_and_a_reader_lose_nothing(store: RunStore):
    ids = [store.create_run({}, "cpu") for _ in range(2)]
    start, errors, done = threading.Barrier(3), [], threading.Event()

    def write(run_id: str) -> None:
        try:
            writer = store.writer(run_id)
            start.wait()
            for step in range(300):
                writer.add_points([{"step": step, "split": "train", "loss": 1.0}])
                writer.add_event(step, "tick", "t")
                writer.flush()  # as many commits as possible, to collide
            writer.finish("finished", 300, 1.0, {})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def read() -> None:
        start.wait()
        try:
            while not done.is_set():
                store.list_runs()
                store.points(ids[0])
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=write, args=(run_id,)) for run_id in ids]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads[:2]:
        thread.join(60)
    done.set()
    threads[2].join(60)
    assert errors == []
    for run_id in ids:
        assert len(store.points(run_id)) == 300 and len(store.events(run_id)) == 300
        assert store.get(run_id).status == "finished"


WRITER = """
import sys, time
from playground.store import RunStore
store = RunStore()
run_id = store.create_run({}, "cpu")
writer = store.writer(run_id)
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # start together
for step in range(300):
    writer.add_points([{"step": step, "split": "train", "loss": 1.0}])
    writer.flush()
    if step % 50 == 0:
        store.list_runs()
writer.finish("finished", 300, 1.0, {})
print(run_id)
"""


def test_two_writer_processes_lose_nothing(store: RunStore):
    start = str(time.time() + 1.0)
    children = [python(WRITER, start, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
        assert "locked" not in err
        run_id = out.strip()
        assert len(store.points(run_id)) == 300
        assert store.get(run_id).status == "finished"


def test_imports_stdlib_only():
    code = ("import sys, playground.store; "
            "print([m for m in ('torch', 'ipywidgets', 'traitlets', 'bokeh') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True).stdout
    assert out.strip() == "[]"
