"""The Race, Sweep and Sensitivity tabs: the machine tries configurations, the person watches.

One job runs at a time, in a background daemon thread; torch, optuna and the sweeps package
load inside it, never when this module is imported. The thread appends training rows to the
host's record (the app's pump streams them into the main plots) and sets plain widget values
(progress, labels, the trials table); Bokeh figures of a search are built once it ends.

The host (the app) provides: current_hparams(), load_config(hp), record, show_run(run_id,
config), store and device.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets

from playground.config import HParams, HParamsError
from playground.sweeps.fields import DEFAULT_SEARCH, RACE_FIELDS, values_around
from playground.ui.theme import ROOT_CLASS, error_html

METHODS = (("Bayesian (TPE)", "tpe"), ("random", "random"), ("grid", "grid"),
           ("Gaussian process", "gp"))
PRUNERS = (("no pruning", "none"), ("median", "median"), ("Hyperband", "hyperband"))
EVALUATORS = (("PED-ANOVA (fast)", "ped_anova"), ("fANOVA (forest)", "fanova"))
SEARCHABLE = tuple(name for name in HParams.specs() if name not in ("dataset", "seed"))
TABLE_ROWS = 12  # trials shown in the table, best first
STOP_TIMEOUT = 30.0  # seconds stop() waits for the job to leave at a step boundary


class Host(Protocol):
    record: Any
    store: Any

    def current_hparams(self) -> HParams: ...
    def load_config(self, hp: HParams) -> None: ...
    def show_run(self, run_id: str, config: dict[str, Any]) -> None: ...
    @property
    def device(self) -> Any: ...


def parse_values(field: str, text: str) -> list[Any]:
    """"0.01, 0.1, 1" -> the field's values, each checked; HParamsError names a bad one."""
    specs = HParams.specs()
    if field not in specs:
        raise HParamsError(field, text, "a field of HParams: " + ", ".join(specs))
    values = [specs[field].parse(field, part) for part in text.replace(";", ",").split(",")
              if part.strip()]
    if len(values) < 2:
        raise HParamsError(field, text, "at least two values, comma-separated: "
                           + specs[field].allowed())
    return list(dict.fromkeys(values))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _label(text: str, width: str = "7em") -> widgets.HTML:
    return widgets.HTML(f"<b>{html.escape(text)}</b>", layout=widgets.Layout(width=width))


class Job:
    """At most one background job; `stop_event` asks it to end at a step boundary."""

    def __init__(self, on_change: Callable[[bool], None]):
        self.on_change = on_change
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, work: Callable[[], None], on_error: Callable[[str], None]) -> bool:
        if self.busy:
            on_error("a race, sweep or curve is already running: stop it first")
            return False
        self.stop_event.clear()

        def main() -> None:
            try:
                work()
            except HParamsError as error:
                on_error(str(error))
            except Exception as error:  # shown in the panel, never lost in a thread
                on_error(f"{type(error).__name__}: {error}")
            finally:
                self.on_change(False)

        self.thread = threading.Thread(target=main, daemon=True, name="search-panel")
        self.on_change(True)
        self.thread.start()
        return True

    def stop(self, timeout: float | None = STOP_TIMEOUT) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)


class SearchPanel:
    """Tabs Race, Sweep and Sensitivity over a host app; `.widget` to show, `.stop()`."""

    def __init__(self, host: Host):
        self.host = host
        self.job = Job(self._busy)
        self.race = RaceTab(self)
        self.sweep = SweepTab(self)
        self.sensitivity = SensitivityTab(self)
        self.stop_button = widgets.Button(description="End search", icon="stop", disabled=True,
                                          tooltip="End the race, sweep or curve at the next step")
        self.stop_button.on_click(lambda _: self.job.stop_event.set())
        self.tabs = widgets.Tab([self.race.widget, self.sweep.widget, self.sensitivity.widget])
        for i, title in enumerate(("Race", "Sweep", "Sensitivity")):
            self.tabs.set_title(i, title)
        self.widget = widgets.VBox([self.tabs, self.stop_button])
        self.widget.add_class(ROOT_CLASS)

    def stop(self) -> None:
        """End the running job (at its next step boundary) and wait for it."""
        self.job.stop()

    def wait(self, timeout: float | None = None) -> None:
        self.job.wait(timeout)

    @property
    def busy(self) -> bool:
        return self.job.busy

    def _busy(self, busy: bool) -> None:
        self.stop_button.disabled = not busy
        for button in (self.race.button, self.sweep.button, self.sensitivity.importance_button,
                       self.sensitivity.curve_button):
            button.disabled = busy


