"""Where a run's rows go as it trains: the run store (saved) and a live record (drawn).

Every way of training a saved run uses these two: the runner's thread, a sweep's trials
(here or on Ray) and a race's members (whose rows carry their run already).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from playground.engine.events import Callback
from playground.engine.record import RunRecord
from playground.status import TERMINAL, Status
from playground.store import RunWriter


class StoreSink(Callback):
    """Writes the run to the store as it trains; the writer commits at least once a second.

    Used by the runner and by sweeps, whose trials are runs too.
    """

    def __init__(self, writer: RunWriter):
        self.writer = writer

    def on_points(self, trainer: Any, rows: list[dict]) -> None:
        self.writer.add_points(rows)
        # progress with each read-back of metrics (a few times a second), not every step
        self.writer.heartbeat(trainer.step, trainer.elapsed())

    def on_layer_norms(self, trainer: Any, rows: list[dict]) -> None:
        self.writer.add_layer_norms(rows)

    def on_event(self, trainer: Any, event: dict) -> None:
        self.writer.add_event(event["step"], event["kind"], event["message"], field=event["field"],
                              old=event["old"], new=event["new"], seconds=event["seconds"])

    def after_fit(self, trainer: Any) -> None:
        if trainer.status not in TERMINAL:
            self.writer.heartbeat(trainer.step, trainer.seconds, status=trainer.status)
            self.writer.flush()
            return
        summary = trainer.summary() if trainer.status != Status.FAILED else {}
        if trainer.status != Status.FAILED:
            keep_weights(trainer, self.writer)
        self.writer.finish(trainer.status, trainer.step, trainer.seconds, summary,
                           error=trainer.error)


def save_weights(trainer: Any, path: Path) -> None:
    """The trained weights and the settings that built them, in one file that
    `torch.load(path, weights_only=True)` reads: plain tensors, numbers, text and lists.

    config: the settings at the end of the run (live changes included); input_shape and
    n_out: what `models.build_model(HParams.from_dict(config), input_shape, n_out)` needs.
    """
    state = {name: tensor.detach().cpu() for name, tensor in trainer.model.state_dict().items()}
    data = trainer.data
    checkpoint = {"state_dict": state, "config": trainer.hp.to_dict(),
                  "input_shape": list(data.input_shape), "n_out": max(data.n_classes, 1),
                  "class_names": list(data.class_names),  # a fine-tune on others: fresh output
                  "step": trainer.step}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # a reader never sees half a file
    torch.save(checkpoint, partial)
    partial.replace(path)


def keep_weights(trainer: Any, writer: RunWriter) -> None:
    """Save the run's weights beside the store; a failure is an event of the run, not an
    error of it (its curves and summary are saved all the same)."""
    try:
        save_weights(trainer, writer.weights_path)
    except Exception as error:  # noqa: BLE001 - a full disk, say: the run still ends
        writer.add_event(trainer.step, "weights", f"weights not saved: "
                         f"{type(error).__name__}: {error}", seconds=trainer.seconds)


class RecordSink(Callback):
    """Copies a run's rows into a live RunRecord (the app's pump streams it), each tagged with
    `run_id` (None: rows carry theirs, as a race's do); while `live()` is false the rows are
    dropped (a stale run of the runner)."""

    def __init__(self, record: RunRecord, run_id: str | None = None,
                 live: Callable[[], bool] | None = None):
        self.record, self.run_id, self.live = record, run_id, live

    def _append(self, channel: str, rows: list[dict[str, Any]]) -> None:
        if self.live is not None and not self.live():
            return
        if self.run_id is not None:
            rows = [{**row, "run": self.run_id} for row in rows]
        self.record.append(channel, rows)

    def on_points(self, trainer: Any, rows: list[dict[str, Any]]) -> None:
        self._append("points", rows)

    def on_layer_norms(self, trainer: Any, rows: list[dict[str, Any]]) -> None:
        self._append("layer_norms", rows)

    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        self._append("events", [event])

    def on_snapshot(self, trainer: Any, channel: str, row: dict[str, Any]) -> None:
        self._append(channel, [row])
