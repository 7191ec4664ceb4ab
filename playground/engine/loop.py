"""What every training loop shares: the phases of fit(), its callbacks, the divergence rule,
and one promise: however fit() is left, every run the loop owns ends with a status and a
reason (a paused run waits instead).

The Trainer (one model) and a Race (K members stacked in one model) fill in the phases:
`_first_points`, `_more_to_do`, `_train_step`, `_flush`, `_end_runs`, `_closing`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from playground.engine.events import HOOKS, Callback, CancelRun, DivergedRun
from playground.status import Status

EXPLODE_FACTOR = 1e4  # a loss this many times the first loss counts as diverged


class RunFailed(Exception):
    """A loop's runs ended as failed; the message says where and why (for a caller that
    must raise, such as a background job whose panel shows the reason)."""


def exploded(first_loss: float, loss: float) -> bool:
    """The divergence rule: a non-finite loss, or EXPLODE_FACTOR times the first loss."""
    return not math.isfinite(loss) or loss > EXPLODE_FACTOR * max(abs(first_loss), 1e-3)


def divergence_reason(step: int, loss: float, lr: float) -> str:
    return (f"diverged at step {step}: loss became {loss:.4g}; the learning rate ({lr:g}) "
            "is probably too high")


class Loop:
    """fit() for a loop whose subclass trains one step at a time (see the module's text)."""

    hp: Any  # the HParams the loop trains (a race's: the members' shared base)

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)
        self.step = 0  # optimizer updates so far
        self.epoch = 0  # completed passes over the training data
        self.status = Status.CREATED
        self.error: str | None = None
        self.seconds = 0.0  # time spent training, pauses excluded
        self._fit_started = 0.0
        self._fitting = False
        self._last_eval_step = -1
        self._hooks = self._find_hooks()

    def fit(self) -> Any:
        """Train until there is nothing more to do or a callback cancels; returns the status."""
        self._fit_started, self._fitting = time.perf_counter(), True
        self.status, self.error = Status.RUNNING, None
        self._hooks = self._find_hooks()
        try:
            self._trigger("before_fit")
            if self.step == 0 and self._last_eval_step < 0:
                self._first_points()
            while self._more_to_do():
                # steer: callbacks may pause, stop or change hyperparameters here
                self._trigger("before_step")
                if not self._more_to_do():
                    break  # epochs was just set to one already done
                self._train_step()
                self._trigger("after_step")
            self._flush()
            self._end(Status.FINISHED)
        except CancelRun as cancel:
            self._flush_quietly()
            self._end(cancel.status, str(cancel) if isinstance(cancel, DivergedRun) else None)
        except Exception as error:  # noqa: BLE001 - the runs end with the reason, kept
            self._flush_quietly(after_failure=True)  # the steps done before it count
            self._end(Status.FAILED, self._describe(error))
        finally:
            self.seconds = self.elapsed()
            self._fitting = False
            self._closing()
            self._trigger("after_fit")
        return self.status

    def _end(self, status: str, error: str | None = None) -> None:
        self.status, self.error = status, error
        try:
            self._end_runs(status, error)
        except Exception as failure:  # noqa: BLE001 - ending the runs failed: say so, as failed
            self.status = Status.FAILED
            self.error = f"{error or status}; then {type(failure).__name__}: {failure}"
            self._end_runs(Status.FAILED, self.error)

    def _describe(self, error: Exception) -> str:
        if isinstance(error, torch.cuda.OutOfMemoryError):
            return (f"out of GPU memory at step {self.step}: try a smaller batch size "
                    f"(now {self.hp.batch_size}) or width (now {self.hp.width})")
        return f"{type(error).__name__}: {error}"

    def elapsed(self) -> float:
        """Seconds trained so far, the fit() under way included (`seconds` counts the ended
        ones): what a saved run's progress says while it trains."""
        if not self._fitting:
            return self.seconds
        return self.seconds + time.perf_counter() - self._fit_started

    def _flush_quietly(self, after_failure: bool = False) -> None:
        try:
            self._flush()
        except CancelRun:
            pass
        except Exception:  # noqa: BLE001 - after a failure, its reason is the one to keep
            if not after_failure:
                raise

    # --- the phases a loop fills in ------------------------------------------------------
    def _first_points(self) -> None:
        """Before the first step: the curves' starting point."""

    def _more_to_do(self) -> bool:
        raise NotImplementedError

    def _train_step(self) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        """Hand pending rows on; raise DivergedRun when the loop's run diverged."""

    def _end_runs(self, status: str, error: str | None) -> None:
        """End every run the loop owns (or mark it paused) with this status and reason."""

    def _closing(self) -> None:
        """Last words as fit() is left, whatever the status."""

    # --- callbacks -----------------------------------------------------------------------
    def _trigger(self, event: str, *args: Any) -> None:
        for hook in self._hooks[event]:
            hook(self, *args)

    def _find_hooks(self) -> dict[str, list[Any]]:
        """Event -> the callbacks' methods that do something: four no-op calls a step add up
        on a small model (a step is about a millisecond on a CPU)."""
        return {event: [getattr(callback, event) for callback in self.callbacks
                        if getattr(type(callback), event, None) is not getattr(Callback, event)]
                for event in HOOKS}
