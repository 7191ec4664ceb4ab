"""The data behind the sweep views, as NamedTuples: no plotting library here.

Like optuna.visualization: a pure function computes what a plot shows (importance bars,
optimisation history, slices, parallel coordinates, a two-parameter contour) from a study or
a list of trials; the Bokeh views render it. Only COMPLETE trials with a finite value count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np

from playground.sweeps.importance import importances

if TYPE_CHECKING:  # optuna loads with the first study these views read, not with the app
    import optuna
    from optuna.trial import FrozenTrial

Trials: TypeAlias = "optuna.Study | Sequence[FrozenTrial]"


class ImportanceInfo(NamedTuple):
    params: list[str]  # most important first
    importances: list[float]  # sum to 1
    evaluator: str


class HistoryInfo(NamedTuple):
    numbers: list[int]  # trial numbers, in order
    values: list[float]
    best: list[float]  # best so far
    direction: str


class AxisInfo(NamedTuple):
    name: str
    low: float  # numeric axes: the range of the values seen
    high: float
    log: bool
    categories: tuple[Any, ...] | None  # categorical axes: the choices, in order


class SliceInfo(NamedTuple):
    axis: AxisInfo
    x: list[Any]  # the param's value per trial
    y: list[float]  # the objective
    numbers: list[int]


class ParallelRow(NamedTuple):
    number: int
    objective: float
    values: list[Any]  # one per axis
    positions: list[float]  # the same on each axis scaled to 0..1 (log axes in log)


class ParallelInfo(NamedTuple):
    axes: list[AxisInfo]
    rows: list[ParallelRow]
    direction: str


class ContourInfo(NamedTuple):
    x: AxisInfo
    y: AxisInfo
    xs: list[float]  # grid positions: values (log axes: log-spaced), category indices
    ys: list[float]
    z: list[list[float]]  # z[j][i]: the objective at (xs[i], ys[j]), inverse-distance weighted
    points: list[tuple[float, float, float]]  # (x, y, objective) of each trial


def complete_trials(source: Trials) -> tuple[list[FrozenTrial], str]:
    """COMPLETE trials with a finite value, in number order, and the direction."""
    import optuna

    if isinstance(source, optuna.Study):
        trials, direction = source.get_trials(deepcopy=False), source.direction.name.lower()
    else:
        trials, direction = list(source), "minimize"
    kept = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
            and math.isfinite(t.value)]
    return sorted(kept, key=lambda t: t.number), direction


def importance_info(study: optuna.Study, evaluator: str = "ped_anova") -> ImportanceInfo:
    values = importances(study, evaluator)
    return ImportanceInfo(list(values), list(values.values()), evaluator)


def history_info(source: Trials, direction: str | None = None) -> HistoryInfo:
    trials, found = complete_trials(source)
    direction = direction or found
    pick = min if direction == "minimize" else max
    best: list[float] = []
    for trial in trials:
        best.append(trial.value if not best else pick(best[-1], trial.value))
    return HistoryInfo([t.number for t in trials], [t.value for t in trials], best, direction)


def axes(trials: Sequence[FrozenTrial], params: Sequence[str] | None = None) -> list[AxisInfo]:
    """One axis per param seen in the trials (or those named), from their distributions."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    names = list(params) if params is not None else sorted(
        {name for trial in trials for name in trial.params})
    result = []
    for name in names:
        with_param = [t for t in trials if name in t.params]
        if not with_param:
            continue
        dist = with_param[-1].distributions[name]
        if isinstance(dist, CategoricalDistribution):
            result.append(AxisInfo(name, 0.0, max(len(dist.choices) - 1, 1), False,
                                   tuple(dist.choices)))
            continue
        values = [float(t.params[name]) for t in with_param]
        log = isinstance(dist, (FloatDistribution, IntDistribution)) and dist.log
        result.append(AxisInfo(name, min(values), max(values), log, None))
    return result


def position(axis: AxisInfo, value: Any) -> float:
    """Where a value lies on its axis, 0 to 1."""
    if axis.categories is not None:
        index = axis.categories.index(value) if value in axis.categories else 0
        return index / max(len(axis.categories) - 1, 1)
    low, high, value = axis.low, axis.high, float(value)
    if axis.log:
        low, high, value = math.log10(low), math.log10(high), math.log10(value)
    return 0.5 if high == low else (value - low) / (high - low)


def slice_info(source: Trials, params: Sequence[str] | None = None) -> list[SliceInfo]:
    trials, _ = complete_trials(source)
    result = []
    for axis in axes(trials, params):
        with_param = [t for t in trials if axis.name in t.params]
        result.append(SliceInfo(axis, [t.params[axis.name] for t in with_param],
                                [t.value for t in with_param], [t.number for t in with_param]))
    return result


def parallel_info(source: Trials, params: Sequence[str] | None = None,
                  direction: str | None = None) -> ParallelInfo:
    trials, found = complete_trials(source)
    found_axes = axes(trials, params)
    rows = [ParallelRow(t.number, t.value, [t.params[a.name] for a in found_axes],
                        [position(a, t.params[a.name]) for a in found_axes])
            for t in trials if all(a.name in t.params for a in found_axes)]
    return ParallelInfo(found_axes, rows, direction or found)


def contour_info(source: Trials, x_param: str, y_param: str, size: int = 30,
                 power: float = 2.0) -> ContourInfo:
    """The objective over two params on a size x size grid, interpolated from the trials by
    inverse-distance weighting in axis coordinates (0..1 per axis)."""
    trials, _ = complete_trials(source)
    trials = [t for t in trials if x_param in t.params and y_param in t.params]
    if not trials:
        raise ValueError(f"contour: no complete trial has both {x_param!r} and {y_param!r}")
    x_axis, y_axis = axes(trials, [x_param, y_param])
    xs, ys = _grid(x_axis, size), _grid(y_axis, size)
    px = np.array([position(x_axis, t.params[x_param]) for t in trials])
    py = np.array([position(y_axis, t.params[y_param]) for t in trials])
    values = np.array([t.value for t in trials])
    gx = np.linspace(0, 1, len(xs))[None, :, None]
    gy = np.linspace(0, 1, len(ys))[:, None, None]
    distance = np.sqrt((gx - px) ** 2 + (gy - py) ** 2)  # (ny, nx, trials)
    weights = 1.0 / np.maximum(distance, 1e-9) ** power
    z = (weights * values).sum(-1) / weights.sum(-1)
    points = [(t.params[x_param], t.params[y_param], t.value) for t in trials]
    return ContourInfo(x_axis, y_axis, xs, ys, z.tolist(), points)


def _grid(axis: AxisInfo, size: int) -> list[float]:
    if axis.categories is not None:
        return [float(i) for i in range(len(axis.categories))]
    if axis.log:
        return np.geomspace(axis.low, axis.high, size).tolist()
    return np.linspace(axis.low, axis.high, size).tolist()
