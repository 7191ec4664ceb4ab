"""Gradient norm of each layer against step, for one run at a time, on a log axis.

Vanishing and exploding gradients show as lines that sink or climb apart. Rows of every run
are kept (bounded) in Python so that switching the active run can show its history; the
shown run's lines grow by `stream`. A layer's line and legend entry are made once and shown
only while the shown run has that layer (a deeper run, removed, leaves no stale entries).
A frozen layer has no gradient: its norm is 0, which a log axis cannot show, so its line
pauses and its legend entry reads "layer1 (frozen)" while the shown run keeps it frozen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bokeh.core.properties import value
from bokeh.models import ColumnDataSource, GlyphRenderer, HoverTool, LegendItem, Title

from playground.plots._base import (
    DEFAULT_MAX_POINTS,
    FRAME_HEIGHT,
    LINE_WIDTH,
    SUBTITLE_FONT,
    RunPlot,
    fit_legend,
    new_figure,
    new_legend,
    step_axis,
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
    title = "Gradient norm per layer"

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = False,
                 frame_height: int = FRAME_HEIGHT) -> None:
        super().__init__(max_points, thin)
        self.figure = new_figure(self.name, self.title, "step", "gradient norm",
                                 frame_height=frame_height, y_axis_type="log")
        step_axis(self.figure.xaxis[0])
        # the run shown, when there are several: in the title, a long name ran off a figure
        # two to a row at 1366x768 ("Gradient norms: lr=0.1 (about righ")
        self.subtitle = Title(text="", text_font_size=SUBTITLE_FONT, text_font_style="normal",
                              text_color="#444444")
        self.figure.add_layout(self.subtitle, "above")
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
        self._items: dict[str, LegendItem] = {}  # layer -> its legend entry
        self._present: set[str] = set()  # layers of the shown run: their lines are shown
        self._frozen: dict[str, dict[str, bool]] = {}  # run -> layer -> frozen at its last row
        self._showing: str | None = None
        self._stale = False

    def source(self, layer: str) -> ColumnDataSource:
        return self._sources[layer]

    @property
    def showing(self) -> str | None:
        """The run whose layers are drawn."""
        return self._showing

    @property
    def layers(self) -> list[str]:
        """The layers of the shown run, as the legend lists them."""
        return [layer for layer, item in self._items.items() if item.visible]

    def push(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Keep every run's new norms; stream the shown run's (one call per layer)."""
        rows = list(rows)
        by_run = layer_norm_columns(rows)
        self._ensure(by_run)
        if self._note_frozen(rows) and self._showing in by_run:
            self._show_layers()
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
        rows = [row for row in rows if row.get("run") == run_id]
        self._frozen.pop(run_id, None)
        self._note_frozen(rows)
        layers = layer_norm_columns(rows).get(run_id, {})
        self._history[run_id] = {layer: decimate_columns(columns, self.max_points)
                                 for layer, columns in layers.items()}
        if run_id == self._showing:
            self._stale = True
            self._show()

    def _note_frozen(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Keep whether each run's layers are frozen (a live row says so; a saved one has no
        gradient norm); True when that changed for some layer."""
        changed = False
        for row in rows:
            frozen = bool(row.get("frozen")) or row.get("grad_norm") is None
            layers = self._frozen.setdefault(row["run"], {})
            if layers.get(str(row["layer"]), False) != frozen:
                layers[str(row["layer"])] = frozen
                changed = True
        return changed

    def label(self, layer: str) -> str:
        """A layer's legend entry for the shown run: "layer1 (frozen)" while it is frozen."""
        frozen = self._frozen.get(self._showing or "", {}).get(layer, False)
        return f"{layer} (frozen)" if frozen else layer

    def _add_layers(self, layers: Iterable[str]) -> None:
        """Lines for new layers in one go: three property changes each, and every change
        that adds a model makes the document walk all its data (0.4 s for a first run's three
        layers here); frozen, it walks once."""
        layers = list(layers)
        new = [layer for layer in layers if layer not in self._sources]
        document = self.figure.document
        if new:
            with one_walk([document] if document is not None else []):
                for layer in new:
                    self._layer_source(layer)
        if not self._present.issuperset(layers):
            self._present.update(layers)
            self._show_layers()

    def _show_layers(self) -> None:
        """Lines and legend entries of the shown run's layers only; the legend shows when it
        has an entry. Property changes: a layer's line and entry are kept for the next run."""
        shown = self._showing is None or self._visible.get(self._showing, True)
        for layer, line in self._lines.items():
            present = layer in self._present
            line.visible = present and shown
            if self._items[layer].visible != present:
                self._items[layer].visible = present
            label = self.label(layer)
            if self._items[layer].label != value(label):
                self._items[layer].label = value(label)
        visible = bool(self._present)
        if self._legend.visible != visible:
            self._legend.visible = visible
        fit_legend(self._legend, sorted(self.label(layer) for layer in self._present))

    def _layer_source(self, layer: str) -> ColumnDataSource:
        """The layer's source, with its line and legend entry made the first time it shows."""
        if layer not in self._sources:
            source = ColumnDataSource({key: [] for key in NORM_KEYS})
            line = self.figure.line("step", "grad_norm", source=source, name=layer,
                                    color=color_at(len(self._sources)), line_width=LINE_WIDTH,
                                    visible=False)  # shown by _show_layers
            item = LegendItem(label=value(layer), renderers=[line], visible=False)
            self._sources[layer], self._lines[layer], self._items[layer] = source, line, item
            self._hover.renderers = [*self._hover.renderers, line]
            self._legend.items = [*self._legend.items, item]
        return self._sources[layer]

    def _show(self) -> None:
        """Draw the run `_shown()` names; the lines' data is replaced only when it changes."""
        run_id = self._shown()
        if run_id != self._showing or self._stale:
            self._showing, self._stale = run_id, False
            layers = self._history.get(run_id, {}) if run_id is not None else {}
            self._present = set()
            self._add_layers(layers)
            for layer, source in self._sources.items():
                columns = layers.get(layer) or {key: [] for key in NORM_KEYS}
                self._replace(source, {key: list(values) for key, values in columns.items()})
            self._show_layers()
        labels = self.legend
        shown = f"run: {labels[run_id]}" if run_id in labels and len(labels) > 1 else ""
        if self.subtitle.text != shown:
            self.subtitle.text = shown

    def _on_add(self, run_id: str) -> None:
        self._show()

    def _on_remove(self, run_id: str) -> None:
        self._history.pop(run_id, None)
        self._frozen.pop(run_id, None)
        if self._showing == run_id:
            self._stale = True  # redraw whichever run is next, or empty lines if none
        self._show()

    def _on_active(self) -> None:
        self._show()

    def _on_relabel(self) -> None:
        self._show()

    def _on_visible(self, run_id: str | None) -> None:
        if run_id is not None and run_id == self._showing:
            self._show_layers()
