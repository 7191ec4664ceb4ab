"""The `Plots` facade: every figure of the app, fed from one batch of rows at a time.

The pump calls `push(batch)` from its thread; UI handlers call the other methods from the
kernel's thread. Both go through `Plots.lock`, so figures are never mutated concurrently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from bokeh.models import LayoutDOM

from playground.plots._base import DEFAULT_MAX_POINTS, RunPlot, SnapshotPlot
from playground.plots._batch import one_patch
from playground.plots._graph import one_walk
from playground.plots.boundary import BoundaryPlot
from playground.plots.curves import AccuracyPlot, CurvePlot, LossPlot, LrPlot
from playground.plots.gradnorms import GradNormPlot
from playground.plots.samples import SamplesGrid
from playground.plots.series import ColorCycle
from playground.plots.surface import LossGridPlot, LossSurfacePlot
from playground.plots.weights import WeightHistogram
from playground.status import Status

log = logging.getLogger(__name__)

Batch = Mapping[str, Sequence[Mapping[str, Any]]]


class Figure(NamedTuple):
    """One figure of the dashboard and the channels of rows it takes.

    The plot's kind says how: a `SnapshotPlot` (built with no arguments) takes one channel
    and shows a run's latest row, in `push` and in `load_history` alike; any other plot is
    built with `(max_points, thin)`, gets `push(*rows)` and `load(run_id, *rows)` with one
    list of rows per channel, in the order given here, and `load` replaces what was drawn.
    The plot's `name` is its figure's name and its attribute on `Plots`.
    """

    plot: type[RunPlot]  # its class; instances are made by Plots
    channels: tuple[str, ...]  # batch keys, as the engine's record names them


# Adding a figure is this one registration: a line here (in display order) naming its plot
# class and the channels it takes. The engine's record takes any channel name, so a probe
# that publishes rows under a new name needs nothing more.
FIGURES: tuple[Figure, ...] = (
    Figure(LossPlot, ("points", "events")),  # "change" events are drawn as markers
    Figure(AccuracyPlot, ("points", "events")),
    Figure(LrPlot, ("points", "events")),
    Figure(GradNormPlot, ("layer_norms",)),
    Figure(WeightHistogram, ("histogram",)),
    Figure(BoundaryPlot, ("boundary",)),
    Figure(SamplesGrid, ("samples",)),
    Figure(LossSurfacePlot, ("surface",)),  # 1-D slices: a line a run (engine/surface.py)
    Figure(LossGridPlot, ("surface_2d",)),  # the 2-D grid, made on demand
)


def batch_keys(figures: Iterable[Figure] = FIGURES) -> tuple[str, ...]:
    """Every channel some figure takes, each once, in table order."""
    return tuple(dict.fromkeys(channel for fig in figures for channel in fig.channels))


BATCH_KEYS = batch_keys()


class Plots:
    """All figures, one colour per run across them, one lock around every change.

    `push(batch)` routes rows by key as `FIGURES` says (points and events -> loss, accuracy,
    learning rate; layer_norms -> gradient norms; histogram, boundary, samples -> weights,
    decision boundary, sample grid). Unknown keys are ignored.
    """

    # The figures of FIGURES, as attributes named after them (set in __init__; listed here
    # for readers and editors, not needed for a new figure).
    loss: LossPlot
    accuracy: AccuracyPlot
    lr: LrPlot
    grad_norms: GradNormPlot
    weights: WeightHistogram
    boundary: BoundaryPlot
    samples: SamplesGrid
    loss_surface: LossSurfacePlot
    loss_grid: LossGridPlot

    def __init__(self, max_points: int = DEFAULT_MAX_POINTS, thin: bool = True) -> None:
        """`max_points`: points each line keeps in the browser; `thin`: when a line is full,
        thin its whole history (the run's start stays visible, and a long run streams ever
        fewer points) rather than drop the oldest."""
        self.max_points = max_points
        # Re-entrant: a UI handler may hold it and call set_active, which takes it again.
        self.lock = threading.RLock()
        # FIGURES, read once: each figure's plot beside the channels it takes.
        self._routes = [(fig, fig.plot() if issubclass(fig.plot, SnapshotPlot)
                         else fig.plot(max_points, thin)) for fig in FIGURES]
        self._keys = batch_keys(FIGURES)
        self._plots = {plot.name: plot for _, plot in self._routes}
        if len(self._plots) != len(self._routes):
            raise ValueError("FIGURES: two figures have the same name")
        for name, plot in self._plots.items():
            setattr(self, name, plot)
        self._colors = ColorCycle()
        self._runs: dict[str, dict[str, Any]] = {}
        self._removed: set[str] = set()
        self._run_added = False  # since the last push: that push makes no glyphs ahead

    @property
    def plots(self) -> dict[str, RunPlot]:
        """Figure name -> plot object, in display order."""
        return dict(self._plots)

    @property
    def runs(self) -> list[str]:
        return list(self._runs)

    @property
    def differences(self) -> dict[str, str]:
        """Run id -> the hyperparameters that set it apart from the other runs drawn
        ("learning rate=5, batch size=16"; "" when nothing does): the runs table's column."""
        return self.loss.differences

    def color(self, run_id: str) -> str:
        """The colour of a drawn run, the same in every figure (KeyError for another)."""
        return self.loss.color(run_id)

    @property
    def legend(self) -> dict[str, str]:
        """Run id -> its legend entry (its name, else a short id; cut to a few words)."""
        return self.loss.legend

    @property
    def _curves(self) -> tuple[CurvePlot, ...]:
        return tuple(plot for plot in self._plots.values() if isinstance(plot, CurvePlot))

    def figures(self) -> dict[str, LayoutDOM]:
        """Figure name -> the model to embed (the loss entry is a column holding the linear
        figure and its log twin; embed it whole, the two share data sources)."""
        return {name: plot.layout for name, plot in self.plots.items()}

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """For changes that add or remove glyphs: hold the lock, and once the figures sit in
        documents (the app's widgets) walk each changed model graph once at the end rather
        than after every new glyph (adding a run: 1.9 s before, 0.5 s after, on this
        machine; with its glyphs made ahead, nothing to walk)."""
        # one_patch (the round lock) before self.lock, always: the pump's round holds the
        # round lock and then takes self.lock; the other order, from a click's thread, could
        # wait on the pump while the pump waits on it (the app stopped drawing: a saved run
        # ticked "show" never appeared)
        with one_patch(), self.lock:
            documents = {plot.figure.document for plot in self.plots.values()} - {None}
            with one_walk(documents):  # one message per widget
                yield

    # --- runs ------------------------------------------------------------------------------
    def add_run(self, run_id: str, config: Mapping[str, Any] | None = None,
                active: bool = True, name: str | None = None) -> None:
        """Add a run to every figure (or update its config); `active` highlights it. `name`
        is its legend entry (a lesson's label for its runs); None keeps the one it has, and a
        run never named shows a short id."""
        with self._changing():
            self._removed.discard(run_id)
            self._runs[run_id] = dict(config or {})
            color = self._colors.get(run_id)
            for plot in self.plots.values():
                plot.add_run(run_id, config, color=color, name=name)
            if active:
                self.set_active(run_id)
            self._run_added = True

    def prepare(self) -> None:
        """Make the next run's lines ahead of time, hidden (see CurvePlot.prepare)."""
        with self._changing():
            for plot in self._curves:
                plot.prepare()

    def remove_run(self, run_id: str) -> None:
        """Take a run off every figure; its later rows are ignored until it is added again."""
        with self._changing():
            self._removed.add(run_id)
            self._runs.pop(run_id, None)
            self._colors.forget(run_id)
            for plot in self.plots.values():
                plot.remove_run(run_id)

    def rename_run(self, run_id: str, name: str | None) -> None:
        """A run's new name in every legend, hover and title (property changes only)."""
        with self.lock:
            for plot in self.plots.values():
                plot.rename_run(run_id, name)

    def set_status(self, run_id: str, status: str | None) -> None:
        """Tell the figures a run's status. "diverged": the loss range leaves the run out (it
        is drawn off the top, marked where it left); any other status takes that back. A run
        whose loss went non-finite or exploded in the rows is left out whatever its status."""
        with self.lock:
            for plot in self.plots.values():
                plot.set_diverged(run_id, status == Status.DIVERGED)

    def set_visible(self, run_id: str, visible: bool) -> None:
        with self.lock:
            for plot in self.plots.values():
                plot.set_visible(run_id, visible)

    def set_active(self, run_id: str | None) -> None:
        """Dim other runs' curves; show this run's layers, weights, boundary and samples."""
        with self.lock:
            for plot in self.plots.values():
                if run_id is None or run_id in plot.runs:
                    plot.set_active(run_id)

    def set_log(self, log_scale: bool) -> None:
        """Loss on a log axis (True) or a linear one."""
        with self._changing():
            self.loss.set_log(log_scale)

    def set_points(self, x_train: Sequence[Sequence[float]], y_train: Sequence[float],
                   x_val: Sequence[Sequence[float]], y_val: Sequence[float],
                   n_classes: int | None = None) -> None:
        """The 2-D data set under the decision boundary (see BoundaryPlot.set_points)."""
        with self.lock:
            self.boundary.set_points(x_train, y_train, x_val, y_val, n_classes)

    def clear(self) -> None:
        """Remove every run from every figure."""
        with self._changing():
            for plot in self.plots.values():
                plot.clear()
            self._runs.clear()
            self._removed.clear()
            self._colors.reset()

    # --- data ------------------------------------------------------------------------------
    def push(self, batch: Batch) -> None:
        """Route one batch of new rows; each source gets at most one stream call."""
        with one_patch(), self.lock:  # one message for the round; lock order as _changing
            batch = {key: self._known(rows) for key, rows in batch.items()}
            for key in batch.keys() - set(self._keys):
                log.debug("plots: ignoring batch key %r", key)
            self._add_new_runs(batch)
            for fig, plot in self._routes:
                rows = [batch.get(channel, []) for channel in fig.channels]
                if any(rows):
                    plot.push(*rows)
            # The round after a run was added: the glyphs for the next. Not in the same
            # round, where the new models would hold back the new run's first points.
            if self._run_added:
                self._run_added = False
            elif not all(plot.prepared for plot in self._curves):
                self.prepare()

    def load_history(self, run_id: str, config: Mapping[str, Any] | None,
                     rows: Iterable[Mapping[str, Any]] | Batch, active: bool = False,
                     name: str | None = None, status: str | None = None) -> None:
        """Show a whole stored run (or re-send one to a view that just attached): its curves
        replace what was drawn, thinned to `max_points` per line. `rows` is either the run's
        point rows or a batch dict with the same keys as `push`; `name` and `status` as in
        `add_run` and `set_status` (None: leave as they are)."""
        batch: Mapping[str, Iterable[Mapping[str, Any]]] = (
            rows if isinstance(rows, Mapping) else {"points": list(rows)})
        with self._changing():
            self.add_run(run_id, config, active=active, name=name)
            if status is not None:
                self.set_status(run_id, status)
            tagged: dict[str, list[Mapping[str, Any]]] = {}  # channel -> the run's rows
            for fig, plot in self._routes:
                if isinstance(plot, SnapshotPlot):  # it shows only the latest row
                    latest = _of_run(batch.get(fig.channels[0], []), run_id)[-1:]
                    if latest:
                        plot.push([{**latest[0], "run": run_id}])
                    continue
                for channel in fig.channels:
                    if channel not in tagged:  # once, for all the figures that take it
                        tagged[channel] = [{**r, "run": run_id}
                                           for r in _of_run(batch.get(channel, []), run_id)]
                plot.load(run_id, *(tagged[channel] for channel in fig.channels))

    def _known(self, rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Rows of runs not removed by the user (a removed run may still be emitting)."""
        return [r for r in rows if r.get("run") not in self._removed]

    def _add_new_runs(self, batch: Batch) -> None:
        for rows in batch.values():
            for r in rows:
                run_id = r.get("run")
                if run_id is not None and run_id not in self._runs:
                    # Rows before add_run: draw them under a plain id rather than drop them.
                    self.add_run(run_id, {}, active=self.loss.active is None)


def _of_run(rows: Iterable[Mapping[str, Any]], run_id: str) -> list[Mapping[str, Any]]:
    """The rows of one run (a row without a run is taken as its)."""
    return [r for r in rows if r.get("run", run_id) == run_id]
