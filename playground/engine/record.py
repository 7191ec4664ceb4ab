"""The live record of a runner's runs: bounded in memory, read by cursor.

The training thread appends rows; readers (the plot pump) take what is new since their last
read. Memory stays bounded however long a run goes: old rows fall off the front, and the run
store keeps everything.
"""

from __future__ import annotations

import threading
from collections import deque
from itertools import islice
from typing import Any

CHANNELS = ("points", "layer_norms", "events", "boundary", "histogram", "samples")


class RunRecord:
    def __init__(self, maxlen: int = 20_000):
        self._lock = threading.Lock()
        self._rows: dict[str, deque[dict[str, Any]]] = {c: deque(maxlen=maxlen) for c in CHANNELS}
        self._appended = dict.fromkeys(CHANNELS, 0)  # rows ever appended, per channel

    def append(self, channel: str, rows: list[dict[str, Any]]) -> None:
        with self._lock:
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
                start = max(cursors[channel], first_held)
                new = list(islice(rows, start - first_held, None))
                cursors[channel] = self._appended[channel]
                if new:
                    batch[channel] = new
        return batch


class RecordReader:
    def __init__(self, record: RunRecord):
        self._record = record
        self._cursors = dict.fromkeys(CHANNELS, 0)

    def fetch(self) -> dict[str, list[dict[str, Any]]]:
        """Rows appended since the last fetch, by channel; channels with none are left out."""
        return self._record._since(self._cursors)