class RaceTab:
    """One field, several values, trained at once from the same initial weights."""

    def __init__(self, panel: SearchPanel):
        self.panel = panel
        specs = HParams.specs()
        self.field = widgets.Dropdown(options=[(specs[n].label, n) for n in RACE_FIELDS],
                                      value="lr", description="field")
        self.values = widgets.Text(description="values", placeholder="0.001, 0.01, 0.1, 1",
                                   layout=widgets.Layout(width="28em"))
        self.button = widgets.Button(description="Race", icon="flag-checkered",
                                     button_style="primary",
                                     tooltip="Train every value at once on the same data")
        self.message = widgets.HTML("")
        self.field.observe(lambda _: self.suggest(), "value")
        self.button.on_click(lambda _: self.start())
        self.suggest()
        self.widget = widgets.VBox([
            widgets.HTML("Pick a hyperparameter and several values: they train together, "
                         "one line each on the plots, from the same starting weights."),
            widgets.HBox([self.field, self.values, self.button]), self.message])

    def suggest(self) -> None:
        """Values around the sliders' current one."""
        field = self.field.value
        values = values_around(field, getattr(self.panel.host.current_hparams(), field))
        self.values.value = ", ".join(_fmt(v) for v in values)

    def start(self) -> bool:
        field = self.field.value
        try:
            values = parse_values(field, self.values.value)
            base = self.panel.host.current_hparams()
            configs = [base.replace(**{field: value}) for value in values]
        except HParamsError as error:
            self.message.value = error_html(str(error))
            return False
        self.message.value = f"racing {len(configs)} values of {html.escape(field)}..."
        return self.panel.job.start(lambda: self._run(field, values, configs), self._error)

    def _run(self, field: str, values: Sequence[Any], configs: list[HParams]) -> None:
        from playground.sweeps.live import StopWhenSet, ToRecord
        from playground.sweeps.race import Race

        host = self.panel.host
        race = Race(configs, device=host.device, store=host.store,
                    callbacks=[StopWhenSet(self.panel.job.stop_event), ToRecord(host.record)],
                    names=[f"{field}={_fmt(v)}" for v in values])
        for run_id, hp in zip(race.run_ids, configs):
            host.show_run(run_id, hp.to_dict())
        statuses = race.fit()
        summaries = [host.store.get(run_id).summary for run_id in race.run_ids]
        parts = [f"{field}={_fmt(v)}: {status}"
                 + (f", val loss {s['val_loss']:.4f}" if s.get("val_loss") is not None else "")
                 for v, status, s in zip(values, statuses, summaries)]
        self.message.value = html.escape("; ".join(parts))

    def _error(self, text: str) -> None:
        self.message.value = error_html(text)


