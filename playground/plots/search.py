"""Bokeh figures of a search: importance bars, optimisation history, slices, parallel
coordinates, a two-parameter contour and a one-at-a-time sensitivity curve.

Each function renders the plain data that `playground.sweeps.views` computes (NamedTuples,
read by attribute), so this module imports neither torch, optuna nor the engine. Colours are
Okabe-Ito for marks and Cividis for the objective, both readable with colour blindness.
Every figure carries a `name` ("importance", "history", "slice:lr", ...) for browser tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FactorRange,
    FixedTicker,
    LinearColorMapper,
)
from bokeh.palettes import Cividis256
from bokeh.plotting import figure

from playground.plots._base import new_figure, style
from playground.plots.series import PALETTE

BAR_COLOR = PALETTE[0]  # blue
BEST_COLOR = PALETTE[1]  # vermillion: the best-so-far line and the best trial
POINT_COLOR = PALETTE[0]
OBJECTIVE_PALETTE = Cividis256  # dark = low; reversed for a maximised metric
SMALL_HEIGHT = 260


def _objective_mapper(values: Sequence[float], direction: str = "minimize",
                      ) -> LinearColorMapper:
    """Objective -> colour; the best end is always the bright yellow of Cividis."""
    finite = [v for v in values if v is not None and math.isfinite(v)] or [0.0, 1.0]
    palette = list(reversed(OBJECTIVE_PALETTE)) if direction == "minimize" else OBJECTIVE_PALETTE
    low, high = min(finite), max(finite)
    return LinearColorMapper(palette=palette, low=low, high=high if high > low else low + 1)


def _category_ticks(fig: figure, axis: str, categories: Sequence[Any]) -> None:
    """A categorical parameter drawn on numeric positions 0..n-1, labelled by its choices."""
    target = fig.xaxis if axis == "x" else fig.yaxis
    target.ticker = FixedTicker(ticks=list(range(len(categories))))
    target.major_label_overrides = {i: str(c) for i, c in enumerate(categories)}


def importance_figure(info: Any, title: str | None = None) -> figure:
    """Horizontal bars, most important on top; `info`: ImportanceInfo."""
    params = list(info.params) or ["(too few finished trials)"]
    values = list(info.importances) or [0.0]
    order = list(reversed(params))  # Bokeh draws the first factor at the bottom
    fig = figure(name="importance", title=title or f"Importance ({info.evaluator})",
                 x_axis_label="importance", y_range=FactorRange(*order),
                 x_range=(0, max(1.0, max(values) * 1.1)), height=max(180, 70 + 45 * len(params)),
                 sizing_mode="stretch_width", tools="save", toolbar_location="above")
    style(fig)
    source = ColumnDataSource({"param": params, "importance": values,
                               "label": [f"{v:.2f}" for v in values]})
    fig.hbar(y="param", right="importance", height=0.7, source=source, color=BAR_COLOR)
    fig.text(x="importance", y="param", text="label", source=source, x_offset=6,
             text_baseline="middle", text_font_size="13pt")
    fig.ygrid.grid_line_color = None
    return fig


def history_figure(info: Any, metric: str = "val_loss") -> figure:
    """Each trial's value and the best so far; `info`: HistoryInfo."""
    fig = new_figure("history", "Optimisation history", "trial", metric)
    fig.scatter(info.numbers, info.values, size=9, color=POINT_COLOR, alpha=0.7,
                legend_label="trial")
    fig.step(info.numbers, info.best, mode="after", line_width=3, color=BEST_COLOR,
             legend_label="best so far")
    fig.legend.location = "top_right" if info.direction == "minimize" else "bottom_right"
    fig.legend.label_text_font_size = "13pt"
    return fig


def slice_figure(info: Any, metric: str = "val_loss") -> figure:
    """The metric against one parameter, a point per trial; `info`: SliceInfo."""
    axis = info.axis
    categorical = axis.categories is not None
    x = [axis.categories.index(v) for v in info.x] if categorical else list(info.x)
    fig = new_figure(f"slice:{axis.name}", axis.name, axis.name, metric, height=SMALL_HEIGHT,
                     x_axis_type="log" if axis.log and not categorical else "linear")
    source = ColumnDataSource({"x": x, "y": list(info.y), "trial": list(info.numbers)})
    fig.scatter("x", "y", source=source, size=9, alpha=0.75, color=POINT_COLOR)
    if categorical:
        _category_ticks(fig, "x", axis.categories)
    return fig


def slice_figures(infos: Sequence[Any], metric: str = "val_loss") -> list[figure]:
    return [slice_figure(info, metric) for info in infos]


