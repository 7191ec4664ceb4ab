"""The loss surface around each run's weights: 1-D slices (one line a run) and a 2-D grid.

Rows come from the engine's SurfaceProbe on the "surface" channel, {run, step, kind, alpha,
loss}, and from the on-demand grid on "surface_2d", {run, step, alpha, beta, loss}. Lines
are drawn as the rise of the loss from the weights now, so runs at different losses compare
by shape: every line passes through (0, 0), a sharp minimum climbs steeply, a step that
jumped across a valley dips below 0 between -1 and 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from bokeh.core.properties import value
from bokeh.layouts import column
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    GlyphRenderer,
    HoverTool,
    LegendItem,
    LogColorMapper,
    Span,
    Title,
)
from bokeh.palettes import Viridis256

from playground.plots._base import (
    ACTIVE_LINE_WIDTH,
    DEFAULT_MAX_POINTS,
    DIM_ALPHA,
    LINE_WIDTH,
    SUBTITLE_FONT,
    RunPlot,
    SnapshotPlot,
    fit_legend,
    new_figure,
    new_legend,
)
from playground.plots.series import Columns, finite_or_nan

SLICE_KEYS = ("x", "y", "loss")
RISE_CAP = 3.0  # a rise drawn no higher than this: one wild line must not flatten the rest
SURFACE_FRAME = 170  # pixels of each slice figure's data area (two share a cell)
GRID_KEYS = ("image", "x", "y", "dw", "dh")
# What each slice figure shows: its kind of row, title, subtitle and x axis.
SLICES = {
    "random": ("Loss around the weights",
               "6 random directions; 0: the weights now",
               "distance (filter-normalised)", "loss − loss now"),
    "step": ("Loss along the last step",
             "-1: a step before, 0: now; each line to scale",
             "steps", "rise (to scale)"),
    "start": ("Loss from the start to now",
              "0: the initial weights, 1: now",
              "share of the way", "loss − loss now"),
}


def slice_columns(row: Mapping[str, Any], cap: float = RISE_CAP) -> Columns:
    """x: where along the line; y: the loss less the loss at the weights now (x = 0, or 1
    for a "start" row), no higher than `cap`; loss: the loss itself (for the hover).

    A "step" row is scaled to its own height (its highest point at 1): a small batch's step
    is many times a full batch's, and drawn to one scale the full batch's jump across its
    valley was a flat line. Its shape is the lesson: does it dip below 0 between -1 and 0?"""
    xs = [float(a) for a in row.get("alpha", [])]
    losses = [finite_or_nan(loss) for loss in row.get("loss", [])]
    at = 1.0 if row.get("kind") == "start" else 0.0
    here = next((loss for a, loss in zip(xs, losses) if abs(a - at) < 1e-9), math.nan)
    rises = [min(loss - here, cap) if math.isfinite(loss - here) else math.nan
             for loss in losses]
    if row.get("kind") == "step":
        finite = [rise for rise in rises if math.isfinite(rise)]
        height = max(finite, default=0.0) - min(finite, default=0.0)
        rises = [rise / height if height > 0 else rise for rise in rises]
    return {"x": xs, "y": rises, "loss": losses}


class GridInfo(NamedTuple):
    """The 2-D grid as one image: corner, size, values (rows: beta), colour range."""

    image: np.ndarray  # rows: beta, row 0 at the bottom (Bokeh's image convention)
    x: float
    y: float
    dw: float
    dh: float
    low: float
    high: float


def grid_info(row: Mapping[str, Any]) -> GridInfo:
    """An image of the loss over (alpha, beta); its colours span the finite losses."""
    alphas, betas = list(row["alpha"]), list(row["beta"])
    image = np.asarray([[finite_or_nan(loss) for loss in line] for line in row["loss"]],
                       dtype=float)
    finite = [float(loss) for loss in image.flat if math.isfinite(loss) and loss > 0]
    low = min(finite, default=1e-3)
    high = max(finite, default=1.0)
    step_a = (alphas[-1] - alphas[0]) / max(len(alphas) - 1, 1)
    step_b = (betas[-1] - betas[0]) / max(len(betas) - 1, 1)
    return GridInfo(image, alphas[0] - step_a / 2, betas[0] - step_b / 2,
                    alphas[-1] - alphas[0] + step_a, betas[-1] - betas[0] + step_b,
                    low, max(high, low * 1.001))


class _Slice(NamedTuple):
    kind: str
    figure: Any
    legend: Any
    hover: HoverTool
    here: Span  # the dotted line at the weights now


class LossSurfacePlot(RunPlot):
    """Two figures in one column: the loss around each run's weights along random
    directions (named "loss_surface"), and along its last step (or from its start, see
    `set_path`). One line a run in each, its latest slice; the active run bold."""

    name = "loss_surface"

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = False,
                 frame_height: int = SURFACE_FRAME) -> None:
        super().__init__(max_points, thin)
        self._slices = [self._make_slice("random", self.name, frame_height),
                        self._make_slice("step", f"{self.name}_path", frame_height)]
        self.figure = self._slices[0].figure
        self.path_figure = self._slices[1].figure
        self.layout = column(self.figure, self.path_figure, sizing_mode="stretch_width")
        self._latest: dict[str, dict[str, Mapping[str, Any]]] = {}  # run -> kind -> row
        self._sources: dict[str, list[ColumnDataSource]] = {}  # run -> one per figure
        self._lines: dict[str, list[GlyphRenderer]] = {}
        self._items: dict[str, list[LegendItem]] = {}

    def _make_slice(self, kind: str, name: str, frame_height: int) -> _Slice:
        title, subtitle, x_label, y_label = SLICES[kind]
        fig = new_figure(name, title, x_label, y_label, frame_height=frame_height)
        subtitle_model = Title(text=subtitle, text_font_size=SUBTITLE_FONT,
                               text_font_style="normal", text_color="#444444")
        fig.add_layout(subtitle_model, "above")
        here = Span(location=0, dimension="height", line_color="#888888", line_dash="dotted",
                    line_width=2)
        fig.add_layout(here)
        legend = new_legend(fig)
        hover = HoverTool(renderers=[], tooltips=[("run", "$name"), ("at", "@x{0.[00]}"),
                                                  ("loss", "@loss{%.4g}"),
                                                  ("loss − loss now", "@y{%.3g}")],
                          formatters={"@loss": "printf", "@y": "printf"})
        fig.add_tools(hover)
        return _Slice(kind, fig, legend, hover, here)

    # --- public ----------------------------------------------------------------------------
    @property
    def path_kind(self) -> str:
        """What the second figure shows: "step" (along the last step) or "start"."""
        return self._slices[1].kind

    def set_path(self, kind: str) -> None:
        """The second figure along the last step ("step") or from the initial weights to now
        ("start"); each run's latest row of that kind is drawn."""
        if kind not in ("step", "start"):
            raise ValueError(f"path: {kind!r} is not allowed; allowed: step, start")
        if kind == self.path_kind:
            return
        old = self._slices[1]
        self._slices[1] = old._replace(kind=kind)
        title, subtitle, x_label, y_label = SLICES[kind]
        old.figure.title.text = title
        old.figure.yaxis[0].axis_label = y_label
        for model in old.figure.above:
            if isinstance(model, Title) and model is not old.figure.title:
                model.text = subtitle
        old.figure.xaxis[0].axis_label = x_label
        old.here.location = 1.0 if kind == "start" else 0.0
        for run_id in self._lines:
            self._draw(run_id)

    def latest(self, run_id: str, kind: str) -> Mapping[str, Any] | None:
        return self._latest.get(run_id, {}).get(kind)

    def source(self, run_id: str, kind: str = "random") -> ColumnDataSource:
        """The data source of a run's line in the figure that shows `kind`."""
        index = [part.kind for part in self._slices].index(kind)
        return self._sources[run_id][index]

    def push(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Keep each run's newest row of each kind; redraw the runs that got one."""
        changed = []
        for row in rows:
            run_id, kind = row.get("run"), row.get("kind")
            if run_id is None or kind not in SLICES:
                continue
            self._ensure([run_id])
            kept = self._latest.setdefault(run_id, {})
            old = kept.get(kind)
            if old is None or row.get("step", 0) >= old.get("step", 0):
                kept[kind] = row
                changed.append(run_id)
        for run_id in dict.fromkeys(changed):
            self._draw(run_id)

    def load(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """A run's history: its latest slices replace what was drawn."""
        self._ensure([run_id])
        self._latest[run_id] = {}
        self.push([row for row in rows if row.get("run", run_id) == run_id])
        self._draw(run_id)

    # --- drawing ---------------------------------------------------------------------------
    def _draw(self, run_id: str) -> None:
        if run_id not in self._sources:
            return
        kept = self._latest.get(run_id, {})
        for part, source in zip(self._slices, self._sources[run_id]):
            row = kept.get(part.kind)
            columns = slice_columns(row) if row is not None else {k: [] for k in SLICE_KEYS}
            if dict(source.data) != columns:
                source.data = columns

    def _on_add(self, run_id: str) -> None:
        color = self.color(run_id)
        self._sources[run_id], self._lines[run_id], self._items[run_id] = [], [], []
        for part in self._slices:
            source = ColumnDataSource({key: [] for key in SLICE_KEYS})
            line = part.figure.line("x", "y", source=source, line_color=color,
                                    line_width=LINE_WIDTH)
            item = LegendItem(label=value(""), renderers=[line])
            part.hover.renderers = [*part.hover.renderers, line]
            part.legend.items = [*part.legend.items, item]
            part.legend.visible = True
            self._sources[run_id].append(source)
            self._lines[run_id].append(line)
            self._items[run_id].append(item)
        self._draw(run_id)
        self._on_visible(run_id)
        self._on_active()

    def _on_remove(self, run_id: str) -> None:
        gone = set(self._lines.pop(run_id, []))
        items = set(self._items.pop(run_id, []))
        self._sources.pop(run_id, None)
        self._latest.pop(run_id, None)
        for part in self._slices:
            part.figure.renderers = [r for r in part.figure.renderers if r not in gone]
            part.hover.renderers = [r for r in part.hover.renderers if r not in gone]
            part.legend.items = [item for item in part.legend.items if item not in items]
            part.legend.visible = bool(part.legend.items)
        self._on_active()

    def _on_visible(self, run_id: str) -> None:
        # A diverged run's slices are left out: its weights are far from any valley.
        shown = self._visible.get(run_id, True) and run_id not in self._diverged
        for line in self._lines.get(run_id, []):
            line.visible = shown

    def _on_diverged(self) -> None:
        for run_id in self._lines:
            self._on_visible(run_id)

    def _on_active(self) -> None:
        for run_id, lines in self._lines.items():
            dim = self._active not in (None, run_id)
            for line in lines:
                line.glyph.line_alpha = DIM_ALPHA if dim else 1.0
                line.glyph.line_width = ACTIVE_LINE_WIDTH if self._active == run_id else LINE_WIDTH

    def _on_relabel(self) -> None:
        labels, names = self.legend, self.names
        for run_id, items in self._items.items():
            for item in items:
                if getattr(item.label, "value", None) != labels[run_id]:
                    item.label = value(labels[run_id])
            for line in self._lines[run_id]:
                line.name = names[run_id]
        for part in self._slices:
            fit_legend(part.legend, labels.values())


class LossGridPlot(SnapshotPlot):
    """The loss over two filter-normalised random directions through the shown run's
    weights (the centre), on a log colour scale; made on demand (refresh loss surface)."""

    name = "loss_grid"
    title = "Loss in 2-D"
    empty_subtitle = "press refresh loss surface"

    def __init__(self, height: int = 420) -> None:
        super().__init__()
        self.figure = new_figure(self.name, self.title, "direction 1 (+: the weights now)",
                                 "direction 2", height=height, match_aspect=True)
        self.subtitle = Title(text=self.empty_subtitle, text_font_size=SUBTITLE_FONT,
                              text_font_style="normal", text_color="#444444")
        self.figure.add_layout(self.subtitle, "above")
        self.figure.x_range.range_padding = self.figure.y_range.range_padding = 0
        self.figure.grid.visible = False
        self.layout = self.figure
        self.mapper = LogColorMapper(palette=Viridis256, low=0.01, high=1.0)
        self.source = ColumnDataSource({key: [] for key in GRID_KEYS})
        self._image = self.figure.image(image="image", x="x", y="y", dw="dw", dh="dh",
                                        source=self.source, color_mapper=self.mapper)
        self.figure.scatter([0], [0], marker="cross", size=18, line_color="white",
                            line_width=3)  # the weights now
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, width=12,
                                        major_label_text_font_size="12pt"), "right")
        self.figure.add_tools(HoverTool(renderers=[self._image],
                                        tooltips=[("loss", "@image{%.4g}"), ("at", "($x, $y)")],
                                        formatters={"@image": "printf"}))

    def _renderers(self) -> list[Any]:
        return [self._image]

    def _draw(self, run_id: str | None, row: Mapping[str, Any] | None) -> None:
        if row is None:
            self.source.data = {key: [] for key in GRID_KEYS}
            self.subtitle.text = self.empty_subtitle
            return
        info = grid_info(row)
        if (self.mapper.low, self.mapper.high) != (info.low, info.high):
            self.mapper.update(low=info.low, high=info.high)
        self.source.data = {"image": [info.image], "x": [info.x], "y": [info.y],
                            "dw": [info.dw], "dh": [info.dh]}
        labels = self.legend  # the run in the subtitle: a long name in the title ran off
        self.subtitle.text = (f"{labels[run_id]}, step {row.get('step', 0)}" if run_id in labels
                              else f"step {row.get('step', 0)}")
