"""Sweeps: `make_plan` checks a sweep, `run_sweep` runs it on a backend (local or Ray).

Imports neither optuna nor torch: the backend chosen loads them when a sweep runs, so the
app and the CLI can import this at the top. Samplers, pruners and storages are built by
name in `sweeps.samplers`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.config import HParams, HParamsError
from playground.store import RunStore
from playground.sweeps._base import METHODS, METRICS, Progress, SweepBackend, SweepPlan, SweepResult
from playground.sweeps.space import (
    GRID_POINTS,
    Override,
    Space,
    check_searchable,
    default_space,
    grid_from_space,
)

if TYPE_CHECKING:
    from playground.engine.events import Callback
    from playground.own import Own

BACKENDS = ("local", "ray")


def new_study_name() -> str:
    return time.strftime("sweep-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)


def run_sweep(base: HParams, fields: Iterable[str] = ("lr",), *,
              ranges: Mapping[str, Override] | None = None, space: Space | None = None,
              method: str = "tpe", trials: int | None = 20, pruner: Any = None,
              metric: str = "val_loss", storage: str | Path | None = None,
              study_name: str | None = None, seed: int | None = None,
              grid_points: int = GRID_POINTS, device: str = "cpu", store: RunStore | None = None,
              callbacks: Sequence[Callback] = (), progress: Progress | None = None,
              backend: str | SweepBackend = "local", own: Own | None = None,
              **backend_options: Any) -> SweepResult:
    """Search `fields` of `base` (or an explicit Optuna `space`) for the best `metric`.

    Each trial trains our Trainer and is saved as a run with source "sweep:<study_name>".
    `trials` counts COMPLETE and PRUNED trials, so a sweep resumed from the same storage and
    study name runs only what is missing; for a grid, None means the whole grid.
    `callbacks` join every trial's Trainer (a StopRun from one ends the sweep); `progress`
    gets each finished trial's TrialRow. backend "ray" takes address=, scheduler=.
    `own`: your own model and data (playground/own.py), trained by the local backend.
    """
    plan = make_plan(base, fields, ranges=ranges, space=space, method=method, trials=trials,
                     metric=metric, study_name=study_name, seed=seed, grid_points=grid_points)
    if isinstance(backend, SweepBackend):
        runner = backend
    elif backend == "local":  # optuna and torch load here, with the backend that uses them
        from playground.sweeps._local import LocalBackend

        runner = LocalBackend(storage=storage, pruner=pruner, own=own, **backend_options)
    elif backend == "ray":
        if own:
            raise HParamsError("backend", backend, "local for your own model or data (Ray's "
                               "workers are not sent them)")
        from playground.sweeps.ray_backend import RayBackend

        runner = RayBackend(**backend_options)
    else:
        raise HParamsError("backend", backend, "one of " + ", ".join(BACKENDS))
    if store is None:
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
        check_searchable(name, space[name])
    if method == "grid":
        grid_from_space(space, grid_points)  # checks its size now, not after the first trial
    return SweepPlan(base=base, space=space, method=method, trials=trials, metric=metric,
                     study_name=study_name or new_study_name(), seed=seed,
                     grid_points=grid_points)

