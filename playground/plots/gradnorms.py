"""Gradient norm of each layer against step, for one run at a time, on a log axis.

Vanishing and exploding gradients show as lines that sink or climb apart. Rows of every run
are kept (bounded) in Python so that switching the active run can show its history; the
shown run's lines grow by `stream`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, GlyphRenderer, HoverTool, LegendItem

from playground.plots._base import (
    DEFAULT_MAX_POINTS,
    LINE_WIDTH,
    RunPlot,
    new_figure,
    new_legend,
)
from playground.plots._graph import one_walk
from playground.plots.series import (
    NORM_KEYS,
    Columns,
    color_at,
    decimate_columns,
    layer_norm_columns,
)


class GradNormPlot(RunPlot):
    """One line per layer (coloured by layer) for the active run, else the newest run."""

    name = "grad_norms"

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = False,
                 height: int = 320) -> None:
        super().__init__(max_points, thin)
        self.figure = new_figure(self.name, "Gradient norm per layer", "step", "gradient norm",
                                 height=height, y_axis_type="log")
        self.layout = self.figure
        self._legend = new_legend(self.figure)
        self._hover = HoverTool(renderers=[], tooltips=[
            ("layer", "$name"), ("step", "@step"), ("gradient norm", "@grad_norm{%.3g}"),
            ("weight norm", "@weight_norm{%.3g}")],
            formatters={"@grad_norm": "printf", "@weight_norm": "printf"})
        self.figure.add_tools(self._hover)
        self._history: dict[str, dict[str, Columns]] = {}  # run -> layer -> columns
        self._sources: dict[str, ColumnDataSource] = {}  # layer -> source of the shown run
        self._lines: dict[str, GlyphRenderer] = {}
        self._showing: str | None = None
        self._stale = False

    def source(self, layer: str) -> ColumnDataSource:
        return self._sources[layer]

    @property
    def showing(self) -> str | None:
        """The run whose layers are drawn."""
        return self._showing

    def push(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Keep every run's new norms; stream the shown run's (one call per layer)."""
        by_run = layer_norm_columns(rows)
        self._ensure(by_run)
        for run_id, layers in by_run.items():
            history = self._history.setdefault(run_id, {})
            if run_id == self._showing:
                self._add_layers(layers)
            for layer, columns in layers.items():
                kept = history.setdefault(layer, {key: [] for key in NORM_KEYS})
                for key in NORM_KEYS:
                    kept[key].extend(columns[key])
                if len(kept["step"]) > self.max_points:
                    # Same rule as the drawn line (see RunPlot._grow): thin, or drop the oldest.
                    history[layer] = (decimate_columns(kept, self.max_points // 2) if self.thin
                                      else {k: v[-self.max_points:] for k, v in kept.items()})
                if run_id == self._showing:
                    self._grow(self._layer_source(layer), columns)

    def load(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace a run's norms with a full history, thinned to `max_points` per layer."""
        self._ensure([run_id])
        layers = layer_norm_columns(r for r in rows if r.get("run") == run_id).get(run_id, {})
        self._history[run_id] = {layer: decimate_columns(columns, self.max_points)
                                 for layer, columns in layers.items()}
        if run_id == self._showing:
            self._stale = True
            self._show()

    def _add_layers(self, layers: Iterable[str]) -> None:
        """Lines for new layers in one go: three property changes each, and every change
        that adds a model makes the document walk all its data (0.4 s for a first run's three
        layers here); frozen, it walks once."""
        new = [layer for layer in layers if layer not in self._sources]
        document = self.figure.document
        if new:
            with one_walk([document] if document is not None else []):
                for layer in new:
                    self._layer_source(layer)

    def _layer_source(self, layer: str) -> ColumnDataSource:
        """The layer's source, with its line and legend entry made the first time it shows."""
        if layer not in self._sources:
            source = ColumnDataSource({key: [] for key in NORM_KEYS})
            line = self.figure.line("step", "grad_norm", source=source, name=layer,
                                    color=color_at(len(self._sources)), line_width=LINE_WIDTH)
            self._sources[layer], self._lines[layer] = source, line
            self._hover.renderers = [*self._hover.renderers, line]
            item = LegendItem(label=value(layer), renderers=[line])
            self._legend.items = [*self._legend.items, item]
            self._legend.visible = True
        return self._sources[layer]

    def _show(self) -> None:
        """Draw the run `_shown()` names; the lines' data is replaced only when it changes."""
        run_id = self._shown()
        if run_id != self._showing or self._stale:
            self._showing, self._stale = run_id, False
            layers = self._history.get(run_id, {}) if run_id is not None else {}
            self._add_layers(layers)
            for layer, source in self._sources.items():
                columns = layers.get(layer) or {key: [] for key in NORM_KEYS}
                self._replace(source, {key: list(values) for key, values in columns.items()})
            self._on_visible(run_id)
        labels = self.labels
        suffix = f": {labels[run_id]}" if run_id in labels and len(labels) > 1 else ""
        self.figure.title.text = f"Gradient norm per layer{suffix}"

    def _on_add(self, run_id: str) -> None:
        self._show()

    def _on_remove(self, run_id: str) -> None:
        self._history.pop(run_id, None)
        if self._showing == run_id:
            self._stale = True  # redraw whichever run is next, or empty lines if none
        self._show()

    def _on_active(self) -> None:
        self._show()

    def _on_relabel(self) -> None:
        self._show()

    def _on_visible(self, run_id: str | None) -> None:
        if run_id is not None and run_id == self._showing:
            for line in self._lines.values():
                line.visible = self._visible.get(run_id, True)
