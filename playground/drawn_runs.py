"""Which runs are drawn, listed and in focus: the plots, the runs table and the focus list
kept in step with the store.

New runs (the runner's, a race's, a sweep's) are queued from the click's or the job's thread
and drawn by the pump's; the table and the focus list are filled by the pump's thread too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from playground.config import scored_by_r2
from playground.plots import Plots
from playground.status import Status
from playground.store import RunInfo, RunNotFound, RunStore
from playground.ui import RunsTable

RUNS_LISTED = 20  # newest saved runs in the runs table (drawn ones are always listed)
TABLE_REFRESH = 1.0  # seconds between runs-table updates while a listed run trains


class DrawnRuns:
    def __init__(self, store: RunStore, plots: Plots, table: RunsTable,
                 main_run: Callable[[], tuple[str | None, str]],
                 on_listed: Callable[[list[RunInfo]], Any] | None = None):
        """`main_run()`: the runner's run id and status (its run is never taken off).
        `on_listed(runs)`: called with the listed runs each time the table is filled."""
        self.store, self.plots, self.table, self.main_run = store, plots, table, main_run
        self.on_listed = on_listed
        # run id -> (config, name, waited a round): see draw_new
        self._new: dict[str, tuple[dict[str, Any], str | None, bool]] = {}
        self._new_lock = threading.Lock()  # the click's thread adds, the pump's takes
        self._table_key: tuple = ()
        self._table_time = 0.0  # when the runs table was last filled
        self._rows: list[dict[str, Any]] = []
        self.focus = widgets.Dropdown(
            description="focus", options=[], style={"description_width": "3.5em"},
            layout=widgets.Layout(width="16em"),
            tooltip="The run drawn bold, and whose gradient norms, weights and decision "
            "boundary the plots show: pick another to compare")
        self.focus.observe(self._focus_run, "value")

    # --- drawing -------------------------------------------------------------------------
    def show(self, run_id: str, config: Mapping[str, Any], name: str | None = None) -> None:
        """Give a new run its lines (and legend entry) with its first rows."""
        if run_id not in self.plots.runs:
            with self._new_lock:
                self._new.setdefault(run_id, (dict(config), name, False))

    def draw_new(self, rows: Mapping[str, list[dict]]) -> None:
        """Runs shown since the last round get their lines in the round that brings their
        first rows, or one round later without: the page then builds a new line and draws its
        first points in one go. Drawn by the click's thread, the new lines went out on their
        own and the first points queued behind their layout and paint in the page."""
        with self._new_lock:
            if not self._new:
                return
            with_rows = {row.get("run") for channel in rows.values() for row in channel}
            ready = {run_id: (config, name) for run_id, (config, name, waited)
                     in self._new.items() if waited or run_id in with_rows}
            self._new = {run_id: (config, name, True) for run_id, (config, name, _)
                         in self._new.items() if run_id not in ready}
        for run_id, (config, name) in ready.items():
            self.plots.add_run(run_id, config, name=name)

    def set_visible(self, run_id: str, visible: bool) -> None:
        """Draw a saved run from the store (show), or take it off the plots (it stays
        saved and listed)."""
        if not visible:
            self._forget(run_id)
            self.plots.remove_run(run_id)
        elif run_id not in self.plots.runs:
            run = self.store.get(run_id)
            self.plots.load_history(run.id, run.config, {
                "points": self.store.points(run.id), "events": self.store.events(run.id),
                "layer_norms": self.store.layer_norms(run.id)}, name=run.name, status=run.status)
        self.changed()

    def clear(self, keep: str | None) -> None:
        """Take every run off the plots but `keep`; all stay saved and listed."""
        with self._new_lock:
            self._new = {run_id: new for run_id, new in self._new.items() if run_id == keep}
        for run_id in self.plots.runs:
            if run_id != keep:
                self.plots.remove_run(run_id)
        self.changed()

    def delete(self, run_id: str) -> None:
        self._forget(run_id)
        self.plots.remove_run(run_id)
        self.store.delete(run_id)
        self.changed()

    def rename(self, run_id: str, name: str) -> None:
        self.store.rename(run_id, name)
        self.plots.rename_run(run_id, name)
        self.changed()

    def changed(self) -> None:
        """Fill the table again at the next round."""
        self._table_key = ()

    def _forget(self, run_id: str) -> None:
        with self._new_lock:
            self._new.pop(run_id, None)

    # --- the runs table and the focus list ------------------------------------------------
    def refresh(self) -> None:
        """The newest saved runs and every drawn one, "show" ticked where drawn. Filled when
        the drawn runs or the main run's status change, and every TABLE_REFRESH seconds while
        a listed run trains (a race's or sweep's too), so steps and scores follow."""
        with self.plots.lock:  # the click's thread may be adding a run to the figures
            drawn = self.plots.runs
            key = (tuple(drawn), *self.main_run())
            now = time.monotonic()
            listed_running = any(row.get("status") == Status.RUNNING for row in self._rows)
            due = listed_running and now - self._table_time >= TABLE_REFRESH
            if (key == self._table_key and not due) or self._first_points_pending():
                return
            self._table_key, self._table_time = key, now
            differences = self.plots.differences
            runs = self.store.list_runs(limit=RUNS_LISTED)
            listed = {run.id for run in runs}
            for run_id in drawn:
                if run_id not in listed and run_id not in self._new:
                    with contextlib.suppress(RunNotFound):  # deleted by another tab
                        runs.append(self.store.get(run_id))
            rows = [{"id": run.id, "name": run.name, "status": run.status,
                     "color": self.plots.color(run.id) if run.id in drawn else None,
                     "visible": run.id in drawn, "steps": run.steps,
                     **self._scores(run), "legend": differences.get(run.id, "")}
                    for run in runs]
            for run in runs:
                if run.id in drawn:  # a diverged run leaves the loss axis to the others
                    self.plots.set_status(run.id, run.status)
        self._rows = rows
        self.table.set_runs(rows)
        if self.on_listed is not None:
            self.on_listed(runs)
        self._show_focus(drawn)

    def _scores(self, run: RunInfo) -> dict[str, Any]:
        """Validation loss and accuracy (R² for regression, `r2` says): the summary of a
        finished run, the latest drawn points of one that trains."""
        scores = {"val_loss": run.summary.get("val_loss"),
                  "val_accuracy": run.summary.get("val_accuracy"),
                  "r2": scored_by_r2(run.config, run.summary)}
        if run.status == Status.RUNNING and run.id in self.plots.runs:
            for key, plot in (("val_loss", self.plots.loss), ("val_accuracy", self.plots.accuracy)):
                source = plot.sources(run.id).get("val")
                if source is not None and len(source.data["y"]):
                    scores[key] = source.data["y"][-1]
        return scores

    def _focus_run(self, change: dict[str, Any]) -> None:
        if change["new"] in self.plots.runs:
            self.plots.set_active(change["new"])

    def _show_focus(self, drawn: list[str]) -> None:
        """The focus list: the drawn runs by their legend names, the bold one first and
        chosen (new options make the page's list choose its first: that stays the bold run,
        where a run ticked "show" used to take the focus)."""
        legend = self.plots.legend
        active = self.plots.loss.active
        order = sorted(drawn, key=lambda run_id: run_id != active)  # stable: the rest as drawn
        options = [(legend.get(run_id, run_id), run_id) for run_id in order]
        if list(self.focus.options) != options:
            self.focus.options = options
        active = self.plots.loss.active  # the page's list may have chosen on new options
        if active in drawn and self.focus.value != active:
            self.focus.value = active

    def _first_points_pending(self) -> bool:
        """A run that is starting has not drawn its first point yet. Its row in the runs table
        waits until it has: a row is a dozen widgets for the page to build, and built first
        they held the first points back by a few hundred milliseconds."""
        run_id, status = self.main_run()
        if run_id in self._new:  # its lines are not drawn yet
            return True
        return (status in (Status.STARTING, Status.RUNNING) and run_id in self.plots.runs
                and not any(source.data["step"]
                            for source in self.plots.loss.sources(run_id).values()))
