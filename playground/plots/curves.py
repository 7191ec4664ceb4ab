"""Curves against training step, one line per run and split: loss, accuracy, learning rate.

Each run owns one ColumnDataSource per split plus one for its change markers; they are made
when the run appears and afterwards grow through `stream`; a full line is re-sent once,
halved, and streams every other new point from then on (see `series.Thinning`).

A legend entry is the run's name; what differs between runs is on hover. A diverged run's
exploding loss does not set the loss plot's range: it is drawn off the top, marked where it
left the plot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from bokeh.core.properties import value
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJSHover,
    Glyph,
    GlyphRenderer,
    HoverTool,
    Legend,
    LegendItem,
    Title,
)
from bokeh.plotting import figure

from playground.plots._base import (
    ACTIVE_LINE_WIDTH,
    DEFAULT_MAX_POINTS,
    DIM_ALPHA,
    FRAME_HEIGHT,
    LINE_WIDTH,
    SUBTITLE_FONT,
    RunPlot,
    fit_legend,
    new_figure,
    new_legend,
    step_axis,
    stream,
)
from playground.plots._compat import recompute_range_in_page
from playground.plots.series import (
    CURVE_KEYS,
    Columns,
    Marker,
    change_markers,
    curve_columns,
    decimate_columns,
    differing_values,
    exit_point,
    explodes,
    field_label,
    finite_max,
    lr_columns,
    value_at,
)

MARKER_KEYS = ("step", "y", "field", "message")
MAX_MARKERS = 500  # change markers kept per run
DASHES = {"train": "solid", "val": "dashed"}
# A train line is every batch's loss: noisy and dense, it hid the validation line drawn over
# it in the same colour. See-through, it leaves the gap between the two readable.
TRAIN_ALPHA = 0.45
DIM_TRAIN_ALPHA = 0.35  # a dimmed train line (0.135 before: gone on a projector)
SPLIT_NAMES = {"train": "train", "val": "validation"}
EXIT_KEYS = ("step", "y", "color", "text")
EXIT_TEXT = "diverged"
RANGE_PADDING = 0.1  # DataRange1d's default
# A hover row "$name{lr}" shows the hovered line's value of field lr, read from the line's
# tags (a dict set in Python: a property change when runs come and go, no column of data).
SETTING_JS = """
if (!format) return value;  // plain $name: the line's name
const line = special_vars.glyph_view?.renderer?.model;
const values = line?.tags?.[0];
const found = values instanceof Map ? values.get(format) : values?.[format];
return found == null ? "" : String(found);
"""


class CurvePlot(RunPlot):
    """Base of the step curves: per run a solid train line, a dashed val line, and diamonds
    where a hyperparameter changed live (hover shows the change)."""

    name = ""
    title = ""
    subtitle = ""  # a smaller second line under the title (a long title was cut off)
    metric = "loss"  # key of the point rows drawn
    y_label = "loss"
    y_axis_type = "linear"
    splits: tuple[str, ...] = ("train", "val")
    y_format = "%.4g"
    log_toggle = False  # True: a log-scale twin figure that set_log swaps in
    # True: a diverged run (marked, or its loss exploded) does not set the y range; it is
    # marked where it leaves the plot. Only where values explode: the loss.
    robust = False

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = False,
                 frame_height: int = FRAME_HEIGHT) -> None:
        super().__init__(max_points, thin)
        self._parts: list[_Parts] = []  # per figure: its legend, hover tools, exit glyphs
        self._setting = CustomJSHover(code=SETTING_JS)  # shared by every figure's hover
        # Where each diverged run leaves the plot (both figures draw it); robust plots only.
        self.exit_source = ColumnDataSource({key: [] for key in EXIT_KEYS})
        self.figure = self._make_figure(self.name, self.y_axis_type, frame_height)
        self._figures = [self.figure]
        self.log_figure: figure | None = None
        if self.log_toggle:
            # Bokeh cannot switch a drawn figure's scale (bokeh#6575, #11983): a log twin
            # shares the sources and the x range, and set_log swaps it into the layout. (A
            # hidden twin is no good: BokehJS fixes its range at 0.1..10 while it is hidden.)
            self.log_figure = self._make_figure(f"{self.name}_log", "log", frame_height,
                                                x_range=self.figure.x_range)
            self._figures.append(self.log_figure)
        self.layout = column(self.figure, sizing_mode="stretch_width")
        self._log = False
        self._sources: dict[str, dict[str, ColumnDataSource]] = {}
        self._marker_sources: dict[str, ColumnDataSource] = {}
        self._lines: dict[str, list[GlyphRenderer]] = {}  # every figure's line renderers
        self._markers: dict[str, list[GlyphRenderer]] = {}
        self._items: dict[str, list[LegendItem]] = {}
        self._pending: dict[str, list[Marker]] = {}
        self._spare: _Glyphs | None = None  # the next run's glyphs, made ahead (prepare)
        self._detected: set[str] = set()  # runs whose loss exploded in the rows (robust)
        self._first: dict[str, float] = {}  # run -> its first finite value (robust)
        self._top: float | None = None  # highest value of the runs that did not diverge

    def _make_figure(self, name: str, y_axis_type: str, frame_height: int,
                     **kwargs: Any) -> figure:
        fig = new_figure(name, self.title, "step", self.y_label, frame_height=frame_height,
                         y_axis_type=y_axis_type, **kwargs)
        step_axis(fig.xaxis[0])
        if self.robust and y_axis_type == "linear":
            # A loss is never below 0: from 0, the train lines under the validation lines
            # (which set the top) stay in view.
            fig.y_range.start = 0
        if self.subtitle:
            fig.add_layout(Title(text=self.subtitle, text_font_size=SUBTITLE_FONT,
                                 text_font_style="normal", text_color="#444444"), "above")
        legend = new_legend(fig)
        curve_hover = HoverTool(renderers=[], tooltips=self._tooltips([]),
                                formatters={"@y": "printf", "@lr": "printf",
                                            "$name": self._setting})
        marker_hover = HoverTool(renderers=[], tooltips=[("change", "@message"),
                                                         ("step", "@step")])
        fig.add_tools(curve_hover, marker_hover)
        exits: list[GlyphRenderer] = []
        if self.robust:  # made now, so that a run diverging changes data, not models
            exits = [fig.scatter("step", "y", source=self.exit_source, marker="x", size=18,
                                 line_width=4, line_color="color"),
                     fig.text("step", "y", text="text", source=self.exit_source,
                              text_color="color", text_font_size="13pt",
                              text_font_style="bold", text_baseline="top", x_offset=10,
                              y_offset=4, background_fill_color="white",
                              background_fill_alpha=0.8, padding=2)]
        self._parts.append(_Parts(fig, legend, curve_hover, marker_hover, exits))
        return fig

    def _tooltips(self, fields: Iterable[str]) -> list[tuple[str, str]]:
        """Hover rows: the line's name, the hyperparameters that differ between the runs (the
        line's own values, see SETTING_JS; the learning rate is the point's row), the point."""
        point = [("step", "@step"), (self.y_label, f"@y{{{self.y_format}}}"),
                 ("epoch", "@epoch"), ("learning rate", "@lr{%.3g}")]
        shown = {label for label, _ in point}
        settings = [(field_label(name), f"$name{{{name}}}") for name in fields
                    if field_label(name) not in shown]
        return [("run", "$name"), *settings, *point]

    # --- public ----------------------------------------------------------------------------
    @property
    def log(self) -> bool:
        return self._log

    def set_log(self, log: bool) -> None:
        """Show the y axis on a log scale (only plots with a log twin, e.g. the loss)."""
        if self.log_figure is None:
            raise ValueError(f"the {self.name} plot has no log scale")
        if bool(log) != self._log:
            self._log = bool(log)
            self.layout.children = [self.shown_figure]

    @property
    def shown_figure(self) -> figure:
        """The figure in the layout now: the log twin in log mode, else `figure`."""
        return self.log_figure if self._log and self.log_figure is not None else self.figure

    def sources(self, run_id: str) -> dict[str, ColumnDataSource]:
        """Split -> the run's data source (for tests and for the app's own readouts)."""
        return dict(self._sources[run_id])

    def marker_source(self, run_id: str) -> ColumnDataSource:
        return self._marker_sources[run_id]

    def push(self, rows: Iterable[Mapping[str, Any]],
             events: Iterable[Mapping[str, Any]] = ()) -> None:
        """Stream new point rows (one stream call per source) and mark change events."""
        by_run = self._columns(rows)
        self._ensure(by_run)
        for run_id, splits in by_run.items():
            for split, columns in splits.items():
                source = self._sources[run_id].get(split)
                if source is not None and columns["step"]:
                    self._grow(source, columns)
        self._add_markers(change_markers(events))
        if self.robust and by_run:
            self._follow(by_run)
        self._seen(by_run)

    def load(self, run_id: str, rows: Iterable[Mapping[str, Any]],
             events: Iterable[Mapping[str, Any]] = ()) -> None:
        """Replace a run's curves with a full history, thinned to `max_points` per line."""
        self._ensure([run_id])
        splits = self._columns(row for row in rows if row.get("run") == run_id).get(run_id, {})
        for split, source in self._sources[run_id].items():
            columns = splits.get(split) or {key: [] for key in CURVE_KEYS}
            self._replace(source, decimate_columns(columns, self.max_points))
        self._marker_sources[run_id].data = {key: [] for key in MARKER_KEYS}
        self._pending.pop(run_id, None)
        self._add_markers({run_id: change_markers(
            e for e in events if e.get("run") == run_id).get(run_id, [])})
        if self.robust:
            self._detected.discard(run_id)
            self._first.pop(run_id, None)
            self._detect(run_id, splits)
            self._on_diverged()
        self._seen({run_id: splits}, replaced=True)

    def _seen(self, by_run: Mapping[str, Mapping[str, Columns]], replaced: bool = False,
              ) -> None:
        """New values were drawn (`replaced`: a run's whole history); a hook for subclasses."""

    # --- diverged runs ---------------------------------------------------------------------
    @property
    def diverged(self) -> list[str]:
        """Runs marked diverged, and (on a robust plot) runs whose values exploded."""
        return [run_id for run_id in self._configs
                if run_id in self._diverged or run_id in self._detected]

    def _detect(self, run_id: str, splits: Mapping[str, Columns]) -> bool:
        """Mark a run whose new values went non-finite or exploded (`series.explodes`); True
        when it is newly marked."""
        if run_id in self._detected:
            return False
        for split in self.splits:
            values = splits.get(split, {}).get("y", [])
            if run_id not in self._first:
                first = next((v for v in values if v == v), None)  # the first non-nan
                if first is None:
                    continue
                self._first[run_id] = first
            if explodes(values, self._first[run_id]):
                self._detected.add(run_id)
                return True
        return False

    def _follow(self, by_run: Mapping[str, Mapping[str, Columns]]) -> None:
        """After a push: mark runs that exploded; move the exit marks when a diverged run got
        rows or the other runs reached higher. Nothing to do in the usual case (none diverged)
        but the check of the new values."""
        if any([self._detect(run_id, splits) for run_id, splits in by_run.items()]):
            self._on_diverged()
            return
        diverged = set(self.diverged)
        if not diverged:
            return
        top = finite_max(columns["y"] for run_id, splits in by_run.items()
                         if run_id not in diverged for split, columns in splits.items()
                         if split in self._ranged_splits)
        higher = top is not None and (self._top is None or top > self._top)
        if higher:
            self._top = top
        if higher or diverged & by_run.keys():
            self._show_exits()

    @property
    def _ranged_splits(self) -> tuple[str, ...]:
        """The lines that set a robust plot's y range: validation, else all."""
        return ("val",) if "val" in self.splits else self.splits

    def _on_diverged(self) -> None:
        """The y range follows the validation lines of the runs that did not diverge (every
        run's when all diverged): neither a diverged run nor one noisy batch early in a run
        (a train line's spike, seen at 200 over losses of 0.5 in a race) can stretch it; a
        train line above the range is cut at its top. The diverged runs are marked where
        they leave the plot."""
        if not self.robust:
            return
        diverged = set(self.diverged)
        kept = [run_id for run_id in self._lines if run_id not in diverged]
        restrict = bool(diverged) and bool(kept)
        ranged = [k for k, split in enumerate(self.splits) if split in self._ranged_splits]
        per_figure = len(self.splits)
        for i, part in enumerate(self._parts):
            # empty: every renderer (BokehJS: "auto"), before any run is drawn
            renderers: list[GlyphRenderer] = [
                self._lines[run_id][i * per_figure + k] for run_id in (kept or self._lines)
                for k in ranged]
            y_range = part.figure.y_range
            if y_range.renderers != renderers:
                y_range.renderers = renderers
                # BokehJS does not recompute a data range when only its list of renderers
                # changes: nudge it so that the page applies the list now.
                recompute_range_in_page(y_range, RANGE_PADDING)
        self._top = finite_max(source.data["y"] for run_id in kept
                               for split, source in self._sources[run_id].items()
                               if split in self._ranged_splits) if restrict else None
        self._show_exits()

    def _show_exits(self) -> None:
        """One mark per shown diverged run: the last point of its first line still under the
        top of the other runs' values (its last point when no other run has any)."""
        exits: Columns = {key: [] for key in EXIT_KEYS}
        for run_id in self.diverged:
            if not self._visible.get(run_id, True) or run_id not in self._sources:
                continue
            data = self._sources[run_id][self.splits[0]].data
            found = exit_point(data["step"], data["y"], self._top)
            if found is not None:
                exits["step"].append(found[0])
                exits["y"].append(found[1])
                exits["color"].append(self.color(run_id))
                exits["text"].append(EXIT_TEXT)
        if exits != dict(self.exit_source.data):
            self.exit_source.data = exits

    # --- data ------------------------------------------------------------------------------
    def _columns(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Columns]]:
        return curve_columns(rows, self.metric)

    def _add_markers(self, markers: Mapping[str, list[Marker]]) -> None:
        """Queue markers, then place every queued one whose curve has a value to sit on."""
        self._ensure(run_id for run_id, found in markers.items() if found)
        for run_id, found in markers.items():
            self._pending.setdefault(run_id, []).extend(found)
        for run_id in list(self._pending):
            if run_id not in self._sources:
                del self._pending[run_id]
                continue
            curve = self._sources[run_id][self.splits[0]].data
            placed: Columns = {key: [] for key in MARKER_KEYS}
            waiting = []
            for marker in self._pending[run_id]:
                y = value_at(curve["step"], curve["y"], marker.step)
                if y is None:
                    waiting.append(marker)
                    continue
                placed["step"].append(marker.step)
                placed["y"].append(y)
                placed["field"].append(marker.field)
                placed["message"].append(marker.message)
            self._pending[run_id] = waiting[-MAX_MARKERS:]
            if placed["step"]:
                stream(self._marker_sources[run_id], placed, MAX_MARKERS)

    # --- glyphs ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Make the next run's glyphs now, hidden, so that adding it changes a few properties
        instead of adding models: new models cost the kernel ~50 ms a figure and the page a
        view build and a layout, right when a person has pressed Start."""
        if self._spare is None:
            self._spare = self._new_glyphs()

    @property
    def prepared(self) -> bool:
        return self._spare is not None

    def _new_glyphs(self) -> _Glyphs:
        """One run's sources and hidden glyphs in every figure (and in its hover tools)."""
        sources = {split: ColumnDataSource({key: [] for key in CURVE_KEYS})
                   for split in self.splits}
        glyphs = _Glyphs(sources, ColumnDataSource({key: [] for key in MARKER_KEYS}), [], [], [])
        for fig, legend, curve_hover, marker_hover, exits in self._parts:
            lines = [fig.line("step", "y", source=sources[split], line_width=LINE_WIDTH,
                              line_dash=DASHES.get(split, "solid"),
                              line_alpha=self._split_alpha(split), visible=False)
                     for split in self.splits]
            marker = fig.scatter("step", "y", source=glyphs.marker_source, marker="diamond",
                                 size=16, line_color="white", line_width=2, visible=False)
            if exits:  # the exit marks stay on top of every line
                fig.renderers = [r for r in fig.renderers if r not in exits] + exits
            item = LegendItem(label=value(""), renderers=lines, visible=False)
            curve_hover.renderers = [*curve_hover.renderers, *lines]
            marker_hover.renderers = [*marker_hover.renderers, marker]
            legend.items = [*legend.items, item]
            glyphs.lines.extend(lines)
            glyphs.markers.append(marker)
            glyphs.items.append(item)
        return glyphs

    def _on_add(self, run_id: str) -> None:
        glyphs, self._spare = self._spare or self._new_glyphs(), None
        color = self.color(run_id)
        for line in glyphs.lines:
            _set_color(line, line_color=color)
        for marker in glyphs.markers:
            _set_color(marker, fill_color=color)
        self._sources[run_id], self._marker_sources[run_id] = glyphs.sources, glyphs.marker_source
        self._lines[run_id], self._markers[run_id], self._items[run_id] = (
            glyphs.lines, glyphs.markers, glyphs.items)
        for item in glyphs.items:
            item.visible = True
        for _, legend, *_ in self._parts:
            legend.visible = True
        self._on_visible(run_id)
        self._on_active()
        self._on_diverged()  # the range's list of lines takes the new run's

    def _on_remove(self, run_id: str) -> None:
        gone = {*self._lines.pop(run_id, []), *self._markers.pop(run_id, [])}
        items = set(self._items.pop(run_id, []))
        for fig, legend, *hovers, _ in self._parts:
            fig.renderers = [r for r in fig.renderers if r not in gone]
            for hover in hovers:
                hover.renderers = [r for r in hover.renderers if r not in gone]
            legend.items = [item for item in legend.items if item not in items]
            legend.visible = any(item.visible for item in legend.items)
        self._sources.pop(run_id, None)
        self._marker_sources.pop(run_id, None)
        self._pending.pop(run_id, None)
        self._detected.discard(run_id)
        self._first.pop(run_id, None)
        self._on_active()
        self._on_diverged()

    def _on_visible(self, run_id: str) -> None:
        for renderer in [*self._lines[run_id], *self._markers[run_id]]:
            renderer.visible = self._visible[run_id]
        if run_id in self.diverged:
            self._show_exits()

    def _on_active(self) -> None:
        """The active run thick and opaque; the others dimmed, still plain on a projector."""
        for run_id in self._lines:
            dim = self._active not in (None, run_id)
            width = ACTIVE_LINE_WIDTH if self._active == run_id else LINE_WIDTH
            for i, renderer in enumerate(self._lines[run_id]):  # per figure, one per split
                split = self.splits[i % len(self.splits)]
                renderer.glyph.line_alpha = self._split_alpha(split, dim)
                renderer.glyph.line_width = width
            for renderer in self._markers[run_id]:
                renderer.glyph.fill_alpha = DIM_ALPHA if dim else 1.0
                renderer.glyph.line_alpha = DIM_ALPHA if dim else 1.0

    def _split_alpha(self, split: str, dim: bool = False) -> float:
        """A train line under a validation line is see-through; a line on its own is not."""
        if split == "train" and "val" in self.splits:
            return DIM_TRAIN_ALPHA if dim else TRAIN_ALPHA
        return DIM_ALPHA if dim else 1.0

    def _on_relabel(self) -> None:
        """Legend entries, hover names and hover rows follow names and configs: property
        changes of the run's existing models."""
        labels, names = self.legend, self.names
        settings = differing_values(self._configs)
        for run_id, items in self._items.items():
            for item in items:
                if getattr(item.label, "value", None) != labels[run_id]:
                    item.label = value(labels[run_id])
            lines = self._lines[run_id]
            per_figure = len(self.splits)
            for i, renderer in enumerate(lines):
                split = self.splits[i % per_figure]
                renderer.name = f"{names[run_id]} ({SPLIT_NAMES.get(split, split)})"
            for renderer in self._markers[run_id]:
                renderer.name = names[run_id]
            tags = [settings[run_id]] if settings[run_id] else []
            for renderer in lines:
                if renderer.tags != tags:
                    renderer.tags = tags
        tooltips = self._tooltips(next(iter(settings.values()), {}))
        for part in self._parts:
            if part.curve_hover.tooltips != tooltips:
                part.curve_hover.tooltips = tooltips
            fit_legend(part.legend, labels.values())


