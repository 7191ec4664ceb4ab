"""A stop on request for a race, a sweep or a sensitivity curve (the app's End search);
their rows reach the app through engine.sinks.RecordSink."""

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
