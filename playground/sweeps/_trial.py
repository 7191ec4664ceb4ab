"""One trial of a sweep: a run of our Trainer, saved in the store, reporting to an Optuna trial.

Pruning leaves the loop like pause and stop do: by a CancelRun raised at a step boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from playground.config import HParams, HParamsError
from playground.data import Dataset, load_dataset
from playground.engine.events import Callback, CancelRun
from playground.engine.saved_run import SavedRun
from playground.own import Own
from playground.status import TERMINAL, Status

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from playground.engine.trainer import Trainer
    from playground.store import RunStore

QUARTERS = 4  # intermediate values are reported in quarter epochs: trials of any batch size
# report at the same "steps", which the median and Hyperband pruners compare
DATA_FIELDS = HParams.fields_where(group="data")  # a change of these means new data


class PrunedRun(CancelRun):
    """A sweep's pruner judged the run not promising: it ends at the next step boundary."""

    status = Status.PRUNED


class TrialOutcome(NamedTuple):
    run_id: str | None
    status: str  # the run's final status
    steps: int
    seconds: float
    summary: dict[str, Any]  # final train/val loss and accuracy; {} when it failed
    error: str | None = None


# How a sweep trains one trial: (config, callbacks, run name) -> outcome. The default trains
# our Trainer; a test may pass a cheap stand-in and still drive the real sweep machinery.
TrainFn = Callable[[HParams, Sequence[Callback], str], TrialOutcome]


class ReportToTrial(Callback):
    """Reports the validation metric to an Optuna trial at each validation point, and prunes
    at the next step boundary when the trial's pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str = "val_loss"):
        self.trial = trial
        self.key = metric.removeprefix("val_")  # the column of the val rows: loss or accuracy
        self._last = 0
        self._prune_at: int | None = None

    def on_points(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            value = row.get(self.key)
            if row["split"] != "val" or not row["step"] or value is None:
                continue
            quarter = round(QUARTERS * row["step"] / trainer.steps_per_epoch)
            if quarter <= self._last or not math.isfinite(value):
                continue
            self.trial.report(value, quarter)
            self._last = quarter
            if self._prune_at is None and self.trial.should_prune():
                self._prune_at = row["step"]

    def before_step(self, trainer: Trainer) -> None:
        if self._prune_at is not None:
            raise PrunedRun(f"pruned at step {self._prune_at}: its validation {self.key} "
                            "was not promising")


def check_has_an_end(hp: HParams) -> None:
    """HParamsError naming epochs when `hp` trains until Stop: a trial nobody stops."""
    if hp.until_stopped:
        spec = HParams.specs()["epochs"]
        raise HParamsError("epochs", hp.epochs, f"a whole number 1 to {spec.high:g} for a "
                           f"trial (0, {spec.zero}, never ends)")


class DataCache:
    """Trials that share the data fields share one loaded data set."""

    def __init__(self, device: Any, own: Own | None = None):
        self.device, self.own = device, own
        self._data: dict[tuple, Dataset] = {}

    def get(self, hp: HParams) -> Dataset:
        """hp's data set, or your own data (`own`) whatever the data fields say."""
        if self.own is not None and self.own.data is not None:
            return self.own.load(hp, self.device)
        key = tuple(getattr(hp, name) for name in DATA_FIELDS)
        if key not in self._data:
            self._data[key] = load_dataset(hp, self.device)
        return self._data[key]


# Callbacks that need the run's id (to tag rows for the app's plots): (run id, config) -> them
RunCallbacks = Callable[[str, HParams], Sequence[Callback]]


def train_trial(hp: HParams, callbacks: Sequence[Callback], name: str, *, store: RunStore,
                device: Any, source: str, data: Callable[[HParams], Dataset],
                run_callbacks: RunCallbacks | None = None,
                network: Callable[[HParams], nn.Module | None] | None = None,
                ) -> TrialOutcome:
    """Train one config with the Trainer as a run of the store; return how it ended.
    A trial must end: epochs 0 (until stopped) raises HParamsError (SweepPlan and the
    curve replace it by the default length before they get here)."""
    check_has_an_end(hp)
    run = SavedRun(store, hp, device, name=name, source=source)
    extra = list(run_callbacks(run.run_id, hp)) if run_callbacks is not None else []
    trainer = run.build(data, [*extra, *callbacks], network=network)
    if trainer is None:  # a data set that is missing, say: this trial fails, not all
        return TrialOutcome(run.run_id, Status.FAILED, 0, 0.0, {}, run.error)
    if trainer.fit() not in TERMINAL:  # paused by a callback: a sweep does not come back to it
        run.end_paused()
    info = run.info()
    return TrialOutcome(run.run_id, info.status, info.steps, info.seconds, info.summary,
                        info.error)
