"""Callbacks that connect a race, a sweep or a sensitivity curve to the app: rows into the
app's live record (which its pump streams into the main plots), and a stop on request."""

from __future__ import annotations

import threading
from typing import Any

from playground.engine.events import Callback, StopRun


class StopWhenSet(Callback):
    """Ends the run (or race, or the sweep's current trial and so the sweep) at the next step
    boundary once `event` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def before_step(self, trainer: Any) -> None:
        if self.event.is_set():
            raise StopRun("stopped from the search panel")


class ToRecord(Callback):
    """Appends a run's rows to a RunRecord, each tagged with its run id. A race's rows
    already carry theirs ("run"); a sweep trial's get `run_id`."""

    def __init__(self, record: Any, run_id: str | None = None):
        self.record, self.run_id = record, run_id

    def _tag(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.run_id is None:
            return rows
        return [{**row, "run": self.run_id} for row in rows]

    def on_points(self, trainer: Any, rows: list[dict[str, Any]]) -> None:
        self.record.append("points", self._tag(rows))

    def on_layer_norms(self, trainer: Any, rows: list[dict[str, Any]]) -> None:
        self.record.append("layer_norms", self._tag(rows))

    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        self.record.append("events", self._tag([event]))