class SweepTab:
    """Fields, ranges, method, budget and pruner; progress, best so far, trials, load best."""

    def __init__(self, panel: SearchPanel):
        self.panel = panel
        specs = HParams.specs()
        self.fields = widgets.SelectMultiple(
            options=[(specs[n].label, n) for n in SEARCHABLE], value=DEFAULT_SEARCH, rows=6,
            description="search")
        self.ranges = widgets.Text(description="ranges", placeholder="lr=1e-4:1, "
                                   "optimizer=sgd/adam (optional; default: full range)",
                                   layout=widgets.Layout(width="30em"))
        self.defaults = widgets.HTML("")
        self.method = widgets.Dropdown(options=METHODS, value="tpe", description="method")
        self.trials = widgets.BoundedIntText(value=20, min=1, max=500, description="trials")
        self.pruner = widgets.Dropdown(options=PRUNERS, value="none", description="pruning")
        self.button = widgets.Button(description="Sweep", icon="search", button_style="primary")
        self.progress = widgets.IntProgress(value=0, min=0, max=20, description="trials")
        self.best_label = widgets.HTML("")
        self.table = widgets.HTML("")
        self.load_best = widgets.Button(description="load best", icon="upload", disabled=True,
                                        tooltip="Put the best configuration into the sliders")
        self.message = widgets.HTML("")
        self.result: Any = None
        self._rows: list[Any] = []
        self.fields.observe(lambda _: self.show_defaults(), "value")
        self.button.on_click(lambda _: self.start())
        self.load_best.on_click(lambda _: self.load())
        self.show_defaults()
        self.widget = widgets.VBox([
            widgets.HBox([self.fields, widgets.VBox([self.ranges, self.defaults])]),
            widgets.HBox([self.method, self.trials, self.pruner]),
            widgets.HBox([self.button, self.progress, self.load_best]),
            self.best_label, self.message, self.table])

    def show_defaults(self) -> None:
        specs = HParams.specs()
        parts = [f"{name}: {spec.allowed()}" + (" (log)" if spec.scale == "log" else "")
                 for name, spec in specs.items() if name in self.fields.value]
        self.defaults.value = ('<span class="pg-muted">' + html.escape("; ".join(parts))
                               + "</span>")

    def search_text(self) -> str:
        """The CLI's --search text: the chosen fields, then the ranges typed."""
        return ",".join([*self.fields.value, *(p for p in self.ranges.value.split(",")
                                               if p.strip())])

    def start(self) -> bool:
        if not self.fields.value:
            self.message.value = error_html("search: choose at least one field")
            return False
        text, base = self.search_text(), self.panel.host.current_hparams()
        method, trials, pruner = self.method.value, self.trials.value, self.pruner.value
        self.progress.max, self.progress.value = trials, 0
        self.best_label.value, self.table.value, self._rows = "", "", []
        self.message.value = "starting the sweep..."
        return self.panel.job.start(lambda: self._run(text, base, method, trials, pruner),
                                    self._error)

    def _run(self, text: str, base: HParams, method: str, trials: int, pruner: str) -> None:
        import optuna

        from playground.sweeps._local import LocalBackend
        from playground.sweeps.live import StopWhenSet, ToRecord
        from playground.sweeps.space import parse_search
        from playground.sweeps.study import make_plan, run_sweep

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        host = self.panel.host
        fields, ranges = parse_search(text)
        plan = make_plan(base, fields, ranges=ranges, method=method, trials=trials)
        self.message.value = ""

        def run_callbacks(run_id: str, hp: HParams) -> list[Any]:
            host.show_run(run_id, hp.to_dict())
            return [ToRecord(host.record, run_id)]

        backend = LocalBackend(pruner=pruner, run_callbacks=run_callbacks)
        result = run_sweep(base, space=plan.space, method=plan.method, trials=plan.trials,
                           study_name=plan.study_name, device=host.device, store=host.store,
                           callbacks=[StopWhenSet(self.panel.job.stop_event)],
                           progress=self._progress, backend=backend)
        self.result = result
        self._show_best(result.best)
        self.load_best.disabled = result.best is None
        done = ", ".join(f"{n} {state.lower()}" for state, n in result.counts().items())
        self.message.value = html.escape(f"study {plan.study_name}: {done}"
                                         + (f" ({result.message})" if result.stopped else ""))
        self.panel.sensitivity.sweep_finished(result)

    def _progress(self, row: Any) -> None:
        """Each finished trial: the bar, the best so far and the table (plain widget values)."""
        self._rows.append(row)
        self.progress.value = min(self.progress.value + 1, self.progress.max)
        done = [r for r in self._rows if r.state == "COMPLETE" and r.value is not None]
        self._show_best(min(done, key=lambda r: r.value) if done else None)
        self.table.value = trials_table(self._rows)

    def _show_best(self, row: Any) -> None:
        if row is None:
            self.best_label.value = "best so far: none finished yet"
            return
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in row.params.items())
        self.best_label.value = (f"<b>best so far</b>: val loss {row.value:.4f} "
                                 f"(trial {row.number}: {html.escape(params)})")

    def load(self) -> None:
        """The best configuration into the sliders."""
        if self.result is not None and self.result.best_config is not None:
            self.panel.host.load_config(self.result.best_config)

    def _error(self, text: str) -> None:
        self.message.value = error_html(text)


