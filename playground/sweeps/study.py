"""Sweeps: Optuna samplers, pruners and storages built by name, and `run_sweep`, the entry.

Storage: None keeps the study in memory; a file path is an Optuna JournalStorage, which
several worker processes on one machine may share and which lets an interrupted sweep
resume; a URL (postgresql://..., mysql://...) is an RDB for several machines.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from playground.config import HParams, HParamsError
from playground.sweeps._base import METHODS, METRICS, Progress, SweepBackend, SweepPlan, SweepResult
from playground.sweeps._trial import QUARTERS
from playground.sweeps.space import GRID_POINTS, Override, Space, default_space, grid_from_space

if TYPE_CHECKING:
    from playground.engine.events import Callback
    from playground.store import RunStore

PRUNERS = ("median", "hyperband")
BACKENDS = ("local", "ray")


class GridSweepSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler for ask/tell: it stops nothing itself (GridSampler calls
    study.stop(), which only works inside study.optimize); the sweep loop asks
    `is_exhausted` instead."""

    def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Any) -> None:
        pass


def make_sampler(method: str, space: Space, *, seed: int | None = None,
                 trials: int | None = None, grid_points: int = GRID_POINTS,
                 ) -> optuna.samplers.BaseSampler:
    """The sampler of a method: grid, random, tpe (Tree-structured Parzen) or gp (Gaussian
    process). TPE samples at random for its first trials: a third of the sweep, 3 to 10."""
    if method == "grid":
        return GridSweepSampler(grid_from_space(space, grid_points), seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        startup = 10 if trials is None else max(3, min(10, trials // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise HParamsError("method", method, "one of " + ", ".join(METHODS))


def make_pruner(pruner: str | optuna.pruners.BasePruner | None, base: HParams,
                searched: Iterable[str] = ()) -> optuna.pruners.BasePruner:
    """None never prunes; median and Hyperband wait for the first epoch. Steps are quarter
    epochs (see ReportToTrial)."""
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=QUARTERS)
    if pruner == "hyperband":
        most = "auto" if "epochs" in searched else QUARTERS * base.epochs
        return optuna.pruners.HyperbandPruner(min_resource=QUARTERS, max_resource=most,
                                              reduction_factor=3)
    raise HParamsError("pruner", pruner, "none or one of " + ", ".join(PRUNERS))


def make_storage(storage: str | Path | None) -> Any:
    """None: in memory; a URL: an RDB, passed through; anything else: a journal file."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        return text
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(text).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def new_study_name() -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)


def run_sweep(base: HParams, fields: Iterable[str] = ("lr",), *,
              ranges: Mapping[str, Override] | None = None, space: Space | None = None,
              method: str = "tpe", trials: int | None = 20, pruner: Any = None,
              metric: str = "val_loss", storage: str | Path | None = None,
              study_name: str | None = None, seed: int | None = None,
              grid_points: int = GRID_POINTS, device: str = "cpu", store: RunStore | None = None,
              callbacks: Sequence[Callback] = (), progress: Progress | None = None,
              backend: str | SweepBackend = "local", **backend_options: Any) -> SweepResult:
    """Search `fields` of `base` (or an explicit Optuna `space`) for the best `metric`.

    Each trial trains our Trainer and is saved as a run with source "sweep:<study_name>".
    `trials` counts COMPLETE and PRUNED trials, so a sweep resumed from the same storage and
    study name runs only what is missing; for a grid, None means the whole grid.
    `callbacks` join every trial's Trainer (a StopRun from one ends the sweep); `progress`
    gets each finished trial's TrialRow. backend "ray" takes address=, scheduler=.
    """
    plan = make_plan(base, fields, ranges=ranges, space=space, method=method, trials=trials,
                     metric=metric, study_name=study_name, seed=seed, grid_points=grid_points)
    if isinstance(backend, SweepBackend):
        runner = backend
    elif backend == "local":
        from playground.sweeps._local import LocalBackend

        runner = LocalBackend(storage=storage, pruner=pruner, **backend_options)
    elif backend == "ray":
        from playground.sweeps.ray_backend import RayBackend

        runner = RayBackend(**backend_options)
    else:
        raise HParamsError("backend", backend, "one of " + ", ".join(BACKENDS))
    if store is None:
        from playground.store import RunStore

        store = RunStore()
    return runner.run(plan, store=store, device=device, callbacks=callbacks, progress=progress)


def make_plan(base: HParams, fields: Iterable[str] = ("lr",), *,
              ranges: Mapping[str, Override] | None = None, space: Space | None = None,
              method: str = "tpe", trials: int | None = 20, metric: str = "val_loss",
              study_name: str | None = None, seed: int | None = None,
              grid_points: int = GRID_POINTS) -> SweepPlan:
    """A checked SweepPlan: every bad argument raises HParamsError naming it."""
    if method not in METHODS:
        raise HParamsError("method", method, "one of " + ", ".join(METHODS))
    if metric not in METRICS:
        raise HParamsError("metric", metric, "one of " + ", ".join(METRICS))
    if trials is None and method != "grid":
        raise HParamsError("trials", trials, "a whole number of at least 1 (None only for grid)")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or trials < 1):
        raise HParamsError("trials", trials, "a whole number of at least 1")
    space = dict(space) if space is not None else default_space(fields, ranges)
    for name in space:
        if name not in HParams.specs():
            raise HParamsError(name, space[name], "a field of HParams: "
                               + ", ".join(HParams.specs()))
    if metric == "val_accuracy" and base.dataset == "regression":
        raise HParamsError("metric", metric, "val_loss for a regression data set")
    if method == "grid":
        grid_from_space(space, grid_points)  # checks its size now, not after the first trial
    return SweepPlan(base=base, space=space, method=method, trials=trials, metric=metric,
                     study_name=study_name or new_study_name(), seed=seed,
                     grid_points=grid_points)
