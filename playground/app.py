"""The app: wires the runner (engine), the controls (ui) and the figures (plots) together.

`Playground()` in a notebook cell shows the whole app; the Voilà page runs the same cell.
Nothing trains until Start is pressed, so the page is quick to show and no point streams
before the browser has attached.
"""

from __future__ import annotations

import html
import os
import sys
import threading
import time
import weakref
from typing import Any

import ipywidgets as widgets

from playground import data as datasets
from playground import exports, tabular
from playground.config import HParams
from playground.drawn_runs import DrawnRuns
from playground.engine.probes import default_probes
from playground.engine.record import RunRecord
from playground.engine.runner import Runner
from playground.engine.surface import SurfaceProbe
from playground.engine.warmup import warm_up, warm_up_in_background
from playground.jobs import Background, JobBusy, JobRunner
from playground.lessons import LESSONS, get_lesson
from playground.links import Link, make_link, parse_link
from playground.own import OwnModelArg
from playground.plots import Plots, Pump
from playground.plots._batch import one_patch
from playground.plots.widget import FigureGrid, bokehjs_loader
from playground.store import RunStore
from playground.ui import (
    ROOT_CLASS,
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

# Rounds a second that bring new points to the page. At 10 the page's main thread spent 65%
# of its time in long tasks (a click took up to 6 s with 10 runs drawn); at 2 it spends
# 20-34% and clicks register in under 0.6 s (benchmark item 4). The buttons show a click's
# effect at once, so only the curves move at this rate.
PUMP_HZ = 2.0


class Playground:
    """The whole app in one object: `Playground()` displays it, `.runner` trains."""

    def __init__(self, hp: HParams | None = None, *, lesson: str | None = None,
                 hidden: tuple[str, ...] = (), device: str | None = "auto",
                 store: RunStore | None = None, message: str = "",
                 model: OwnModelArg | None = None, data: Any = None):
        """`model` and `data`: your own network (an nn.Module, or a function hp -> nn.Module
        that the sliders it reads rebuild) and data (tensors, arrays or torch Datasets), see
        playground/own.py. Controls that cannot apply to them are hidden, and a line says why.
        """
        threads = os.environ.get("PLAYGROUND_THREADS")
        if threads:  # set by `playground serve` so several tabs share the cores
            import torch
            torch.set_num_threads(int(threads))
        _replace_the_kernels_app(self)
        warm_up_in_background()
        self.store = store if store is not None else RunStore()
        self.lesson = get_lesson(lesson) if lesson else None
        self.hidden = tuple(hidden)  # hidden by the caller (a link), not by the lesson
        if self.lesson is not None:
            hp = hp or self.lesson.configs()[0]
        hp = hp or HParams.free_play()  # free play trains until Stop
        self.runner = Runner(hp, device=device, store=self.store, callbacks=default_probes(),
                             name_runs=self._next_run_name, model=model, data=data)
        self.own = self.runner.own
        # the probe that slices the loss surface; it hands out the model for the 2-D grid
        self.surface_probe = next(c for c in self.runner.callbacks
                                  if isinstance(c, SurfaceProbe))
        not_applicable = self.own.not_applicable(self.runner.hparams) if self.own else {}
        self.plots = Plots()
        self.controls = HParamControls(self.runner.hparams, on_change=self.update,
                                       hidden=set(hidden) | set(not_applicable),
                                       choices={"dataset": datasets.available()})
        self.own_note = widgets.HTML(_own_note(not_applicable))
        self._focus_controls()
        self.status_line = StatusLine()
        self.toolbar = Toolbar(self, status_line=self.status_line)
        self.runs_table = RunsTable(self)
        self.upload = DataUpload(columns=tabular.columns, use=self.use_csv)
        self.message = widgets.HTML(message)
        self.lesson_panel = LessonPanel(list(LESSONS.values()), on_choose=self.choose_lesson,
                                        on_play=self.play_lesson, link=self.link)
        # lesson runs waiting their turn: label, settings, label of the run it starts from
        self._queue: list[tuple[str, HParams, str]] = []
        self._played: dict[str, str] = {}  # label -> run id of the lesson's runs played
        self._queue_lock = threading.Lock()  # the pump starts queued runs; Stop may clear them
        self.record = RunRecord()  # rows of races and sweeps, streamed like the runner's
        self.jobs = Background(self, JobRunner(on_busy=self._jobs_busy))
        self.search = SearchPanel(self.jobs)
        self.lr_range = LrRangePanel(self.jobs.find_lr, self.use_lr)
        self._readers = (self.runner.record.reader(), self.record.reader())
        self._last_tick = (time.monotonic(), 0)
        self._rate = 0.0
        self._points_key: tuple | None = None
        self.drawn = DrawnRuns(self.store, self.plots, self.runs_table,
                               main_run=lambda: (self.runner.run_id, self.runner.status),
                               on_listed=self._offer_runs_to_start_from)
        self.drawn.refresh()  # saved runs are listed; drawn only when asked for
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
        if query is None and preheating():
            return cls._from_the_pool(**kwargs)
        return cls._from_link(_read_link(page_query() if query is None else query), **kwargs)

    @classmethod
    def _from_the_pool(cls, **kwargs: Any) -> Playground:
        """In a kernel of Voilà's preheated pool: the plain page (no query) is built before
        any page asks for the kernel, so a page opened at the server's address shows as
        soon as it takes it (building the app took 0.9 s of the 4 s to a usable page). A
        link with settings gets its own app, built once its query is known."""
        plain_link = _read_link("")
        plain = cls._from_link(plain_link, **kwargs)
        link = _read_link(page_query())
        if link == plain_link:
            plain.drawn.changed()  # runs saved by other tabs since the pool filled
            plain.drawn.refresh()
            return plain
        plain.close()
        return cls._from_link(link, **kwargs)

    @classmethod
    def _from_link(cls, link: Link, **kwargs: Any) -> Playground:
        message = ("<b>Settings from the link were not used:</b> "  # the link's text, escaped
                   + html.escape("; ".join(link.refused), quote=False) if link.refused else "")
        return cls(link.hp, lesson=link.lesson, hidden=link.hidden,
                   message=_error_html(message) if message else "", **kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)
        self.figures.draw_the_rest_after()  # the page asks for the rest when it drew the first

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

    def refresh_surface(self) -> None:
        """The 2-D loss grid around the current run's weights, made in the background
        (the job runner's thread; Reset or End search cancels it)."""
        run_id = self.runner.run_id
        if run_id is None:
            self.message.value = _error_html("The loss surface needs a run: press Start first")
            return
        try:
            self.jobs.loss_surface(self.surface_probe.model_copy, run_id,
                                   done=lambda row: None, failed=self._surface_failed)
        except JobBusy as busy:
            self.message.value = _error_html(html.escape(str(busy)))
            return
        self.message.value = ""

    def _surface_failed(self, text: str) -> None:
        self.message.value = _error_html(html.escape(text))

    def set_surface_path(self, change: dict) -> None:
        """The lower loss-surface figure: along the last step, or from the start to now."""
        with one_patch(), self.plots.lock:  # one message; the lock order of Plots._changing
            self.plots.loss_surface.set_path(change["new"])

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
            self._queue = [(run.label, hp, run.start_from)
                           for run, hp in zip(self.lesson.runs, self.lesson.configs())]
            self._played = {}
        self._next_in_queue()

    def link(self) -> str:
        """A URL that opens the app with the current settings, lesson and hidden fields."""
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
        self.drawn.show(run_id, config, name)

    @property
    def device(self) -> Any:
        return self.runner.device

    def _next_in_queue(self) -> None:
        with self._queue_lock:
            if not self._queue or self.runner.active:
                return
            label, hp, start_from = self._queue.pop(0)
            try:
                if start_from:  # fine-tuning: from the weights of the lesson's earlier run
                    if start_from not in self._played:
                        raise ValueError(f"starts from {start_from!r}, which did not run")
                    hp = hp.replace(init_from=self._played[start_from])
                self.load_config(hp)
                run_id = self.runner.start()
            except ValueError as error:  # its run has no weights (stopped before it began)
                self._queue.clear()
                self.status_line.show_error(f"{label}: {error}")
                return
            self._played[label] = run_id
            self.store.rename(run_id, label)
        self._show_run()

    def rename_run(self, run_id: str, name: str) -> None:
        self.drawn.rename(run_id, name)

    def set_run_visible(self, run_id: str, visible: bool) -> None:
        """Draw a saved run (show), or take it off the plots: it stays saved and listed."""
        self.drawn.set_visible(run_id, visible)

    def clear_plots(self) -> None:
        """Take every run off the plots but the one training; all stay saved and listed."""
        self.drawn.clear(keep=self.runner.run_id if self.runner.active else None)

    def delete_run(self, run_id: str) -> None:
        if run_id == self.runner.run_id and self.runner.active:
            self.runner.stop()
        self.drawn.delete(run_id)

    def export_run(self, run_id: str, fmt: str = "csv") -> tuple[str, bytes]:
        """A run as (file name, bytes) in one of exports.FORMATS (curves, record, config,
        weights, script): the runs table offers it as a download in the person's browser;
        the served app writes no file."""
        run = self.store.get(run_id)
        return exports.file_name(run, fmt), exports.export_bytes(self.store, run.id, fmt)

    def use_csv(self, content: bytes, name: str, target: str) -> str:
        """Train on an uploaded table from now on (dataset "custom"); errors name the row."""
        table = tabular.read_csv(content, target=target, name=name)
        datasets.use_table(table)
        self.runner.stop()
        self.runner.update(dataset="custom", loss="auto")
        self.controls.set_choices("dataset", datasets.available())
        self.controls.set_values(self.runner.hparams)
        return (f"{name}: {len(table.x)} rows, {len(table.feature_names)} features, "
                f"{table.task} of {target!r}; press Start")

    def set_log_scale(self, change: dict) -> None:
        self.plots.set_log(bool(change["new"]))

    def close(self) -> None:
        """Stop everything this app runs and take it off the page: background jobs, the plots'
        pump, the run (saved as stopped), and every widget (the page shows them no more). A
        new app in the same kernel, such as the cell run again, closes the previous one."""
        self.jobs.cancel()
        self.pump.stop()
        self.runner.stop()
        for widget in _widget_tree(self.widget) + list(self.figures.views.values()):
            widget.close()

    def _show_run(self) -> None:
        """Give the runner's new run its lines (with its config and name, for the legend)."""
        run_id = self.runner.run_id
        if run_id is not None and run_id not in self.plots.runs:
            self.show_run(run_id, self.runner.hparams.to_dict(), self.store.get(run_id).name)

    def _next_run_name(self) -> str:
        """Short, so that the legend stays narrow: "run 7" (the 7th made by hand)."""
        return f"run {self.store.count(source='manual') + 1}"

    def _offer_runs_to_start_from(self, runs: list[Any]) -> None:
        """The "start from run" dropdown lists the listed runs that saved weights."""
        offered = [(f"{run.name} · {run.config.get('dataset', '?')} · {run.id[-4:]}", run.id)
                   for run in runs if self.store.weights_path(run.id).exists()]
        self.controls.set_runs("init_from", offered)

    def _jobs_busy(self, busy: bool) -> None:
        """Only End search while a background job runs."""
        self.search.set_busy(busy)
        self.lr_range.find.disabled = busy
        self.surface_refresh.disabled = busy

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
        # The round's figure changes go to the browser as one message; the whole round is one
        # block, so that a figure drawn whole for a new view falls between two rounds.
        with one_patch():
            self.drawn.draw_new(rows)
            if rows:
                self.plots.push(rows)
            self._show_data_points()
            self.status_line.update(batch["status"][-1])
            self.jobs.deliver()  # what races, sweeps and tests have to show, on this thread
            self.drawn.refresh()
            self._next_in_queue()

    def _status(self) -> dict[str, Any]:
        runner, trainer = self.runner, self.runner.trainer
        now, step = time.monotonic(), trainer.step if trainer else 0
        last_time, last_step = self._last_tick
        if now - last_time >= 1.0 or step < last_step:  # steps/s over about a second
            self._rate = max(step - last_step, 0) / (now - last_time)
            self._last_tick = (now, step)
        run = self.plots.legend.get(runner.run_id, runner.run_id)  # as the legend names it
        return {"run": run, "status": runner.status,
                # no trainer (none yet, or after Reset): no epoch or step to speak of
                "step": step if trainer else None, "epoch": trainer.epoch if trainer else None,
                "epochs": (trainer.hp if trainer else runner.hparams).epochs,
                "steps_per_second": self._rate, "device": str(runner.device),
                "error": runner.error, "job": self.jobs.runner.name if self.jobs.busy else None}

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

    # --- layout ----------------------------------------------------------------------------
    def _layout(self) -> widgets.Widget:
        log_toggle = widgets.ToggleButton(description="log scale", value=False,
                                          tooltip="Loss on a logarithmic axis")
        log_toggle.observe(self.set_log_scale, "value")
        clear = widgets.Button(description="clear plots", icon="eraser",
                               tooltip="Take every run off the plots but the one training; "
                               "they stay saved and listed below (tick show to draw one)")
        clear.on_click(lambda _: self.clear_plots())
        self.surface_refresh = widgets.Button(
            description="refresh loss surface", icon="refresh",
            tooltip="The loss over two random directions around the current run's weights "
            "(the 2-D plot), made in the background", layout=widgets.Layout(width="auto"))
        self.surface_refresh.on_click(lambda _: self.refresh_surface())
        surface_path = widgets.Dropdown(
            description="slice", options=[("last step", "step"), ("from the start", "start")],
            value="step", style={"description_width": "2.5em"},
            layout=widgets.Layout(width="13em"),
            tooltip="What the lower loss-surface plot shows: the loss along the last step, "
            "or along the line from the initial weights to now")
        surface_path.observe(self.set_surface_path, "value")
        self.figures = FigureGrid(self.plots.figures())
        own = self.own.data
        self._show_plane(own.bounds is not None if own is not None else
                         datasets.DATASETS[self.runner.hparams.dataset].kind == "points")
        own_data = widgets.Accordion([self.upload.widget], titles=("your own data",))
        own_data.selected_index = None
        if self.own.data is not None:  # yours is given: no table to upload
            own_data.layout.display = "none"
        if self.own:  # lessons and links set up the built-in models and data sets
            self.lesson_panel.widget.layout.display = "none"
        left = widgets.VBox([widgets.HTML("<h2>playground</h2>"), self.own_note,
                             self.controls.widget, own_data],
                            # 520: the learning-rate slider spans 250 px (40 a decade)
                            layout=widgets.Layout(width="520px", flex="0 0 auto"))
        right = widgets.VBox([
            self.lesson_panel.widget,
            widgets.HBox([self.toolbar.widget, log_toggle, clear, self.drawn.focus,
                          self.surface_refresh, surface_path],
                         layout=widgets.Layout(flex_flow="row wrap")),  # wraps when narrow
            self.status_line.widget,
            self.message, self.figures.widget, self.runs_table.widget, self._tools(),
        ], layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        # BokehJS first: the page must have it before it makes the first figure's view
        return widgets.VBox([bokehjs_loader(), theme_css(), widgets.HBox([left, right])])


    def _tools(self) -> widgets.Widget:
        """Let the machine try: races, sweeps, sensitivity, and the learning-rate range test."""
        tools = widgets.Tab([self.search.widget, self.lr_range.widget])
        tools.set_title(0, "race · sweep · sensitivity")
        tools.set_title(1, "find learning rate")
        tools.add_class(ROOT_CLASS)  # the tabs' titles at the page's size, whole
        return tools


def _read_link(query: str) -> Link:
    return parse_link(query, free_play=HParams.free_play())  # the same in link()


def preheating() -> bool:
    """True in a kernel of Voilà's preheated pool (it runs the notebook before a page asks)."""
    return os.environ.get("VOILA_PREHEAT") == "True"


def page_query() -> str:
    """The URL query of the page this kernel serves (Voilà puts it in QUERY_STRING).

    A kernel from Voilà's preheated pool runs the notebook before any page asks for it: it
    pays for torch's imports now, then waits here until a page takes it and sends its URL."""
    if preheating():
        warm_up()
        from voila.utils import wait_for_request

        wait_for_request()  # sets QUERY_STRING, SERVER_NAME, ... from the page's request
    return os.environ.get("QUERY_STRING", "")


def _own_note(not_applicable: dict[str, str]) -> str:
    """Which controls are hidden for your model or data, and why (one line per reason)."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in not_applicable.items():
        by_reason.setdefault(reason, []).append(HParams.specs()[name].label)
    lines = [f"{', '.join(labels)}: hidden, {reason}" for reason, labels in by_reason.items()]
    return "".join(f'<div style="color:#555">{html.escape(line)}</div>' for line in lines)


_kernels_app: weakref.ref[Playground] | None = None  # the app last made in this kernel


def _replace_the_kernels_app(app: Playground) -> None:
    """In a Jupyter kernel, one app at a time: running the cell again closes the previous app
    (its run, pump and widgets), which would otherwise go on training beside the new one.
    Outside a kernel (scripts, tests) apps are left to their owner."""
    global _kernels_app
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    previous = _kernels_app() if _kernels_app is not None else None
    if previous is not None and previous is not app:
        previous.close()
    _kernels_app = weakref.ref(app)


def _widget_tree(root: widgets.Widget) -> list[widgets.Widget]:
    """`root` and every widget inside it."""
    found, todo = [], [root]
    while todo:
        widget = todo.pop()
        found.append(widget)
        todo.extend(child for child in getattr(widget, "children", ())
                    if isinstance(child, widgets.Widget))
    return found


def _error_html(text: str) -> str:
    return f'<div style="color:#D55E00;font-size:16px">{text}</div>'
