"""The run store: runs, their configs, events and metric curves in SQLite under home().

Written as training goes (a writer commits at least every half second), readable while a
run writes (WAL mode), safe for several writers at once (busy timeout, BEGIN IMMEDIATE).
A run whose process died shows as `interrupted`, never as finished. Standard library only.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground import paths
from playground.paths import HomeError
from playground.status import LIVE, SAVED, Status

STATUSES = tuple(status for status in Status if status in SAVED)  # what a saved run can be
COMMIT_EVERY = 0.5  # seconds between a writer's commits: a killed process loses less than 1 s
STALE_AFTER = 60.0  # seconds without a heartbeat before a run on another host is interrupted
BUSY_TIMEOUT = 30.0  # seconds a connection waits for another writer's lock
EXPORT_FORMATS = ("csv", "json")
WEIGHTS_FOLDER = "weights"  # beside the store: <run id>.pt, written as a run ends (engine/sinks.py)

POINT_COLUMNS = ("step", "epoch", "split", "loss", "accuracy", "lr", "seconds")
NORM_COLUMNS = ("step", "layer", "grad_norm", "weight_norm")
EVENT_COLUMNS = ("step", "seconds", "kind", "field", "old", "new", "message")
REAL_COLUMNS = ("epoch", "loss", "accuracy", "lr", "seconds", "grad_norm", "weight_norm")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL,
    config TEXT NOT NULL, device TEXT NOT NULL,
    steps INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '{}', error TEXT,
    source TEXT NOT NULL, parent TEXT, pid INTEGER, host TEXT);
CREATE TABLE IF NOT EXISTS points (
    run_id TEXT NOT NULL, step INTEGER, epoch REAL, split TEXT,
    loss REAL, accuracy REAL, lr REAL, seconds REAL);
CREATE TABLE IF NOT EXISTS layer_norms (
    run_id TEXT NOT NULL, step INTEGER, layer TEXT, grad_norm REAL, weight_norm REAL);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, step INTEGER, seconds REAL, kind TEXT, field TEXT,
    old TEXT, new TEXT, message TEXT);
CREATE INDEX IF NOT EXISTS points_run_step ON points (run_id, step);
CREATE INDEX IF NOT EXISTS layer_norms_run_step ON layer_norms (run_id, step);
CREATE INDEX IF NOT EXISTS events_run_step ON events (run_id, step);
"""


class StoreError(HomeError):
    """The store cannot be opened or written; the message says what is wrong and where."""


class RunIsLive(StoreError):
    """A run some process still trains cannot be deleted."""


def _cut(path: Path, limit: int = 80) -> str:
    text = str(path)
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


class RunNotFound(KeyError):
    """No saved run has this id (or prefix), or the prefix fits several runs."""

    def __init__(self, run_id: str, matches: list[str] | None = None):
        self.run_id, self.matches = run_id, matches or []
        super().__init__(run_id)

    def __str__(self) -> str:  # KeyError would show the repr of its argument
        asked = repr(self.run_id) if len(self.run_id) <= 40 else repr(self.run_id[:37] + "...")
        if self.matches:
            shown = ", ".join(self.matches[:5]) + (", ..." if len(self.matches) > 5 else "")
            return (f"run {asked} is ambiguous: {len(self.matches)} runs start with it"
                    f" ({shown}); give more of the id")
        return f"run {asked} not found; `playground runs list` shows the saved runs"


@dataclass
class RunInfo:
    """One saved run as the store reports it."""

    id: str
    name: str
    status: str  # one of STATUSES
    created: float  # unix seconds
    updated: float  # unix seconds of the last heartbeat or commit
    config: dict
    device: str
    steps: int
    seconds: float  # training time
    summary: dict  # final metrics etc., {} until finished
    error: str | None  # divergence/failure message
    source: str  # "manual", "cli", "sweep:<id>", "race:<id>", "lesson:<name>"
    parent: str | None  # run this one was derived from


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode; write transactions are opened explicitly. Read-only:
    a store in a folder this user cannot write (SQLite's immutable mode: no -shm to create)."""
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True,
                               isolation_level=None, check_same_thread=False)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                         check_same_thread=False)
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable against a killed process
    return db


def _writable(path: Path) -> bool:
    """Whether this user can write the store file and the folder its journal goes in."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # IMMEDIATE takes the write lock up front, so a busy database waits (busy timeout)
    # instead of failing when a read transaction tries to upgrade to a write.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _real(value: Any) -> float | str | None:
    """A float for a REAL column; NaN as text because SQLite would store NaN as NULL."""
    if value is None:
        return None
    value = float(value)
    return "NaN" if math.isnan(value) else value


def _unreal(row: dict, columns: tuple[str, ...]) -> dict:
    """The row's columns, with the NaN that _real stored as text back as a float."""
    return {key: float(row[key]) if key in REAL_COLUMNS and isinstance(row[key], str)
            else row[key] for key in columns}


