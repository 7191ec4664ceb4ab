"""Search spaces read from the HParams metadata: Optuna distributions, narrowed ranges, grids.

A field's Spec already says its range, its scale and its choices; a sweep searches exactly
that unless told a narrower range. Every override is checked against the Spec, and a bad one
raises HParamsError naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from playground.config import SEARCHABLE, HParams, HParamsError, Spec

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

# Optuna loads when a distribution is made, not with this module: the CLI and the app read
# --search and check plans without it.
Space: TypeAlias = "dict[str, BaseDistribution]"
# An override: (low, high) narrows a numeric range; a list gives the values to try;
# an Optuna distribution is taken as it is (its bounds still checked).
Override = Any

GRID_POINTS = 5  # values per float field in a grid (log-spaced for log fields)
GRID_INT_MAX = 16  # an int field with at most this many values is gridded on every value
GRID_MAX = 10_000  # most grid points a grid sweep may have


def default_space(fields: Iterable[str] = (), ranges: Mapping[str, Override] | None = None,
                  ) -> Space:
    """Optuna distributions for `fields` (and every field named in `ranges`), in that order.

    Log-scale fields are searched on a log scale; a log field whose low is 0 ("off", like
    weight_decay) is searched from its smallest non-zero value. Choices and booleans are
    categorical. `ranges` narrows fields: {"lr": (1e-4, 1), "optimizer": ["sgd", "adam"]}.
    """
    ranges = dict(ranges or {})
    specs = HParams.specs()
    names = list(dict.fromkeys([*fields, *ranges]))
    if not names:
        raise HParamsError("search", [], "at least one field of HParams: " + ", ".join(specs))
    space: Space = {}
    for name in names:
        if name not in specs:
            raise HParamsError(name, ranges.get(name, "?"),
                               "a field of HParams: " + ", ".join(specs))
        check_searchable(name, ranges.get(name, name))
        space[name] = distribution(name, specs[name], ranges.get(name))
    return space


def check_searchable(name: str, value: Any) -> None:
    """A sweep varies only the fields whose Spec says so: never the seed (2**31 values that
    say nothing about the model) or the data set."""
    if name not in SEARCHABLE:
        raise HParamsError(name, value, "a field a sweep can vary: " + ", ".join(SEARCHABLE))


def distribution(name: str, spec: Spec, override: Override = None) -> BaseDistribution:
    """The distribution of one field: its whole range, or the override checked against it."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    log = spec.scale == "log"
    if override is None:
        if spec.kind == "choice":
            return CategoricalDistribution(spec.choices)
        if spec.kind == "bool":
            return CategoricalDistribution((False, True))
        low = spec.log_low if log and spec.low == 0 else spec.low
        if spec.zero is not None and low == 0:  # 0 is not an amount (epochs: until stopped)
            low = 1
        if spec.kind == "int":
            return IntDistribution(int(low), int(spec.high), log=log)
        return FloatDistribution(low, spec.high, log=log)
    if isinstance(override, BaseDistribution):
        return _checked_distribution(name, spec, override)
    if isinstance(override, (list, set, frozenset)) or spec.kind in ("choice", "bool"):
        values = [_value(name, spec, value) for value in _as_list(name, spec, override)]
        if not values:
            raise HParamsError(name, override, "at least one value: " + spec.allowed())
        return CategoricalDistribution(tuple(dict.fromkeys(values)))
    if not isinstance(override, tuple) or len(override) != 2:
        raise HParamsError(name, override, f"a range (low, high) within {spec.allowed()}, "
                           "or a list of values")
    low, high = (_value(name, spec, value) for value in override)
    if not low < high:
        raise HParamsError(name, override, f"a range (low, high) with low below high, "
                           f"within {spec.allowed()}")
    if log and low <= 0:
        raise HParamsError(name, override, f"a low above 0 on a log scale (at least "
                           f"{spec.log_low or spec.low:g}); list the values to include 0")
    if spec.kind == "int":
        return IntDistribution(low, high, log=log)
    return FloatDistribution(low, high, log=log)


