"""The pump: a daemon thread that moves new rows from the training side to the plots.

About ten times a second it calls `fetch()` once and, when anything came back, `sink(batch)`
once with all of it, so many rows become one `stream` call per data source and the browser
gets a few messages a second however fast training logs. A failing fetch or sink is logged,
counted and kept, and the pump carries on: a plotting bug must not stop the plots for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

Batch = Mapping[str, Sequence[Mapping[str, Any]]]
MAX_KEPT_ERRORS = 100  # errors kept in `errors`; `error_count` counts them all


class Pump:
    """Calls `sink(fetch())` every 1/hz seconds on a daemon thread, skipping empty batches."""

    def __init__(self, fetch: Callable[[], Batch], sink: Callable[[Batch], None],
                 hz: float = 10.0, name: str = "playground-plots-pump") -> None:
        if not hz > 0:
            raise ValueError(f"hz: {hz!r} is not allowed; allowed: above 0")
        self.fetch, self.sink = fetch, sink
        self.period = 1.0 / hz
        self.name = name
        self.errors: list[BaseException] = []  # the latest MAX_KEPT_ERRORS
        self.error_count = 0
        self.ticks = 0  # rounds run
        self.batches = 0  # rounds that had rows and reached the sink
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()  # tick() from a test and the thread never overlap

    @property
    def last_error(self) -> BaseException | None:
        return self.errors[-1] if self.errors else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def tick(self) -> bool:
        """One round: fetch once, hand anything new to the sink once. True if it did."""
        with self._tick_lock:
            self.ticks += 1
            try:
                batch = self.fetch()
            except Exception as error:  # noqa: BLE001 - recorded, logged, and the pump goes on
                self._record(error, "fetch")
                return False
            if not batch or not any(batch.values()):
                return False
            try:
                self.sink(batch)
            except Exception as error:  # noqa: BLE001 - recorded, logged, and the pump goes on
                self._record(error, "sink")
                return False
            self.batches += 1
            return True

    def start(self) -> None:
        """Start the daemon thread (no-op if it is running)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the thread to end and wait for it (a round in progress finishes first)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            self.tick()
            # Fixed rate; after a slow round, start again at once rather than catching up.
            deadline = max(deadline + self.period, time.monotonic())
            self._stop.wait(max(0.0, deadline - time.monotonic()))

    def _record(self, error: BaseException, where: str) -> None:
        self.error_count += 1
        self.errors.append(error)
        del self.errors[:-MAX_KEPT_ERRORS]
        # A sink failing at 10 Hz would flood the log: the first ten in full, then every 100th.
        if self.error_count <= 10 or self.error_count % 100 == 0:
            log.error("plots pump: %s failed (%d so far): %r", where, self.error_count, error,
                      exc_info=error)
        else:
            log.debug("plots pump: %s failed (%d so far): %r", where, self.error_count, error)
