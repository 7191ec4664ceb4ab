"""Pure data layer of the curve plots: colours, legend labels, decimation, column builders.

Nothing here knows Bokeh: functions take the plain row dicts the training thread produces
and return plain dicts of lists, ready for `ColumnDataSource.stream`. Tested without a
browser, like Optuna's `visualization` info builders.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from playground.config import HParams

# Okabe-Ito, ordered for a projector: a lesson draws up to six runs, and its six are the
# six most distinct (sgd and adamw were blue and sky blue, one blur on a washed-out screen).
# Sky blue, close to blue, comes eighth; brown and grey extend it to ten, so ten runs drawn
# at once repeat no colour. Yellow is left out: too faint on white.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#000000",  # black
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#882255",  # wine
    "#56B4E9",  # sky blue
    "#8C564B",  # brown
    "#7F7F7F",  # grey
)

Columns = dict[str, list[Any]]
CURVE_KEYS = ("step", "y", "epoch", "lr", "seconds")
NORM_KEYS = ("step", "grad_norm", "weight_norm")


def color_at(index: int) -> str:
    """The palette colour for the index-th run, cycling when there are more runs than colours."""
    return PALETTE[index % len(PALETTE)]


class ColorCycle:
    """Hands out a stable colour per run id; a run keeps its colour while it exists. A new
    run gets the first colour no run has: after the plots are cleared, a lesson's runs start
    from the first colour again; past the palette, colours repeat in order."""

    def __init__(self) -> None:
        self._colors: dict[str, str] = {}
        self._next = 0

    def get(self, run_id: str) -> str:
        if run_id not in self._colors:
            taken = set(self._colors.values())
            free = [color for color in PALETTE if color not in taken]
            self._colors[run_id] = free[0] if free else color_at(self._next)
            self._next += 1
        return self._colors[run_id]

    def forget(self, run_id: str) -> None:
        self._colors.pop(run_id, None)

    def reset(self) -> None:
        self._colors.clear()
        self._next = 0


# --- legend labels ---------------------------------------------------------------------------

MAX_LABEL = 20  # characters of a legend entry: "lr=0.1 (about right)" whole, and narrow


def short_id(run_id: str, index: int = 0) -> str:
    """A short readable name: the id itself when short, its tail when long, else "run N"."""
    text = str(run_id or "").strip()
    if not text:
        return f"run {index + 1}"
    return text if len(text) <= 12 else text[-8:]


def cut(text: str, limit: int = MAX_LABEL) -> str:
    """`text` on one line, at most `limit` characters: a longer one ends in an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def run_label(name: str | None, run_id: str, index: int = 0) -> str:
    """A run's legend entry: its name (a lesson's label for its runs), else a short id; cut
    to `MAX_LABEL` characters so that ten of them fit beside each other under a plot."""
    text = " ".join(str(name or "").split())
    return cut(text or short_id(run_id, index))


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def differing_fields(configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Fields whose values are not the same in every config, in HParams order, then by name.

    A field missing from a config counts as HParams' default (or None for unknown fields).
    """
    specs = HParams.specs()
    defaults = HParams().to_dict()
    names = {name for config in configs.values() for name in config}
    ordered = [name for name in specs if name in names] + sorted(names - set(specs))
    differ = []
    for name in ordered:
        values = {repr(config.get(name, defaults.get(name))) for config in configs.values()}
        if len(values) > 1:
            differ.append(name)
    return differ


def field_label(name: str) -> str:
    """A hyperparameter's label ("learning rate" for "lr"); an unknown field's own name."""
    specs = HParams.specs()
    return specs[name].label if name in specs else name


def differing_values(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Run id -> field -> value as text, for each hyperparameter that differs between the runs
    (in `differing_fields` order); empty for a single run or identical configs."""
    fields = differing_fields(configs) if len(configs) > 1 else []
    defaults = HParams().to_dict()
    return {run_id: {name: _format_value(config.get(name, defaults.get(name)))
                     for name in fields}
            for run_id, config in configs.items()}


def differences(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Run id -> "learning rate=0.1, depth=4": what sets the run apart ("" when nothing does).
    Shown on hover and in the runs table, not in the legend, where it took the plot's width."""
    return {run_id: ", ".join(f"{field_label(name)}={text}" for name, text in values.items())
            for run_id, values in differing_values(configs).items()}


def legend_columns(labels: Iterable[str], width: int = 310, char_px: float = 7.2,
                   entry_px: int = 36, most: int = 6) -> int:
    """How many entries a legend under a plot puts in a row: as many of the longest as fit in
    `width` pixels, with `char_px` per character at the legend's 11pt font and `entry_px` for
    the swatch and the gaps. A legend starts under the data area, not the figure's edge: with
    two figures a row at 1366x768 that leaves 316-335 px (the figure is 408, its y axis takes
    the rest). At 360 the third "lr=0.003375" ran 8-17 px off the accuracy and lr figures."""
    longest = max((len(text) for text in labels), default=0)
    return max(1, min(most, int(width // (entry_px + longest * char_px))))


# --- diverged runs ---------------------------------------------------------------------------

EXPLODE_FACTOR = 1e4  # a loss this many times its first counts as diverged (as the engine's)


def explodes(values: Iterable[float], first: float) -> bool:
    """Whether a loss went non-finite (nan: see `finite_or_nan`) or reached `EXPLODE_FACTOR`
    times its `first` value: the trainer's own test for a diverged run."""
    limit = EXPLODE_FACTOR * max(abs(first), 1e-3)
    return any(not (v <= limit) for v in values)  # nan compares false


def finite_max(lines: Iterable[Sequence[float]]) -> float | None:
    """The largest finite value over several lines; None when there is none."""
    top = None
    for values in lines:
        for v in values:
            if math.isfinite(v) and (top is None or v > top):
                top = v
    return top


def exit_point(steps: Sequence[int], values: Sequence[float], top: float | None
               ) -> tuple[int, float] | None:
    """Where a diverged curve leaves a plot whose data reach up to `top`: its last point
    before it first goes above `top` or non-finite (its first point, held at `top`, when that
    is already above). With no `top` (no other curve), or never leaving, its last finite
    point. None for a curve without a finite point."""
    last = None
    for step, v in zip(steps, values):
        finite = math.isfinite(v)
        if top is not None and (not finite or v > top):
            if last is not None:
                return last
            if finite:
                return step, top
        elif finite:
            last = (step, v)
    return last


# --- decimation ------------------------------------------------------------------------------

def decimate_indices(length: int, max_points: int) -> list[int]:
    """Evenly spaced indices into a sequence of `length`, at most `max_points`, ends kept."""
    if max_points < 2:
        raise ValueError(f"max_points: {max_points!r} is not allowed; allowed: at least 2")
    if length <= max_points:
        return list(range(length))
    last = length - 1
    # Rounded even spacing: strictly increasing because last >= max_points.
    return [round(i * last / (max_points - 1)) for i in range(max_points)]


def decimate(xs: Sequence[Any], ys: Sequence[Any], max_points: int) -> tuple[list, list]:
    """Thin a curve to at most `max_points` points, keeping the first and the last."""
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys differ in length: {len(xs)} and {len(ys)}")
    keep = decimate_indices(len(xs), max_points)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def decimate_columns(columns: Columns, max_points: int) -> Columns:
    """Thin every column of a column dict by the same indices."""
    length = len(next(iter(columns.values()), []))
    keep = decimate_indices(length, max_points)
    return {key: [values[i] for i in keep] for key, values in columns.items()}


class Thinning:
    """Which points of a growing line to keep so that it holds at most `max_points` and still
    shows its whole history, evenly spaced: every point until the line is full; then the line
    is halved and one new point in two is kept, one in four after it fills again, and so on.
    A line offered n points is re-sent whole only log2(n / max_points) times, and a long run
    streams ever fewer points (rollover instead keeps only the newest `max_points`)."""

    def __init__(self, max_points: int) -> None:
        if max_points < 2:
            raise ValueError(f"max_points: {max_points!r} is not allowed; allowed: at least 2")
        self.max_points = max_points
        self.every = 1  # one point kept in `every` offered
        self.offered = 0  # points offered so far: point i is kept when i % every == 0

    def take(self, held: int, count: int) -> tuple[int, slice]:
        """For a line holding `held` kept points, offered `count` more: by how much to thin
        what it holds first (keep one point in that many; 1: leave it), and which of the
        `count` new points to keep."""
        thin = 1
        while held + self._kept(count) > self.max_points:
            held, thin, self.every = (held + 1) // 2, thin * 2, self.every * 2
        keep = slice((-self.offered) % self.every, None, self.every)
        self.offered += count
        return thin, keep

    def _kept(self, count: int) -> int:
        return len(range((-self.offered) % self.every, count, self.every))


# --- column builders -------------------------------------------------------------------------

def finite_or_nan(value: Any) -> float:
    """A float for plotting: nan for None, inf and anything that is not a number (line gap)."""
    if type(value) is float and -math.inf < value < math.inf:  # the usual case, quickly
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _empty(keys: Iterable[str]) -> Columns:
    return {key: [] for key in keys}


def curve_columns(rows: Iterable[Mapping[str, Any]], value: str = "loss"
                  ) -> dict[str, dict[str, Columns]]:
    """Point rows -> run -> split ("train"/"val") -> columns step, y, epoch, lr, seconds.

    Rows whose `value` is missing or None are skipped (no R² for a regression batch of one);
    nan and inf become nan so the line shows a gap rather than breaking the axis range.
    """
    out: dict[str, dict[str, Columns]] = {}
    lines: dict[tuple[str, str], tuple[list, ...]] = {}  # (run, split) -> its five columns
    for row in rows:  # the pump's hot loop: a few thousand rows a second
        y = row.get(value)
        if y is None:
            continue
        key = (row["run"], row.get("split", "train"))
        line = lines.get(key)
        if line is None:
            columns = out.setdefault(key[0], {})[key[1]] = _empty(CURVE_KEYS)
            line = lines[key] = tuple(columns[name] for name in CURVE_KEYS)
        step, ys, epoch, lr, seconds = line
        step.append(int(row.get("step", 0)))
        ys.append(finite_or_nan(y))
        epoch.append(row.get("epoch", 0))
        lr.append(finite_or_nan(row.get("lr")))
        seconds.append(finite_or_nan(row.get("seconds")))
    return out


def lr_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, Columns]:
    """Point rows -> run -> columns step, y (the learning rate), epoch, lr, seconds.

    Train rows carry the rate in force at each logged step; val rows repeat it, so they are
    used only for runs that logged no train rows in this batch.
    """
    by_run = curve_columns(rows, value="lr")
    return {run: splits.get("train") or splits.get("val") or _empty(CURVE_KEYS)
            for run, splits in by_run.items()}


def layer_norm_columns(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Columns]]:
    """Layer-norm rows -> run -> layer -> columns step, grad_norm, weight_norm.

    Norms of zero or below become nan: they have no place on the log axis these are drawn on.
    """
    out: dict[str, dict[str, Columns]] = {}
    for row in rows:
        columns = out.setdefault(row["run"], {}).setdefault(str(row["layer"]), _empty(NORM_KEYS))
        columns["step"].append(int(row.get("step", 0)))
        for key in ("grad_norm", "weight_norm"):
            number = finite_or_nan(row.get(key))
            columns[key].append(number if number > 0 else math.nan)
    return out


class Marker(NamedTuple):
    """A live hyperparameter change to mark on a curve."""

    step: int
    field: str
    message: str


def change_markers(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Marker]]:
    """Event rows -> run -> markers for the "change" events (other kinds are not drawn)."""
    specs = HParams.specs()
    out: dict[str, list[Marker]] = {}
    for event in events:
        if event.get("kind") != "change":
            continue
        name = str(event.get("field") or "")
        message = event.get("message") or ""
        if not message:
            label = specs[name].label if name in specs else name
            message = f"{label}: {_format_value(event.get('old'))} → " \
                      f"{_format_value(event.get('new'))}"
        out.setdefault(event["run"], []).append(
            Marker(int(event.get("step", 0)), name, str(message)))
    return out


def value_at(steps: Sequence[int], values: Sequence[float], step: int) -> float | None:
    """The last finite value at or before `step` (else the first after); None if there is none.

    Used to sit an event marker on its curve. `steps` must be sorted.
    """
    i = bisect_right(steps, step)
    for j in range(i - 1, -1, -1):
        if math.isfinite(values[j]):
            return values[j]
    for j in range(i, len(steps)):
        if math.isfinite(values[j]):
            return values[j]
    return None
