"""Shared look and run bookkeeping of the Bokeh figures.

Projector-friendly styling lives here once: large fonts, thick lines, stretch to the width.
`RunPlot` keeps the runs a figure knows (config, colour, visibility, the active run) and
leaves drawing to its subclasses.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from bokeh.models import (
    Axis,
    BasicTicker,
    ColumnDataSource,
    Legend,
    NumeralTickFormatter,
)
from bokeh.plotting import figure

from playground.plots._log_axis import log_ticks
from playground.plots._numbers import numbers
from playground.plots.series import (
    ColorCycle,
    Columns,
    Thinning,
    differences,
    legend_columns,
    run_label,
    short_id,
)

LINE_WIDTH = 3
ACTIVE_LINE_WIDTH = 4.5  # the highlighted run: thicker, and fully opaque
# Other runs while one is highlighted: dimmed, yet plain on a projector (0.3 was too faint).
DIM_ALPHA = 0.6
DEFAULT_MAX_POINTS = 5000  # points a line keeps in the browser
TITLE_FONT = "16pt"
SUBTITLE_FONT = "12pt"
AXIS_LABEL_FONT = "15pt"
TICK_FONT = "13pt"
LEGEND_FONT = "11pt"  # 20 characters, two entries a row under a 360 px plot
FRAME_HEIGHT = 230  # pixels of a curve plot's data area; a legend under it adds to the figure
STEP_TICKS = 4  # about this many step ticks: at 1280x720 six ran together
TOOLS = "pan,box_zoom,wheel_zoom,reset,save"


def new_figure(name: str, title: str, x_label: str, y_label: str, *, height: int = 320,
               y_axis_type: str = "linear", tools: str = TOOLS, frame_height: int | None = None,
               **kwargs: Any) -> figure:
    """A figure with the house look: named (browser tests find it by name), wide, big fonts.

    The toolbar sits inside the plot, shown while the pointer is over it: above the plot it
    shared the title's row and ran over the title in a narrow figure. `frame_height` instead
    of `height` fixes the plot area's height, so that a legend below it adds to the figure's.
    """
    size = {"frame_height": frame_height} if frame_height else {"height": height}
    fig = figure(name=name, title=title, x_axis_label=x_label, y_axis_label=y_label,
                 sizing_mode="stretch_width", y_axis_type=y_axis_type, tools=tools,
                 toolbar_location="above", toolbar_inner=True, **size, **kwargs)
    fig.toolbar.autohide = True
    if y_axis_type == "log":
        log_ticks(fig.yaxis[0])
    style(fig)
    return fig


def step_axis(axis: Axis) -> None:
    """Few ticks, thousands as "k" (0, 500, 1k, 1.5k): long step labels ran together."""
    if isinstance(axis.ticker, BasicTicker):
        axis.ticker.desired_num_ticks = STEP_TICKS
    axis.formatter = NumeralTickFormatter(format="0.[0]a")


def style(fig: figure) -> None:
    """Large fonts for a room: titles 16pt, axis labels 15pt, ticks 13pt; no logo."""
    fig.title.text_font_size = TITLE_FONT
    for axis in [*fig.xaxis, *fig.yaxis]:
        axis.axis_label_text_font_size = AXIS_LABEL_FONT
        axis.major_label_text_font_size = TICK_FONT
    fig.toolbar.logo = None


def new_legend(fig: figure, click_policy: str = "hide") -> Legend:
    """An empty legend under the plot area, entries side by side (`fit_legend` sets how many
    a row): beside the plot it took the plot's width; under it, it never covers a curve."""
    legend = Legend(items=[], click_policy=click_policy, label_text_font_size=LEGEND_FONT,
                    location="top_left", orientation="horizontal", ncols=1, margin=4,
                    padding=4, spacing=4, label_standoff=4, glyph_width=24,
                    border_line_alpha=0, background_fill_alpha=0,
                    visible=False)  # shown once it has an entry
    fig.add_layout(legend, "below")
    return legend


def fit_legend(legend: Legend, labels: Iterable[str]) -> None:
    """As many entries a row as fit under a narrow figure (see `series.legend_columns`)."""
    ncols = legend_columns(labels)
    if legend.ncols != ncols:
        legend.ncols = ncols