def _as_list(name: str, spec: Spec, override: Override) -> list[Any]:
    if isinstance(override, (str, bool, int, float)):
        return [override]
    if isinstance(override, (set, frozenset)):
        return sorted(override, key=str)
    try:
        return list(override)
    except TypeError:
        raise HParamsError(name, override, "a list of values: " + spec.allowed()) from None


def _value(name: str, spec: Spec, value: Any) -> Any:
    value = spec.parse(name, value) if isinstance(value, str) else spec.check(name, value)
    if spec.zero is not None and value == 0:  # epochs 0 trains until Stop: a trial must end
        raise HParamsError(name, value, f"a whole number 1 to {spec.high:g} in a search "
                           f"(0, {spec.zero}, never ends)")
    return value


def _checked_distribution(name: str, spec: Spec, dist: BaseDistribution) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        for value in dist.choices:
            _value(name, spec, value)
    elif isinstance(dist, (FloatDistribution, IntDistribution)):
        if spec.kind not in ("int", "float"):
            raise HParamsError(name, repr(dist), spec.allowed())
        _value(name, spec, dist.low)
        _value(name, spec, dist.high)
    return dist


def parse_search(text: str) -> tuple[list[str], dict[str, Override]]:
    """Read `--search`: "lr,dropout" or "lr=1e-4:1,optimizer=sgd/adam,batch_size=16/32/64".

    `low:high` narrows a numeric range; `a/b/c` lists the values to try.
    """
    fields: list[str] = []
    ranges: dict[str, Override] = {}
    specs = HParams.specs()
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, _, values = (item.strip() for item in part.partition("="))
        name = name.replace("-", "_")
        if name not in specs:
            raise HParamsError(name, part, "a field of HParams: " + ", ".join(specs))
        fields.append(name)
        if not values:
            continue
        spec = specs[name]
        if ":" in values and spec.kind in ("int", "float"):
            low, _, high = values.partition(":")
            ranges[name] = (spec.parse(name, low), spec.parse(name, high))
        else:
            ranges[name] = [spec.parse(name, value) for value in values.split("/") if value]
    return fields, ranges


def grid_from_space(space: Space, points: int = GRID_POINTS) -> dict[str, list[Any]]:
    """The grid a grid sweep visits: choices as they are; ints on every value when there are
    at most GRID_INT_MAX, else on `points` values; floats on `points` values. Log fields are
    log-spaced. Nothing long is ever listed: `points` is checked first and an int range is
    counted before it is listed (a seed has 2**31 values), so no axis exceeds GRID_MAX."""
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= GRID_MAX:
        raise HParamsError("grid_points", points, f"a whole number 2 to {GRID_MAX}")
    grid = {name: _axis(dist, points) for name, dist in space.items()}
    size = math.prod(len(values) for values in grid.values())
    if size > GRID_MAX:
        shown = " x ".join(f"{len(values)} {name}" for name, values in grid.items())
        raise HParamsError("grid", size, f"at most {GRID_MAX} points ({shown[:80]}): fewer "
                           "grid points, narrower ranges or fewer fields")
    return grid


def _axis(dist: BaseDistribution, points: int) -> list[Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        if (dist.high - dist.low) // dist.step + 1 <= GRID_INT_MAX:  # counted, not listed
            return list(range(dist.low, dist.high + 1, dist.step))
        spaced = _spaced(dist.low, dist.high, points, dist.log)
        return sorted({min(max(round(v), dist.low), dist.high) for v in spaced})
    assert isinstance(dist, FloatDistribution)
    spaced = _spaced(dist.low, dist.high, points, dist.log)
    return [min(max(float(f"{v:.6g}"), dist.low), dist.high) for v in spaced]


def _spaced(low: float, high: float, points: int, log: bool) -> list[float]:
    values = np.geomspace(low, high, points) if log else np.linspace(low, high, points)
    return [float(v) for v in values]