def parallel_figure(info: Any, metric: str = "val_loss") -> figure:
    """One line per trial across the parameters' axes (each scaled 0..1, log axes in log),
    coloured by the objective; `info`: ParallelInfo."""
    names = [axis.name for axis in info.axes]
    fig = new_figure("parallel", "Parallel coordinates", "", "position in range",
                     x_range=(-0.3, max(len(names) - 0.7, 0.7)), y_range=(-0.12, 1.12))
    fig.segment(x0=list(range(len(names))), y0=[0.0] * len(names), x1=list(range(len(names))),
                y1=[1.0] * len(names), color="#888888", line_width=2)
    mapper = _objective_mapper([row.objective for row in info.rows], info.direction)
    source = ColumnDataSource({"xs": [list(range(len(names))) for _ in info.rows],
                               "ys": [list(row.positions) for row in info.rows],
                               "objective": [row.objective for row in info.rows]})
    fig.multi_line("xs", "ys", source=source, line_width=2, alpha=0.8,
                   color={"field": "objective", "transform": mapper})
    _category_ticks(fig, "x", names)
    for i, axis in enumerate(info.axes):  # the ends of each axis, as values
        low, high = ((axis.categories[0], axis.categories[-1]) if axis.categories is not None
                     else (_fmt(axis.low), _fmt(axis.high)))
        fig.text([i, i], [-0.07, 1.07], text=[str(low), str(high)], text_align="center",
                 text_baseline="middle", text_font_size="11pt", color="#444444")
    fig.add_layout(ColorBar(color_mapper=mapper, title=metric, width=12,
                            major_label_text_font_size="12pt"), "right")
    return fig


def contour_figure(info: Any, metric: str = "val_loss", direction: str = "minimize",
                   levels: int = 10) -> figure:
    """Filled contours of the objective over two parameters, trials as points;
    `info`: ContourInfo (xs, ys log-spaced on log axes, so the contours sit right)."""
    x_cat, y_cat = info.x.categories is not None, info.y.categories is not None
    fig = new_figure("contour", f"{metric} over {info.x.name} and {info.y.name}", info.x.name,
                     info.y.name, height=380,
                     x_axis_type="log" if info.x.log and not x_cat else "linear",
                     y_axis_type="log" if info.y.log and not y_cat else "linear")
    flat = [z for row in info.z for z in row]
    low, high = min(flat), max(flat)
    palette = list(reversed(OBJECTIVE_PALETTE)) if direction == "minimize" else OBJECTIVE_PALETTE
    if high > low and len(info.xs) > 1 and len(info.ys) > 1:
        steps = [low + (high - low) * i / levels for i in range(levels + 1)]
        colors = [palette[round(i * (len(palette) - 1) / (levels - 1))] for i in range(levels)]
        xs = [list(info.xs) for _ in info.ys]
        ys = [[y] * len(info.xs) for y in info.ys]
        fig.contour(xs, ys, info.z, steps, fill_color=colors, line_color="white",
                    line_alpha=0.4)
    px = [_on_axis(info.x, p[0]) for p in info.points]
    py = [_on_axis(info.y, p[1]) for p in info.points]
    fig.scatter(px, py, size=9, color="black", fill_color="white", line_width=2)
    if x_cat:
        _category_ticks(fig, "x", info.x.categories)
    if y_cat:
        _category_ticks(fig, "y", info.y.categories)
    mapper = LinearColorMapper(palette=palette, low=low, high=high if high > low else low + 1)
    fig.add_layout(ColorBar(color_mapper=mapper, title=metric, width=12,
                            major_label_text_font_size="12pt"), "right")
    return fig


def sensitivity_figure(field: str, values: Sequence[Any], metrics: Sequence[float | None],
                       current: Any = None, metric: str = "val_loss", log: bool = False,
                       ) -> figure:
    """A one-at-a-time curve: the metric as one field varies around the current config;
    the current value is marked. Runs that failed have no point."""
    categorical = any(isinstance(v, (str, bool)) for v in values)
    x = list(range(len(values))) if categorical else list(values)
    kept = [(xi, m) for xi, m in zip(x, metrics) if m is not None and math.isfinite(m)]
    fig = new_figure("sensitivity", f"Sensitivity to {field}", field, metric,
                     x_axis_type="log" if log and not categorical else "linear")
    if kept:
        fig.line([k[0] for k in kept], [k[1] for k in kept], line_width=3, color=BAR_COLOR)
        fig.scatter([k[0] for k in kept], [k[1] for k in kept], size=10, color=BAR_COLOR)
    if current is not None and current in list(values):
        i = list(values).index(current)
        if metrics[i] is not None and math.isfinite(metrics[i]):
            fig.scatter([x[i]], [metrics[i]], size=16, marker="star", color=BEST_COLOR,
                        legend_label="current")
            fig.legend.label_text_font_size = "13pt"
    if categorical:
        _category_ticks(fig, "x", [str(v) for v in values])
    return fig


def _on_axis(axis: Any, value: Any) -> float:
    return float(axis.categories.index(value)) if axis.categories is not None else float(value)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


__all__ = ["contour_figure", "history_figure", "importance_figure", "parallel_figure",
           "sensitivity_figure", "slice_figure", "slice_figures", "style"]
