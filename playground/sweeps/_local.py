"""The local backend: Optuna's ask/tell drives our Trainer, one trial after another."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from playground.config import HParamsError
from playground.engine.device import choose_device
from playground.engine.transfer import check_start
from playground.status import Status
from playground.sweeps._base import Progress, SweepBackend, SweepPlan, SweepResult, TrialRow
from playground.sweeps._trial import (
    DataCache,
    ReportToTrial,
    RunCallbacks,
    TrainFn,
    TrialOutcome,
    train_trial,
)
from playground.sweeps.samplers import make_pruner, make_sampler, make_storage

if TYPE_CHECKING:
    from playground.engine.events import Callback
    from playground.own import Own
    from playground.store import RunStore

MAX_FAILURES = 10  # failed trials in a row before a sweep gives up
DONE = (TrialState.COMPLETE, TrialState.PRUNED)


class LocalBackend(SweepBackend):
    """Trials in this process, in turn. `storage`: None, a journal file path or an RDB URL;
    `train`: how one trial trains (default: our Trainer, saved in the store);
    `run_callbacks(run_id, hp)`: callbacks for each trial's Trainer that need its run id."""

    name = "local"

    def __init__(self, storage: str | Path | None = None, pruner: Any = None,
                 train: TrainFn | None = None,
                 run_callbacks: RunCallbacks | None = None, own: Own | None = None):
        self.storage, self.pruner, self.train = storage, pruner, train
        self.run_callbacks, self.own = run_callbacks, own

    def run(self, plan: SweepPlan, *, store: RunStore, device: str,
            callbacks: Sequence[Callback] = (), progress: Progress | None = None) -> SweepResult:
        # every trial starts from that run's weights: refused now, not trial after trial
        check_start(store, plan.base, shapes=not self.own)
        study = self.open_study(plan)
        device = choose_device(device)
        train = self.train or functools.partial(
            train_trial, store=store, device=device, source=plan.source,
            data=DataCache(device, self.own).get, run_callbacks=self.run_callbacks,
            network=self.own.network if self.own else None)
        stopped, message, failures = False, None, 0
        while not self._finished(plan, study):
            row = self._run_trial(plan, study, train, callbacks)
            if progress is not None:
                progress(row)
            if row.status == Status.STOPPED:
                stopped, message = True, f"stopped during trial {row.number}"
                break
            failures = failures + 1 if row.state == "FAIL" else 0
            if failures >= MAX_FAILURES:
                stopped = True
                message = f"{failures} trials in a row failed; the last: {row.error}"
                break
        rows = [trial_row(trial) for trial in study.get_trials(deepcopy=False)]
        return SweepResult(plan, rows, study, stopped=stopped, message=message)

    def open_study(self, plan: SweepPlan) -> optuna.Study:
        """Create the study, or load it to resume (same storage and study name)."""
        sampler = make_sampler(plan.method, plan.space, seed=plan.seed, trials=plan.trials,
                               grid_points=plan.grid_points)
        study = optuna.create_study(storage=make_storage(self.storage), sampler=sampler,
                                    pruner=make_pruner(self.pruner, plan.base, plan.space),
                                    study_name=plan.study_name, direction=plan.direction,
                                    load_if_exists=True)
        if study.direction.name.lower() != plan.direction:
            raise HParamsError("metric", plan.metric, f"one that study {plan.study_name!r} "
                               f"was made for ({study.direction.name.lower()})")
        for key, value in (("base", plan.base.to_dict()), ("method", plan.method),
                           ("metric", plan.metric)):
            if key not in study.user_attrs:
                study.set_user_attr(key, value)
        return study

    @staticmethod
    def _finished(plan: SweepPlan, study: optuna.Study) -> bool:
        done = len(study.get_trials(deepcopy=False, states=DONE))
        if plan.trials is not None and done >= plan.trials:
            return True
        sampler = study.sampler
        return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)

    def _run_trial(self, plan: SweepPlan, study: optuna.Study, train: TrainFn,
                   callbacks: Sequence[Callback]) -> TrialRow:
        trial = study.ask(plan.space)
        try:
            hp = plan.base.replace(**trial.params)
        except HParamsError as error:  # a combination HParams refuses (nesterov, momentum 0)
            outcome = TrialOutcome(None, Status.FAILED, 0, 0.0, {}, str(error))
        else:
            name = f"{plan.study_name} #{trial.number}"
            outcome = train(hp, [*callbacks, ReportToTrial(trial, plan.metric)], name)
        for key in ("run_id", "status", "steps", "seconds", "error"):
            trial.set_user_attr(key, getattr(outcome, key))
        value = outcome.summary.get(plan.metric)
        if outcome.status == Status.FINISHED and value is not None and math.isfinite(value):
            frozen = study.tell(trial, value)
        elif outcome.status in (Status.PRUNED, Status.DIVERGED):  # diverged: the engine pruned
            frozen = study.tell(trial, state=TrialState.PRUNED)
        else:
            frozen = study.tell(trial, state=TrialState.FAIL)
        return trial_row(frozen)


def trial_row(trial: FrozenTrial) -> TrialRow:
    """A study's trial as a table row; the run's details come from the trial's user attrs."""
    attrs = trial.user_attrs
    value = trial.value
    if value is None and trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    return TrialRow(number=trial.number, state=trial.state.name, params=dict(trial.params),
                    value=value, run_id=attrs.get("run_id"), status=attrs.get("status"),
                    steps=attrs.get("steps") or 0, seconds=attrs.get("seconds") or 0.0,
                    error=attrs.get("error"))

