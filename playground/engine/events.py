"""Callbacks the training loop triggers, and the exceptions that leave it at a step boundary.

Pause, stop and divergence all leave the loop the same way, by an exception caught in one
place, so every exit runs the same clean-up (fastai's CancelFitException, taken plainly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playground.status import Status

if TYPE_CHECKING:
    from playground.engine.trainer import Trainer



class CancelRun(Exception):
    """Leave the training loop at a step boundary; `status` is what the run becomes."""

    status = Status.STOPPED


class StopRun(CancelRun):
    status = Status.STOPPED


class PauseRun(CancelRun):
    status = Status.PAUSED


class DivergedRun(CancelRun):
    status = Status.DIVERGED


class Callback:
    """No-op hooks; subclass and override the ones you need (Lightning's Callback, plainly)."""

    def before_fit(self, trainer: Trainer) -> None:
        """Each time fit() is entered: at the start and after every resume."""

    def after_fit(self, trainer: Trainer) -> None:
        """Each time fit() is left; trainer.status says why (paused, finished, stopped, ...)."""

    def before_step(self, trainer: Trainer) -> None:
        """Before a batch is drawn: the place to pause, stop or change hyperparameters."""

    def after_backward(self, trainer: Trainer) -> None:
        """Gradients are fresh and not yet clipped or applied."""

    def after_step(self, trainer: Trainer) -> None:
        """The optimizer has stepped and trainer.step counts it."""

    def on_points(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        """New metric rows: {step, epoch, split, loss, accuracy, lr, seconds}."""

    def on_layer_norms(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        """Per-layer norms: {step, layer, grad_norm, weight_norm}."""

    def on_event(self, trainer: Trainer, event: dict[str, Any]) -> None:
        """A hyperparameter or status change: {step, seconds, kind, field, old, new, message}."""

    def on_snapshot(self, trainer: Trainer, channel: str, row: dict[str, Any]) -> None:
        """A picture of the model for the live plots (boundary, histogram, samples)."""


HOOKS = tuple(name for name in vars(Callback) if not name.startswith("_"))
