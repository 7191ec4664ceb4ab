"""The app: wires the runner (engine), the controls (ui) and the figures (plots) together.

`Playground()` in a notebook cell shows the whole app; the Voilà page runs the same cell.
Nothing trains until Start is pressed, so the page is quick to show and no point streams
before the browser has attached.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import time
from typing import Any

import ipywidgets as widgets
from bokeh.io import output_notebook
from bokeh.resources import INLINE

from playground import data, tabular
from playground.config import HParams
from playground.engine.probes import default_probes
from playground.engine.record import RunRecord
from playground.engine.runner import Runner
from playground.engine.warmup import warm_up_in_background
from playground.jobs import Background, JobRunner
from playground.lessons import LESSONS, get_lesson
from playground.plots import Plots, Pump
from playground.plots._batch import one_patch
from playground.plots.widget import FigureGrid
from playground.status import Status
from playground.store import RunNotFound, RunStore
from playground.ui import (
    DataUpload,
    HParamControls,
    LessonPanel,
    RunsTable,
    StatusLine,
    Toolbar,
    theme_css,
)
from playground.ui.lr_range import LrRangePanel
from playground.ui.search_panel import SearchPanel

RUNS_LISTED = 20  # newest saved runs in the runs table (drawn ones are always listed)
TABLE_REFRESH = 1.0  # seconds between runs-table updates while a listed run trains
# Rounds a second that bring new points to the page. At 10 the page's main thread spent 65%
# of its time in long tasks (a click took up to 6 s with 10 runs drawn); at 2 it spends
# 20-34% and clicks register in under 0.6 s (benchmark item 4). The buttons show a click's
# effect at once, so only the curves move at this rate.
PUMP_HZ = 2.0


class Playground:
    """The whole app in one object: `Playground()` displays it, `.runner` trains."""

    def __init__(self, hp: HParams | None = None, *, lesson: str | None = None,
                 hidden: tuple[str, ...] = (), device: str | None = "auto",
                 store: RunStore | None = None, message: str = ""):
        threads = os.environ.get("PLAYGROUND_THREADS")
        if threads:  # set by `playground serve` so several tabs share the cores
            import torch
            torch.set_num_threads(int(threads))
        warm_up_in_background()
        output_notebook(resources=INLINE, hide_banner=True)  # BokehJS inline: works offline
        self.store = store if store is not None else RunStore()
        self.lesson = get_lesson(lesson) if lesson else None
        self.hidden = tuple(hidden)  # hidden by the caller (a link), not by the lesson
        if self.lesson is not None:
            hp = hp or self.lesson.configs()[0]
        hp = hp or HParams.free_play()  # free play trains until Stop
        self.runner = Runner(hp, device=device, store=self.store, callbacks=default_probes(),
                             name_runs=self._next_run_name)
        self.plots = Plots()
        self.controls = HParamControls(self.runner.hparams, on_change=self.update,
                                       hidden=set(hidden),
                                       choices={"dataset": data.available()})
        self._focus_controls()
        self.status_line = StatusLine()
        self.toolbar = Toolbar(self, status_line=self.status_line)
        self.runs_table = RunsTable(self)
        self.upload = DataUpload(columns=tabular.columns, use=self.use_csv)
        self.message = widgets.HTML(message)
        self.lesson_panel = LessonPanel(list(LESSONS.values()), on_choose=self.choose_lesson,
                                        on_play=self.play_lesson, link=self.link)
        self._queue: list[tuple[str, HParams]] = []  # lesson runs waiting their turn
        self._queue_lock = threading.Lock()  # the pump starts queued runs; Stop may clear them
        self.record = RunRecord()  # rows of races and sweeps, streamed like the runner's
        self.jobs = Background(self, JobRunner(on_busy=self._jobs_busy))
        self.search = SearchPanel(self.jobs)
        self.lr_range = LrRangePanel(self.jobs.find_lr, self.use_lr)
        self._readers = (self.runner.record.reader(), self.record.reader())
        self._last_tick = (time.monotonic(), 0)
        self._rate = 0.0
        self._table_key: tuple = ()
        self._table_time = 0.0  # when the runs table was last filled
        self._table_rows: list[dict[str, Any]] = []
        self._points_key: tuple | None = None
        # run id -> (config, name, waited a round): see _draw_new_runs
        self._new_runs: dict[str, tuple[dict[str, Any], str | None, bool]] = {}
        self._new_runs_lock = threading.Lock()  # the click's thread adds, the pump's takes
        self.focus = widgets.Dropdown(
            description="focus", options=[], style={"description_width": "3.5em"},
            layout=widgets.Layout(width="16em"),
            tooltip="The run drawn bold, and whose gradient norms, weights and decision "
            "boundary the plots show: pick another to compare")
        self.focus.observe(self._focus_run, "value")
        self._refresh_runs_table()  # saved runs are listed; drawn only when asked for
        self.plots.prepare()  # the first Start only shows lines made now
        self.widget = self._layout()
        self.pump = Pump(self._fetch, self._sink, hz=PUMP_HZ)
        self.pump.start()
        if self.lesson is not None:
            self.lesson_panel.select(self.lesson.name)

    @classmethod
    def from_url(cls, query: str | None = None, **kwargs: Any) -> Playground:
        """The app with settings from a URL query (`?lr=0.3&depth=4&hide=dropout`).

        Under Voilà the page's query is in QUERY_STRING. A bad part of the link is shown, not
        raised: the app opens with the rest of it and says which part was refused."""
        from playground.links import parse_link

        query = os.environ.get("QUERY_STRING", "") if query is None else query
        link = parse_link(query, free_play=HParams.free_play())  # the same in link()
        message = ("<b>Settings from the link were not used:</b> "  # the link's text, escaped
                   + html.escape("; ".join(link.refused), quote=False) if link.refused else "")
        return cls(link.hp, lesson=link.lesson, hidden=link.hidden,
                   message=_error_html(message) if message else "", **kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)

    # --- controller: what the controls, toolbar and runs table call -----------------------
    def update(self, changes: dict[str, Any]) -> None:
        """From the controls: live changes apply at the next step, others start a new run."""
        self.runner.update(**changes)
        self._show_run()

    def start(self) -> None:
        self.runner.start()
        self._show_run()

    def pause(self) -> None:
        self.runner.pause()

    def step(self) -> None:
        if not self.runner.active:
            self.runner.start()
            self._show_run()
        self.runner.step(1)

    def stop(self) -> None:
        with self._queue_lock:
            self._queue.clear()
            self.runner.stop()

    def reset(self) -> None:
        """Back to no run: lesson queue, race, sweep and the runner all stop."""
        with self._queue_lock:
            self._queue.clear()
            self.runner.reset()
        self.jobs.cancel()

    def use_lr(self, lr: float) -> None:
        """From the learning-rate range test: its suggestion, as if the slider had moved."""
        self.controls.set_values({"lr": lr})
        self.update({"lr": lr})

    def choose_lesson(self, name: str | None) -> None:
        """Load a lesson's first preset into the controls (or go back to free play)."""
        if self.lesson is not None and name == self.lesson.name:
            return  # already loaded (from the link, whose values may override the preset)
        with self._queue_lock:
            self._queue.clear()
        self.lesson = get_lesson(name) if name else None
        self._focus_controls()
        if self.lesson is not None:
            self.load_config(self.lesson.configs()[0])

    def _focus_controls(self) -> None:
        """A lesson shows only the controls it is about; free play shows them all."""
        self.controls.focus(None if self.lesson is None else
                            set(HParams.specs()) - set(self.lesson.hidden))

    def play_lesson(self) -> None:
        """Run the lesson's runs one after another; each stays on the plots."""
        if self.lesson is None:
            return
        self.clear_plots()  # the lesson's view: its runs, nothing else
        with self._queue_lock:
            self.runner.stop()
            self._queue = list(zip(self.lesson.labels, self.lesson.configs()))
        self._next_in_queue()

    def link(self) -> str:
        """A URL that opens the app with the current settings, lesson and hidden fields."""
        from playground.links import make_link

        host, port = os.environ.get("SERVER_NAME"), os.environ.get("SERVER_PORT")
        base = f"http://{host}:{port}{os.environ.get('SCRIPT_NAME', '/')}" if host else ""
        return make_link(self.runner.hparams, self.lesson.name if self.lesson else None,
                         self.hidden, base=base, free_play=HParams.free_play())  # as in from_url

    # --- host: what the search panel calls ------------------------------------------------
    def current_hparams(self) -> HParams:
        return self.runner.hparams

    def load_config(self, hp: HParams) -> None:
        """Put a configuration into the sliders (the best of a sweep, say); Start trains it."""
        self.controls.set_values(hp)
        self.runner.stop()
        self.runner.update(**{name: new for name, (_, new) in self.runner.hparams.diff(hp).items()})

    def show_run(self, run_id: str, config: dict[str, Any], name: str | None = None) -> None:
        """Give a run of a race or sweep its line (and legend) with its first rows."""
        if run_id not in self.plots.runs:
            with self._new_runs_lock:
                self._new_runs.setdefault(run_id, (dict(config), name, False))

    @property
    def device(self) -> Any:
        return self.runner.device

    def _next_in_queue(self) -> None:
        with self._queue_lock:
            if not self._queue or self.runner.active:
                return
            label, hp = self._queue.pop(0)
            self.load_config(hp)
            run_id = self.runner.start()
            self.store.rename(run_id, label)
        self._show_run()

    def rename_run(self, run_id: str, name: str) -> None:
        self.store.rename(run_id, name)
        self.plots.rename_run(run_id, name)
        self._table_key = ()

    def set_run_visible(self, run_id: str, visible: bool) -> None:
        """Draw a saved run from the store (show), or take it off the plots (it stays
        saved and listed)."""
        if not visible:
            with self._new_runs_lock:
                self._new_runs.pop(run_id, None)
            self.plots.remove_run(run_id)
        elif run_id not in self.plots.runs:
            run = self.store.get(run_id)
            self.plots.load_history(run.id, run.config, {
                "points": self.store.points(run.id), "events": self.store.events(run.id),
                "layer_norms": self.store.layer_norms(run.id)}, name=run.name, status=run.status)
        self._table_key = ()

    def clear_plots(self) -> None:
        """Take every run off the plots but the one training; all stay saved and listed."""
        training = self.runner.run_id if self.runner.active else None
        with self._new_runs_lock:
            self._new_runs = {run_id: new for run_id, new in self._new_runs.items()
                              if run_id == training}
        for run_id in self.plots.runs:
            if run_id != training:
                self.plots.remove_run(run_id)
        self._table_key = ()

    def delete_run(self, run_id: str) -> None:
        if run_id == self.runner.run_id and self.runner.active:
            self.runner.stop()
        with self._new_runs_lock:
            self._new_runs.pop(run_id, None)
        self.plots.remove_run(run_id)
        self.store.delete(run_id)
        self._table_key = ()

    def export_run(self, run_id: str, fmt: str = "csv") -> tuple[str, str]:
        """A run's curves as (file name, text): the runs table offers them as a download in
        the person's browser; the served app writes no file."""
        run = self.store.get(run_id)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name)[:60]
        return f"{safe or run.id}.{fmt}", self.store.export_text(run.id, fmt)

    def use_csv(self, content: bytes, name: str, target: str) -> str:
        """Train on an uploaded table from now on (dataset "custom"); errors name the row."""
        table = tabular.read_csv(content, target=target, name=name)
        data.use_table(table)
        self.runner.stop()
        self.runner.update(dataset="custom", loss="auto")
        self.controls.set_choices("dataset", data.available())
        self.controls.set_values(self.runner.hparams)
        return (f"{name}: {len(table.x)} rows, {len(table.feature_names)} features, "
                f"{table.task} of {target!r}; press Start")

    def set_log_scale(self, change: dict) -> None:
        self.plots.set_log(bool(change["new"]))

    def close(self) -> None:
        self.jobs.cancel()
        self.pump.stop()
        self.runner.stop()
        self.widget.close()

    def _show_run(self) -> None:
        """Give the runner's new run its lines (with its config and name, for the legend)."""
        run_id = self.runner.run_id
        if run_id is not None and run_id not in self.plots.runs:
            self.show_run(run_id, self.runner.hparams.to_dict(), self.store.get(run_id).name)

    def _next_run_name(self) -> str:
        """Short, so that the legend stays narrow: "run 7" (the 7th made by hand)."""
        return f"run {self.store.count(source='manual') + 1}"

    def _jobs_busy(self, busy: bool) -> None:
        """Only End search while a background job runs."""
        self.search.set_busy(busy)
        self.lr_range.find.disabled = busy

    # --- the pump: new rows from the training thread into the figures, ~10 times a second
    def _fetch(self) -> dict[str, list[dict]]:
        """New rows, plus the status every tick so the status line follows pauses too."""
        batch: dict[str, list[dict]] = {}
        for reader in self._readers:
            for channel, rows in reader.fetch().items():
                batch.setdefault(channel, []).extend(rows)
        return {**batch, "status": [self._status()]}

    def _sink(self, batch: dict[str, list[dict]]) -> None:
        rows = {key: value for key, value in batch.items() if key != "status"}
        with one_patch():  # the round's figure changes go to the browser as one message
            self._draw_new_runs(rows)
            if rows:
                self.plots.push(rows)
            self._show_data_points()
        self.status_line.update(batch["status"][-1])
        self.jobs.deliver()  # what races, sweeps and tests have to show, on this thread
        self._refresh_runs_table()
        self._next_in_queue()

    def _draw_new_runs(self, rows: dict[str, list[dict]]) -> None:
        """Runs started since the last round get their lines in the round that brings their
        first rows, or one round later without: the page then builds a new line and draws its
        first points in one go. Drawn by the click's thread, the new lines went out on their
        own and the first points queued behind their layout and paint in the page."""
        with self._new_runs_lock:
            if not self._new_runs:
                return
            with_rows = {row.get("run") for channel in rows.values() for row in channel}
            ready = {run_id: (config, name) for run_id, (config, name, waited)
                     in self._new_runs.items() if waited or run_id in with_rows}
            self._new_runs = {run_id: (config, name, True) for run_id, (config, name, _)
                              in self._new_runs.items() if run_id not in ready}
        for run_id, (config, name) in ready.items():
            self.plots.add_run(run_id, config, name=name)

    def _status(self) -> dict[str, Any]:
        runner, trainer = self.runner, self.runner.trainer
        now, step = time.monotonic(), trainer.step if trainer else 0
        last_time, last_step = self._last_tick
        if now - last_time >= 1.0 or step < last_step:  # steps/s over about a second
            self._rate = max(step - last_step, 0) / (now - last_time)
            self._last_tick = (now, step)
        run = self.plots.legend.get(runner.run_id, runner.run_id)  # as the legend names it
        return {"run": run, "status": runner.status, "step": step,
                "epoch": trainer.epoch if trainer else 0,
                "epochs": (trainer.hp if trainer else runner.hparams).epochs,
                "steps_per_second": self._rate, "device": str(runner.device), "error": runner.error}

    def _show_plane(self, plane: bool) -> None:
        """The decision boundary for a 2-D data set, else the sample grid."""
        self.figures.show("boundary", plane)
        self.figures.show("samples", not plane)

    def _show_data_points(self) -> None:
        """Draw the 2-D data set under the decision boundary when a run brings a new one."""
        trainer = self.runner.trainer
        if trainer is None:
            return
        data, hp = trainer.data, trainer.hp
        key = tuple(getattr(hp, name) for name in HParams.fields_where(group="data"))
        if key == self._points_key:
            return
        self._points_key = key
        self._show_plane(data.bounds is not None)
        if data.bounds is not None:
            y_train, y_val = data.y_train.flatten().tolist(), data.y_val.flatten().tolist()
            self.plots.set_points(data.x_train.tolist(), y_train, data.x_val.tolist(), y_val,
                                  data.n_classes or None)

    def _refresh_runs_table(self) -> None:
        """The newest saved runs and every drawn one, "show" ticked where drawn. Filled when
        the drawn runs or the main run's status change, and every TABLE_REFRESH seconds while
        a listed run trains (a race's or sweep's too), so steps and scores follow."""
        with self.plots.lock:  # the click's thread may be adding a run to the figures
            drawn = self.plots.runs
            key = (tuple(drawn), self.runner.run_id, self.runner.status)
            now = time.monotonic()
            listed_running = any(row.get("status") == Status.RUNNING for row in self._table_rows)
            due = listed_running and now - self._table_time >= TABLE_REFRESH
            if (key == self._table_key and not due) or self._first_points_pending():
                return
            self._table_key, self._table_time = key, now
            differences = self.plots.differences
            runs = self.store.list_runs(limit=RUNS_LISTED)
            listed = {run.id for run in runs}
            for run_id in drawn:
                if run_id not in listed and run_id not in self._new_runs:
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
        self._table_rows = rows
        self.runs_table.set_runs(rows)
        self._show_focus(drawn)

    def _scores(self, run: Any) -> dict[str, Any]:
        """Validation loss and accuracy: the summary of a finished run, the latest drawn
        points of one that trains."""
        scores = {"val_loss": run.summary.get("val_loss"),
                  "val_accuracy": run.summary.get("val_accuracy")}
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
        active = self.plots.loss.active
        if active in drawn and self.focus.value != active:
            self.focus.value = active

    def _first_points_pending(self) -> bool:
        """A run that is starting has not drawn its first point yet. Its row in the runs table
        waits until it has: a row is a dozen widgets for the page to build, and built first
        they held the first points back by a few hundred milliseconds."""
        run_id = self.runner.run_id
        if run_id in self._new_runs:  # its lines are not drawn yet
            return True
        return (self.runner.status in (Status.STARTING, Status.RUNNING)
                and run_id in self.plots.runs
                and not any(source.data["step"]
                            for source in self.plots.loss.sources(run_id).values()))

    # --- layout ----------------------------------------------------------------------------
    def _layout(self) -> widgets.Widget:
        log_toggle = widgets.ToggleButton(description="log scale", value=False,
                                          tooltip="Loss on a logarithmic axis")
        log_toggle.observe(self.set_log_scale, "value")
        clear = widgets.Button(description="clear plots", icon="eraser",
                               tooltip="Take every run off the plots but the one training; "
                               "they stay saved and listed below (tick show to draw one)")
        clear.on_click(lambda _: self.clear_plots())
        self.figures = FigureGrid(self.plots.figures())
        self._show_plane(data.DATASETS[self.runner.hparams.dataset].kind == "points")
        own_data = widgets.Accordion([self.upload.widget], titles=("your own data",))
        own_data.selected_index = None
        left = widgets.VBox([widgets.HTML("<h2>playground</h2>"), self.controls.widget, own_data],
                            layout=widgets.Layout(width="460px", flex="0 0 auto"))
        right = widgets.VBox([
            self.lesson_panel.widget,
            widgets.HBox([self.toolbar.widget, log_toggle, clear, self.focus]),
            self.status_line.widget,
            self.message, self.figures.widget, self.runs_table.widget, self._tools(),
        ], layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        return widgets.VBox([theme_css(), widgets.HBox([left, right])])


    def _tools(self) -> widgets.Widget:
        """Let the machine try: races, sweeps, sensitivity, and the learning-rate range test."""
        tools = widgets.Tab([self.search.widget, self.lr_range.widget])
        tools.set_title(0, "race · sweep · sensitivity")
        tools.set_title(1, "find learning rate")
        return tools


def _error_html(text: str) -> str:
    return f'<div style="color:#D55E00;font-size:16px">{text}</div>'