def _set_color(renderer: GlyphRenderer, **colors: str) -> None:
    """Colour a renderer's glyph and the copies Bokeh made of it (unselected, muted)."""
    for glyph in (renderer.glyph, renderer.nonselection_glyph, renderer.muted_glyph):
        if isinstance(glyph, Glyph):  # not None, not "auto"
            glyph.update(**colors)


class _Glyphs(NamedTuple):
    """One run's data sources and glyph renderers in every figure of a curve plot."""

    sources: dict[str, ColumnDataSource]
    marker_source: ColumnDataSource
    lines: list[GlyphRenderer]
    markers: list[GlyphRenderer]
    items: list[LegendItem]  # one per figure, hidden until the run is added


class _Parts(NamedTuple):
    figure: figure
    legend: Legend
    curve_hover: HoverTool
    marker_hover: HoverTool
    exits: list[GlyphRenderer]  # where diverged runs leave the plot (robust plots)


class LossPlot(CurvePlot):
    """Train (solid) and validation (dashed) loss per run; `set_log(True)` for a log axis."""

    name = "loss"
    title = "Loss"
    subtitle = "solid: train, dashed: validation"
    metric = "loss"
    y_label = "loss"
    log_toggle = True
    robust = True


class AccuracyPlot(CurvePlot):
    """Train and validation accuracy per run, and a regression run's R² on the same axis
    (both 1 at best, unitless; R² is 0 for predicting the mean). R² below 0, as a run starts,
    is drawn off the bottom: while any run has a value below 0 (only R² can), the y range
    spans 0..1 and the lines of the other runs, so that -40 at step 0 does not flatten the
    axis. Rows without a score (a regression batch of one) are skipped."""

    name = "accuracy"
    title = "Accuracy (R² for regression)"
    subtitle = "solid: train, dashed: validation"
    metric = "accuracy"
    y_label = "accuracy / R²"
    y_format = "%.3f"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._below: set[str] = set()  # runs with a value below 0 (R² worse than the mean)
        # A hidden glyph at 0 and 1 that the y range follows while a run is below 0 (a data
        # range counts hidden glyphs too; the page's readers and hover skip them).
        self.span_source = ColumnDataSource({"step": [], "y": []})
        self._span = self.figure.scatter("step", "y", source=self.span_source, visible=False,
                                         name="span")

    def _seen(self, by_run: Mapping[str, Mapping[str, Columns]], replaced: bool = False,
              ) -> None:
        below = set(self._below)
        for run_id, splits in by_run.items():
            if replaced:
                below.discard(run_id)
            if any(y < 0 for columns in splits.values() for y in columns["y"] if y is not None):
                below.add(run_id)
        if below != self._below:
            self._below = below
            self._set_range()

    def _on_add(self, run_id: str) -> None:
        super()._on_add(run_id)
        self._set_range()  # its lines join the range's list

    def _on_remove(self, run_id: str) -> None:
        super()._on_remove(run_id)
        self._below.discard(run_id)
        self._set_range()

    def _set_range(self) -> None:
        """The y range: every line (BokehJS's "auto") while no run is below 0; else 0..1 and
        the lines of the runs that are not."""
        below = self._below & self._lines.keys()
        renderers = ([self._span, *(line for run_id, lines in self._lines.items()
                                    if run_id not in below for line in lines)]
                     if below else [])
        span = {"step": [0, 0], "y": [0.0, 1.0]} if below else {"step": [], "y": []}
        if dict(self.span_source.data) != span:
            self.span_source.data = span
        y_range = self.figure.y_range
        if y_range.renderers != renderers:
            y_range.renderers = renderers
            recompute_range_in_page(y_range, RANGE_PADDING)  # see _on_diverged


class LrPlot(CurvePlot):
    """The learning rate in force at each step, per run, on a log axis."""

    name = "lr"
    title = "Learning rate"
    metric = "lr"
    y_label = "learning rate"
    y_axis_type = "log"
    splits = ("train",)
    y_format = "%.3g"

    def _columns(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Columns]]:
        return {run_id: {"train": columns} for run_id, columns in lr_columns(rows).items()}
