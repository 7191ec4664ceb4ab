"""The live record of a runner's runs: bounded in memory, read by cursor.

The training thread appends rows; readers (the plot pump) take what is new since their last
read. Memory stays bounded however long a run goes: old rows fall off the front, and the run
store keeps everything.

A channel is any name a row kind is appended under ("points", "events", "layer_norms", a
probe's `publish(channel, ...)`); the record makes one on first use, so the engine never
lists them. Which figure draws which channel is said in one place: `FIGURES` in
playground/plots/dashboard.py.
"""

from __future__ import annotations

import threading
from collections import deque
from itertools import islice
from typing import Any


class RunRecord:
    def __init__(self, maxlen: int = 20_000):
        self._lock = threading.Lock()
        self._maxlen = maxlen  # rows held per channel
        self._rows: dict[str, deque[dict[str, Any]]] = {}
        self._appended: dict[str, int] = {}  # rows ever appended, per channel

    def append(self, channel: str, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            if channel not in self._rows:
                self._rows[channel] = deque(maxlen=self._maxlen)
                self._appended[channel] = 0
            self._rows[channel].extend(rows)
            self._appended[channel] += len(rows)

    def reader(self) -> RecordReader:
        """A cursor that starts at the oldest row still held."""
        return RecordReader(self)

    def _since(self, cursors: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        batch = {}
        with self._lock:
            for channel, rows in self._rows.items():
                first_held = self._appended[channel] - len(rows)
                start = max(cursors.get(channel, 0), first_held)
                new = list(islice(rows, start - first_held, None))
                cursors[channel] = self._appended[channel]
                if new:
                    batch[channel] = new
        return batch


class RecordReader:
    def __init__(self, record: RunRecord):
        self._record = record
        self._cursors: dict[str, int] = {}  # channel -> rows read; a new channel starts at 0

    def fetch(self) -> dict[str, list[dict[str, Any]]]:
        """Rows appended since the last fetch, by channel; channels with none are left out."""
        return self._record._since(self._cursors)