def stream(source: ColumnDataSource, columns: Columns, rollover: int) -> None:
    """`source.stream(columns, rollover)`, safe while another thread is importing pandas.

    Bokeh's stream looks pandas up in `sys.modules` without the import lock, and scikit-learn
    imports pandas in the warm-up or training thread: a half-imported pandas made `stream`
    raise AttributeError (seen in CI). An `import` statement waits for the import to finish.
    """
    if "pandas" in sys.modules:
        import pandas  # noqa: F401
    source.stream({key: numbers(values) for key, values in columns.items()}, rollover=rollover)


def _length(columns: Mapping[str, Any]) -> int:
    return len(next(iter(columns.values()), []))


class RunPlot:
    """Bookkeeping common to every figure: which runs exist, their configs and colours.

    Subclasses draw; they override the `_on_*` hooks, which are called after the bookkeeping.
    Rows for a run that was never added add it with an empty config, so no data is dropped.
    """

    name = ""

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = False) -> None:
        if max_points < 4:
            raise ValueError(f"max_points: {max_points!r} is not allowed; allowed: at least 4")
        self.max_points = max_points
        self.thin = thin  # full lines: thin the whole history instead of dropping the oldest
        self._thinning: weakref.WeakKeyDictionary[ColumnDataSource, Thinning] = (
            weakref.WeakKeyDictionary())  # per line, while thin; gone with its source
        self._configs: dict[str, dict[str, Any]] = {}
        self._colors: dict[str, str] = {}
        self._visible: dict[str, bool] = {}
        self._names: dict[str, str] = {}  # run id -> the name it was given, if any
        self._diverged: set[str] = set()  # runs marked diverged by their status
        self._active: str | None = None
        self._cycle = ColorCycle()

    # --- public ----------------------------------------------------------------------------
    @property
    def runs(self) -> list[str]:
        """Run ids in the order they were added."""
        return list(self._configs)

    @property
    def active(self) -> str | None:
        return self._active

    @property
    def legend(self) -> dict[str, str]:
        """Run id -> its legend entry: the run's name (else a short id), cut to a few words."""
        return {run_id: run_label(self._names.get(run_id), run_id, i)
                for i, run_id in enumerate(self._configs)}

    @property
    def names(self) -> dict[str, str]:
        """Run id -> its whole name (else a short id): the hover's "run" row."""
        return {run_id: " ".join(self._names.get(run_id, "").split()) or short_id(run_id, i)
                for i, run_id in enumerate(self._configs)}

    @property
    def differences(self) -> dict[str, str]:
        """Run id -> the hyperparameters that set it apart from the other runs, as text
        ("learning rate=0.1, depth=4"; "" when nothing does): hover and the runs table."""
        return differences(self._configs)

    @property
    def diverged(self) -> list[str]:
        """The runs marked diverged, in the order they were added."""
        return [run_id for run_id in self._configs if run_id in self._diverged]

    def color(self, run_id: str) -> str:
        return self._colors[run_id]

    def add_run(self, run_id: str, config: Mapping[str, Any] | None = None,
                color: str | None = None, name: str | None = None) -> None:
        """Add a run (its glyphs and sources); for a known run, update its config and labels.
        `name` is its legend entry (None: keep the one it has, else a short id)."""
        new = run_id not in self._configs
        self._configs[run_id] = dict(config or {})
        if name is not None:
            self._names[run_id] = str(name)
        if new:
            self._colors[run_id] = color or self._cycle.get(run_id)
            self._visible[run_id] = True
            self._on_add(run_id)
        elif color:
            self._colors[run_id] = color
        self._on_relabel()

    def remove_run(self, run_id: str) -> None:
        """Remove a run's glyphs and sources from the figure."""
        if run_id not in self._configs:
            return
        del self._configs[run_id], self._colors[run_id], self._visible[run_id]
        self._names.pop(run_id, None)
        self._diverged.discard(run_id)
        self._cycle.forget(run_id)
        if self._active == run_id:
            self._active = None
        self._on_remove(run_id)  # bookkeeping already updated: _shown() is the next run
        self._on_relabel()

    def rename_run(self, run_id: str, name: str | None) -> None:
        """Give a run a new legend entry (None or "": its short id); a property change."""
        if run_id not in self._configs:
            return
        if name:
            self._names[run_id] = str(name)
        else:
            self._names.pop(run_id, None)
        self._on_relabel()

    def set_diverged(self, run_id: str, diverged: bool = True) -> None:
        """Mark a run diverged (its loss exploded) or not; plots that care keep their range
        clear of it."""
        if run_id in self._configs and (run_id in self._diverged) != bool(diverged):
            if diverged:
                self._diverged.add(run_id)
            else:
                self._diverged.discard(run_id)
            self._on_diverged()

    def set_visible(self, run_id: str, visible: bool) -> None:
        if run_id in self._configs:
            self._visible[run_id] = bool(visible)
            self._on_visible(run_id)

    def set_active(self, run_id: str | None) -> None:
        """Highlight one run (others dim, or the figure shows only it); None: no highlight."""
        if run_id is not None and run_id not in self._configs:
            raise KeyError(f"run {run_id!r} is not on the {self.name} plot")
        self._active = run_id
        self._on_active()

    def clear(self) -> None:
        """Remove every run."""
        for run_id in list(self._configs):
            self.remove_run(run_id)
        self._cycle.reset()

    # --- helpers for subclasses ------------------------------------------------------------
    def _grow(self, source: ColumnDataSource, columns: Columns) -> None:
        """Append rows to a line: `stream` with rollover at `max_points` (the oldest go). With
        `thin`, the line keeps its whole history instead (see `Thinning`): when full it is
        re-sent once, halved, and from then on only every other new row is streamed."""
        if self.thin:
            thinning = self._thinning.setdefault(source, Thinning(self.max_points))
            thin, keep = thinning.take(_length(source.data), _length(columns))
            if thin > 1:
                source.data = {key: numbers(values[::thin]) for key, values in source.data.items()}
            columns = {key: values[keep] for key, values in columns.items()}
            if not _length(columns):
                return
        stream(source, columns, self.max_points)  # rollover: the bound, whatever comes

    def _replace(self, source: ColumnDataSource, columns: Columns) -> None:
        """Set a line's data whole (a history); it is thinned afresh from here."""
        self._thinning.pop(source, None)
        source.data = columns

    def _ensure(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            if run_id not in self._configs:
                self.add_run(run_id)

    def _shown(self) -> str | None:
        """The run a single-run figure shows: the active one, else the newest."""
        if self._active is not None:
            return self._active
        return next(reversed(self._configs), None)

    # --- hooks -----------------------------------------------------------------------------
    def _on_add(self, run_id: str) -> None:
        pass

    def _on_remove(self, run_id: str) -> None:
        """Drop the run's glyphs; called after the run left the bookkeeping."""

    def _on_visible(self, run_id: str) -> None:
        pass

    def _on_active(self) -> None:
        pass

    def _on_relabel(self) -> None:
        pass

    def _on_diverged(self) -> None:
        pass


class SnapshotPlot(RunPlot):
    """A figure that shows the latest snapshot (histogram, boundary, samples) of one run:
    the active run, else the newest. Only the newest row per run is kept; drawing it
    replaces the source data, which is fine for a small, whole picture."""

    def __init__(self) -> None:
        super().__init__()
        self._latest: dict[str, Mapping[str, Any]] = {}
        self._drawn: tuple[str | None, Mapping[str, Any] | None] = (None, None)

    def latest(self, run_id: str) -> Mapping[str, Any] | None:
        """The newest row of a run, or None."""
        return self._latest.get(run_id)

    def push(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Keep each run's newest row; redraw if the shown run got a new one."""
        for row in rows:
            run_id = row["run"]
            self._ensure([run_id])
            old = self._latest.get(run_id)
            if old is None or row.get("step", 0) >= old.get("step", 0):
                self._latest[run_id] = row
        self._refresh()

    def _refresh(self) -> None:
        run_id = self._shown()
        row = self._latest.get(run_id) if run_id is not None else None
        if self._drawn[0] != run_id or self._drawn[1] is not row:
            self._drawn = (run_id, row)
            self._draw(run_id, row)
        self._on_visible(run_id)

    def _renderers(self) -> list[Any]:
        """The glyph renderers that show a run's snapshot (hidden by set_visible)."""
        return []

    def _draw(self, run_id: str | None, row: Mapping[str, Any] | None) -> None:
        raise NotImplementedError

    def _on_add(self, run_id: str) -> None:
        self._refresh()

    def _on_remove(self, run_id: str) -> None:
        self._latest.pop(run_id, None)
        self._refresh()

    def _on_active(self) -> None:
        self._refresh()

    def _on_visible(self, run_id: str | None) -> None:
        if run_id is not None and run_id == self._shown():
            for renderer in self._renderers():
                renderer.visible = self._visible.get(run_id, True)
