"""What every sweep backend takes (a SweepPlan) and gives back (a SweepResult of TrialRows)."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from playground.config import HParams, with_an_end
from playground.sweeps.space import Space

if TYPE_CHECKING:
    import optuna

    from playground.engine.events import Callback
    from playground.store import RunStore

METHODS = ("grid", "random", "tpe", "gp")
METRICS = {"val_loss": "minimize", "val_accuracy": "maximize"}  # final value -> direction


@dataclass(frozen=True)
class SweepPlan:
    """One sweep: the base config, the space searched, how and for how long."""

    base: HParams
    space: Space
    method: str = "tpe"
    trials: int | None = 20  # COMPLETE + PRUNED trials wanted; None: the whole grid
    metric: str = "val_loss"
    study_name: str = "sweep"
    seed: int | None = None  # of the sampler
    grid_points: int = 5
    note: str | None = None  # set when the base was changed: epochs 0 became the default

    def __post_init__(self) -> None:
        # a sweep must end: a base that trains until Stop sweeps for the default length
        base, note = with_an_end(self.base, "a sweep")
        if note is not None:
            object.__setattr__(self, "base", base)
            object.__setattr__(self, "note", note)

    @property
    def direction(self) -> str:
        return METRICS[self.metric]

    @property
    def source(self) -> str:
        """The `source` of every run this sweep saves."""
        return f"sweep:{self.study_name}"


class TrialRow(NamedTuple):
    """One trial as a table row; `status` is its run's status in the store."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING (optuna.trial.TrialState names)
    params: dict[str, Any]
    value: float | None
    run_id: str | None = None
    status: str | None = None  # finished, pruned, diverged, failed, stopped
    steps: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "state": self.state, "params": self.params,
                "value": self.value, "run_id": self.run_id, "status": self.status,
                "steps": self.steps, "seconds": round(self.seconds, 3), "error": self.error}


Progress = Callable[[TrialRow], None]


@dataclass
class SweepResult:
    plan: SweepPlan
    trials: list[TrialRow]
    study: optuna.Study | None = None
    stopped: bool = False  # ended before its trials were done (a stop, or too many failures)
    message: str | None = None  # why it stopped early
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        """The best COMPLETE trial by the plan's metric; None while there is none."""
        done = [row for row in self.trials if row.state == "COMPLETE" and row.value is not None
                and math.isfinite(row.value)]
        if not done:
            return None
        sign = 1 if self.plan.direction == "minimize" else -1
        return min(done, key=lambda row: (sign * row.value, row.number))

    @property
    def best_config(self) -> HParams | None:
        best = self.best
        return None if best is None else self.plan.base.replace(**best.params)

    def counts(self) -> dict[str, int]:
        states: dict[str, int] = {}
        for row in self.trials:
            states[row.state] = states.get(row.state, 0) + 1
        return states

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON: study, method, metric, trials and the best trial."""
        best = self.best
        return {"study": self.plan.study_name, "method": self.plan.method,
                "metric": self.plan.metric, "direction": self.plan.direction,
                "trials": [row.as_dict() for row in self.trials],
                "best": None if best is None else {"value": best.value, "params": best.params,
                                                   "run_id": best.run_id},
                "stopped": self.stopped, "message": self.message, "note": self.plan.note}


class SweepBackend(abc.ABC):
    """Runs a SweepPlan's trials somewhere, each trial a run in the store."""

    name: str

    @abc.abstractmethod
    def run(self, plan: SweepPlan, *, store: RunStore, device: str,
            callbacks: Sequence[Callback] = (), progress: Progress | None = None) -> SweepResult:
        """Run trials until the plan has its COMPLETE + PRUNED trials (or is stopped)."""