def _finite(obj: Any) -> Any:
    """A copy of obj with non-finite floats as None, for strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


class RunStore:
    """Saved runs in one SQLite file; each thread talks to it through its own connection."""

    def __init__(self, path: str | Path | None = None):
        """StoreError (or HomeError for its folder), naming the path, when the store cannot
        be opened: a folder that is a file, a file that is not a store. A store this user
        cannot write opens read-only: listing and showing runs work, anything that writes
        raises StoreError."""
        self.path = Path(path) if path is not None else paths.home() / "runs.sqlite"
        folder = paths.make_folder(self.path.parent, "store")
        if self.path.is_dir():
            raise StoreError(f"store: {_cut(self.path)} is a folder; allowed: the runs' SQLite "
                             "file (move the folder away)")
        self.read_only = not _writable(self.path)
        if self.read_only and not self.path.exists():
            raise StoreError(f"store: {_cut(folder)} is read-only and holds no runs; allowed: "
                             "a folder you can write (set PLAYGROUND_HOME)")
        self._local = threading.local()
        try:
            db = self._db()
            if self.read_only:
                db.execute("SELECT COUNT(*) FROM runs").fetchone()
                return
            db.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
            with _transaction(db):
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"store: {_cut(self.path)} is not a store of runs ({error}); "
                             "allowed: the SQLite file the playground made (move this one "
                             "away to start a new store)") from None

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store: {_cut(self.path.parent)} is read-only; allowed: a folder "
                             "you can write, to save or change runs (reading works here)")

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a new one after a fork, too)."""
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.db = _connect(self.path, self.read_only)
            self._local.pid = os.getpid()
        return self._local.db

    def create_run(self, config: dict, device: str, *, name: str | None = None,
                   source: str = "manual", parent: str | None = None) -> str:
        """Record a new run with status running; returns its sortable id (UTC time + random)."""
        self._check_writable()
        while True:
            now = time.time()
            run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + "-" + secrets.token_hex(2)
            try:
                with _transaction(self._db()) as db:
                    db.execute(
                        "INSERT INTO runs (id, name, status, created, updated, config, device,"
                        " source, parent, pid, host)"
                        " VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, name or run_id, now, now, json.dumps(config, default=str),
                         device, source, parent, os.getpid(), socket.gethostname()))
                return run_id
            except sqlite3.IntegrityError:  # same second, same random suffix: draw again
                continue

    def writer(self, run_id: str) -> RunWriter:
        """A buffered writer for the training thread, with its own connection."""
        self._check_writable()
        return RunWriter(self.path, self.resolve(run_id))

    def resolve(self, run_id: str) -> str:
        """The full id of the run that run_id names exactly or as a unique prefix."""
        if run_id:
            rows = self._db().execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id",
                (len(run_id), run_id)).fetchall()
            ids = [row[0] for row in rows]
            if run_id in ids or len(ids) == 1:
                return run_id if run_id in ids else ids[0]
            if ids:
                raise RunNotFound(run_id, ids)
        raise RunNotFound(run_id)

    def list_runs(self, *, limit: int | None = None, source: str | None = None) -> list[RunInfo]:
        """Saved runs, newest first. source "sweep" also matches every "sweep:<id>"."""
        sql, args = "SELECT * FROM runs", []
        if source is not None:
            sql += " WHERE source = ? OR substr(source, 1, ?) = ?"
            args += [source, len(source) + 1, source + ":"]
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._info(row) for row in self._select(sql, args)]

    def count(self, source: str | None = None) -> int:
        """How many runs are saved (of one source, e.g. "manual")."""
        sql, args = "SELECT COUNT(*) AS n FROM runs", []
        if source is not None:
            sql += " WHERE source = ?"
            args.append(source)
        return int(self._select(sql, args)[0]["n"])

    def get(self, run_id: str) -> RunInfo:
        """One run by id or unique id prefix; RunNotFound otherwise."""
        rows = self._select("SELECT * FROM runs WHERE id = ?", [self.resolve(run_id)])
        if not rows:  # deleted meanwhile
            raise RunNotFound(run_id)
        return self._info(rows[0])

    def points(self, run_id: str, split: str | None = None) -> list[dict]:
        """Metric rows (step, epoch, split, loss, accuracy, lr, seconds) ordered by step."""
        sql, args = "SELECT * FROM points WHERE run_id = ?", [self.resolve(run_id)]
        if split is not None:
            sql += " AND split = ?"
            args.append(split)
        rows = self._select(sql + " ORDER BY step, rowid", args)
        return [_unreal(row, POINT_COLUMNS) for row in rows]

    def layer_norms(self, run_id: str) -> list[dict]:
        """Per-layer rows (step, layer, grad_norm, weight_norm) ordered by step; a frozen
        layer's grad_norm is None."""
        rows = self._select("SELECT * FROM layer_norms WHERE run_id = ? ORDER BY step, rowid",
                            [self.resolve(run_id)])
        return [_unreal(row, NORM_COLUMNS) for row in rows]

    def events(self, run_id: str) -> list[dict]:
        """What happened during the run (live changes, pauses...), old/new decoded."""
        rows = self._select("SELECT * FROM events WHERE run_id = ? ORDER BY step, rowid",
                            [self.resolve(run_id)])
        return [{**_unreal(row, EVENT_COLUMNS), "old": json.loads(row["old"]),
                 "new": json.loads(row["new"])} for row in rows]

    def rename(self, run_id: str, name: str) -> None:
        self._check_writable()
        with _transaction(self._db()) as db:
            db.execute("UPDATE runs SET name = ? WHERE id = ?", (name, self.resolve(run_id)))

    def delete(self, run_id: str) -> None:
        """Remove the run and everything recorded for it, its weights file too. A run that
        a live process still trains is refused (RunIsLive): its writer would go on adding
        rows to a run that is gone; stop it first."""
        self._check_writable()
        run = self.get(run_id)
        if run.status in LIVE:
            raise RunIsLive(f"run {run.id} is still {run.status}: a process trains it; "
                            "allowed: a run that has ended (stop it first)")
        run_id = run.id
        with _transaction(self._db()) as db:
            for table in ("points", "layer_norms", "events"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        _weights_path(self.path, run_id).unlink(missing_ok=True)

    def weights_path(self, run_id: str) -> Path:
        """Where the run's trained weights are (or would be) saved: a file per run, beside the
        store, written when the run ends (finished, stopped or diverged)."""
        return _weights_path(self.path, self.resolve(run_id))

    def export(self, run_id: str, fmt: str, path: str | Path | None = None) -> Path:
        """Write the run's points as CSV, or the whole run as JSON; returns the file's path."""
        text = self.export_text(run_id, fmt)
        exports = self.path.parent / "exports"  # beside the store it reads, never elsewhere
        path = Path(path) if path is not None else exports / f"{self.resolve(run_id)}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, newline="" if fmt == "csv" else None)
        return path

    def export_text(self, run_id: str, fmt: str) -> str:
        """The run's points as CSV, or the whole run as JSON (what the app downloads)."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"format: {fmt!r} is not allowed; allowed: one of csv, json")
        info = self.get(run_id)
        if fmt == "csv":
            out = io.StringIO(newline="")
            writer = csv.DictWriter(out, fieldnames=POINT_COLUMNS)
            writer.writeheader()
            writer.writerows(self.points(info.id))
            return out.getvalue()
        record = {"run": dataclasses.asdict(info), "points": self.points(info.id),
                  "events": self.events(info.id), "layer_norms": self.layer_norms(info.id)}
        return json.dumps(_finite(record), indent=1, allow_nan=False, default=str)

    def _select(self, sql: str, args: list) -> list[dict]:
        cursor = self._db().execute(sql, args)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _info(self, row: dict) -> RunInfo:
        """A RunInfo from a runs row, marking (and saving) a run whose process is gone."""
        if row["status"] in LIVE and self._dead(row):
            row["status"] = Status.INTERRUPTED
            row["error"] = row["error"] or (f"its process (pid {row['pid']} on {row['host']})"
                                            " stopped before the run finished")
            if not self.read_only:  # read-only: said, not saved
                with _transaction(self._db()) as db:
                    db.execute("UPDATE runs SET status = 'interrupted', error = ? WHERE id = ?"
                               " AND status IN ('running', 'paused')", (row["error"], row["id"]))
        fields = {f.name for f in dataclasses.fields(RunInfo)}
        info = RunInfo(**{key: value for key, value in row.items() if key in fields})
        info.config, info.summary = json.loads(info.config), json.loads(info.summary)
        return info

    @staticmethod
    def _dead(row: dict) -> bool:
        if row["host"] == socket.gethostname():
            return row["pid"] is not None and not _alive(row["pid"])
        return time.time() - row["updated"] > STALE_AFTER


class RunWriter:
    """Appends one run's rows from one thread; buffers and commits every COMMIT_EVERY s."""

    def __init__(self, path: Path, run_id: str):
        self.run_id = run_id
        self.weights_path = _weights_path(path, run_id)  # the run's weights, saved as it ends
        self._db: sqlite3.Connection | None = _connect(path)
        self._lock = threading.Lock()  # one thread writes; this guards a stray close()
        self._points: list[tuple] = []
        self._norms: list[tuple] = []
        self._events: list[tuple] = []
        self._steps, self._seconds, self._status = 0, 0.0, Status.RUNNING
        self._summary: str | None = None  # set by finish, with the final status
        self._error: str | None = None
        self._last_commit = time.monotonic()

    def add_points(self, rows: list[dict]) -> None:
        """Buffer metric rows (keys from POINT_COLUMNS; missing ones stored as NULL)."""
        self._points += [(self.run_id, _int(r.get("step")), _real(r.get("epoch")), r.get("split"),
                          _real(r.get("loss")), _real(r.get("accuracy")), _real(r.get("lr")),
                          _real(r.get("seconds"))) for r in rows]
        self._tick()

    def add_layer_norms(self, rows: list[dict]) -> None:
        """Buffer layer rows; a frozen layer's (no gradient) is stored with grad_norm NULL."""
        self._norms += [(self.run_id, _int(r.get("step")), r.get("layer"),
                         None if r.get("frozen") else _real(r.get("grad_norm")),
                         _real(r.get("weight_norm"))) for r in rows]
        self._tick()

    def add_event(self, step: int, kind: str, message: str, *, field: str | None = None,
                  old: Any = None, new: Any = None, seconds: float = 0.0) -> None:
        """Buffer an event; old and new are stored as JSON and come back decoded."""
        self._events.append((self.run_id, _int(step), _real(seconds), kind, field,
                             json.dumps(old, default=str), json.dumps(new, default=str), message))
        self._tick()

    def heartbeat(self, steps: int, seconds: float, status: str | None = None) -> None:
        """Progress of the run; no status means it is training ("running").

        A change of status (pause, resume) is committed at once: a paused thread adds nothing
        that would trigger the next commit.
        """
        status = status or Status.RUNNING
        changed = status != self._status
        self._steps, self._seconds, self._status = int(steps), float(seconds), status
        if changed:
            self.flush()
        else:
            self._tick()

    def flush(self) -> None:
        """Commit everything buffered and the run's progress."""
        with self._lock:
            if self._db is None:
                raise RuntimeError(f"run {self.run_id!r}: its writer is closed")
            with _transaction(self._db) as db:
                db.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._points)
                db.executemany("INSERT INTO layer_norms VALUES (?, ?, ?, ?, ?)", self._norms)
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._events)
                # The writing process owns the run from now on: liveness follows it.
                db.execute("UPDATE runs SET updated = ?, steps = ?, seconds = ?, status = ?,"
                           " pid = ?, host = ? WHERE id = ?",
                           (time.time(), self._steps, self._seconds, self._status, os.getpid(),
                            socket.gethostname(), self.run_id))
                if self._summary is not None:  # finishing: the final state in the same commit
                    db.execute("UPDATE runs SET summary = ?, error = ? WHERE id = ?",
                               (self._summary, self._error, self.run_id))
            self._points, self._norms, self._events = [], [], []
            self._last_commit = time.monotonic()

    def finish(self, status: str, steps: int, seconds: float, summary: dict,
               error: str | None = None) -> None:
        """Flush, write the final state (status, steps, seconds, summary, error) and close."""
        if status not in STATUSES:
            raise ValueError(f"status: {status!r} is not allowed; allowed: one of "
                             + ", ".join(STATUSES))
        self._steps, self._seconds, self._status = int(steps), float(seconds), status
        self._summary, self._error = json.dumps(summary, default=str), error
        self.close()

    def close(self) -> None:
        """Commit what is buffered and release the connection; safe to call twice.

        Closing without finish leaves the run running until its process ends: then it reads
        back as interrupted.
        """
        if self._db is None:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._db.close()
                self._db = None

    def _tick(self) -> None:
        if self._db is None:
            raise RuntimeError(f"run {self.run_id!r}: its writer is closed")
        if time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self.flush()


def _weights_path(store_path: Path, run_id: str) -> Path:
    return store_path.parent / WEIGHTS_FOLDER / f"{run_id}.pt"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