def trials_table(rows: Sequence[Any], limit: int = TABLE_ROWS) -> str:
    """An HTML table of trials, the best finished ones first."""
    def key(row: Any) -> tuple:
        return (row.state != "COMPLETE", row.value if row.value is not None else float("inf"))

    shown = sorted(rows, key=key)[:limit]
    names = list(dict.fromkeys(name for row in shown for name in row.params))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["#", "state", "val loss", *names])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in [
            str(row.number), row.state.lower(),
            "-" if row.value is None else f"{row.value:.4f}",
            *(_fmt(row.params.get(n, "")) for n in names)]) + "</tr>"
        for row in shown)
    return (f'<table class="pg-trials" style="font-size:15px"><tr>{head}</tr>{body}</table>'
            f'<span class="pg-muted">{len(rows)} trials</span>')


class SensitivityTab:
    """Importance over the last sweep or over saved runs, the search views, and a
    one-at-a-time curve around the sliders' configuration."""

    def __init__(self, panel: SearchPanel):
        self.panel = panel
        specs = HParams.specs()
        self.source = widgets.Dropdown(options=[("saved runs (all)", "runs"),
                                                ("the last sweep", "sweep")], value="runs",
                                       description="over")
        self.evaluator = widgets.Dropdown(options=EVALUATORS, value="ped_anova",
                                          description="method")
        self.importance_button = widgets.Button(description="Importance", icon="bar-chart")
        self.curve_field = widgets.Dropdown(options=[(specs[n].label, n) for n in SEARCHABLE],
                                            value="lr", description="vary")
        self.curve_values = widgets.Text(description="values",
                                         layout=widgets.Layout(width="28em"))
        self.curve_button = widgets.Button(description="Curve", icon="line-chart",
                                           tooltip="Vary one field, hold the rest")
        self.message = widgets.HTML("")
        self.figures = widgets.VBox([])
        self.curve = widgets.VBox([])
        self.sweep_result: Any = None
        self.importance: dict[str, float] = {}
        self.names: list[str] = []  # of the figures shown
        self.importance_button.on_click(lambda _: self.start_importance())
        self.curve_field.observe(lambda _: self.suggest(), "value")
        self.curve_button.on_click(lambda _: self.start_curve())
        self.suggest()
        self.widget = widgets.VBox([
            widgets.HTML("Which hyperparameters mattered? Over your saved runs (the ones "
                         "made with the sliders too) or the last sweep."),
            widgets.HBox([self.source, self.evaluator, self.importance_button]),
            self.figures,
            widgets.HTML("<b>One at a time</b>: vary one field around the sliders' values."),
            widgets.HBox([self.curve_field, self.curve_values, self.curve_button]),
            self.curve, self.message])

    def suggest(self) -> None:
        field = self.curve_field.value
        values = values_around(field, getattr(self.panel.host.current_hparams(), field))
        self.curve_values.value = ", ".join(_fmt(v) for v in values)

    def sweep_finished(self, result: Any) -> None:
        self.sweep_result = result
        self.source.value = "sweep"

    # --- importance and the views --------------------------------------------------------
    def start_importance(self) -> bool:
        source, evaluator = self.source.value, self.evaluator.value
        if source == "sweep" and self.sweep_result is None:
            self.message.value = error_html("over: no sweep yet; run one in the Sweep tab")
            return False
        self.message.value = "computing importance..."
        return self.panel.job.start(lambda: self._importance(source, evaluator), self._error)

    def _importance(self, source: str, evaluator: str) -> None:
        from playground.sweeps import views
        from playground.sweeps.importance import importances, study_from_runs

        if source == "sweep":
            study, label = self.sweep_result.study, "the last sweep"
        else:
            runs = self.panel.host.store.list_runs()
            study, label = study_from_runs(runs), f"{len(runs)} saved runs"
        values = importances(study, evaluator)
        self.importance = values
        if not values:
            self.message.value = error_html(f"{label}: too few finished runs, or nothing "
                                            "varied between them")
            return
        infos = {"importance": views.ImportanceInfo(list(values), list(values.values()),
                                                    evaluator),
                 "history": views.history_info(study) if source == "sweep" else None,
                 "parallel": views.parallel_info(study, list(values)),
                 "slices": views.slice_info(study, list(values)),
                 "contour": (views.contour_info(study, *list(values)[:2])
                             if len(values) >= 2 else None)}
        self._show_figures(infos)
        n = len(views.complete_trials(study)[0])
        self.message.value = html.escape(f"importance over {label} ({n} finished)")

    def _show_figures(self, infos: dict[str, Any]) -> None:
        from bokeh.layouts import column

        from playground.plots import search
        from playground.plots.widget import FiguresWidget

        figures = [search.importance_figure(infos["importance"])]
        if infos["history"] is not None:
            figures.append(search.history_figure(infos["history"]))
        figures.append(search.parallel_figure(infos["parallel"]))
        if infos["contour"] is not None:
            figures.append(search.contour_figure(infos["contour"]))
        figures += search.slice_figures(infos["slices"])
        self.names = [fig.name for fig in figures]
        self.figures.children = [FiguresWidget(column(*figures, sizing_mode="stretch_width"),
                                               layout=widgets.Layout(width="100%"))]

    # --- one at a time -------------------------------------------------------------------
    def start_curve(self) -> bool:
        field = self.curve_field.value
        base = self.panel.host.current_hparams()
        try:
            values = parse_values(field, self.curve_values.value)
            for value in values:
                base.replace(**{field: value})
        except HParamsError as error:
            self.message.value = error_html(str(error))
            return False
        self.message.value = f"training {len(values)} values of {html.escape(field)}..."
        return self.panel.job.start(lambda: self._curve(base, field, values), self._error)

    def _curve(self, base: HParams, field: str, values: list[Any]) -> None:
        from bokeh.layouts import column

        from playground.plots.search import sensitivity_figure
        from playground.plots.widget import FiguresWidget
        from playground.sweeps.importance import one_at_a_time
        from playground.sweeps.live import StopWhenSet

        host = self.panel.host
        rows = one_at_a_time(base, field, values, device=host.device, store=host.store,
                             callbacks=[StopWhenSet(self.panel.job.stop_event)])
        self.curve_rows = rows
        spec = HParams.specs()[field]
        figure = sensitivity_figure(field, [r.value for r in rows], [r.metric for r in rows],
                                    current=getattr(base, field), log=spec.scale == "log")
        self.curve.children = [FiguresWidget(column(figure, sizing_mode="stretch_width"),
                                             layout=widgets.Layout(width="100%"))]
        best = min((r for r in rows if r.metric is not None), key=lambda r: r.metric,
                   default=None)
        self.message.value = html.escape(
            f"{field}: best val loss {best.metric:.4f} at {_fmt(best.value)}" if best
            else f"{field}: no run finished")

    def _error(self, text: str) -> None:
        self.message.value = error_html(text)
