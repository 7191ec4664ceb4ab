"""The Race, Sweep and Sensitivity tabs: the machine tries configurations, the person watches.

The panel owns no thread and imports neither the engine nor the sweeps: it checks what was
typed, calls the app's background jobs (`Actions`, see playground/jobs.py), and shows the
plain results they hand back on the pump's thread. Runs of a race or sweep stream into the
main plots like a slider-made run.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets
from bokeh.layouts import column

from playground.config import (
    DEFAULT_SEARCH,
    RACE_FIELDS,
    SEARCHABLE,
    HParams,
    HParamsError,
    values_around,
)
from playground.plots import search
from playground.plots.widget import FiguresWidget
from playground.status import Status
from playground.ui.theme import ROOT_CLASS, error_html

METHODS = (("Bayesian (TPE)", "tpe"), ("random", "random"), ("grid", "grid"),
           ("Gaussian process", "gp"))
PRUNERS = (("no pruning", "none"), ("median", "median"), ("Hyperband", "hyperband"))
EVALUATORS = (("PED-ANOVA (fast)", "ped_anova"), ("fANOVA (forest)", "fanova"))
TABLE_ROWS = 12  # trials shown in the table, best first

Done = Callable[[Any], None]
Failed = Callable[[str], None]


class Actions(Protocol):
    """The app's background jobs (playground.jobs.Background). Each raises HParamsError or
    JobBusy (a ValueError) at once for input it refuses; results come back through `done`."""

    busy: bool

    def current_hparams(self) -> HParams: ...
    def load_config(self, hp: HParams) -> None: ...
    def race(self, field: str, values: Sequence[Any], done: Done, failed: Failed) -> None: ...
    def sweep(self, search: str, method: str, trials: int, pruner: str,
              progress: Callable[[Any], None], done: Done, failed: Failed) -> None: ...
    def importance(self, source: str, evaluator: str, sweep_result: Any, done: Done,
                   failed: Failed) -> None: ...
    def curve(self, field: str, values: Sequence[Any], done: Done, failed: Failed) -> None: ...
    def cancel(self) -> None: ...


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


class SearchPanel:
    """Tabs Race, Sweep and Sensitivity over the app's jobs; `.widget` to show."""

    def __init__(self, actions: Actions):
        self.actions = actions
        self.race = RaceTab(self)
        self.sweep = SweepTab(self)
        self.sensitivity = SensitivityTab(self)
        self.stop_button = widgets.Button(description="End search", icon="stop", disabled=True,
                                          tooltip="End the race, sweep or curve at the next step")
        self.stop_button.on_click(lambda _: self.actions.cancel())
        self.tabs = widgets.Tab([self.race.widget, self.sweep.widget, self.sensitivity.widget])
        for i, title in enumerate(("Race", "Sweep", "Sensitivity")):
            self.tabs.set_title(i, title)
        self.widget = widgets.VBox([self.tabs, self.stop_button])
        self.widget.add_class(ROOT_CLASS)

    def set_busy(self, busy: bool) -> None:
        """A job started or ended: only End search while one runs."""
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
        values = values_around(field, getattr(self.panel.actions.current_hparams(), field))
        self.values.value = ", ".join(_fmt(v) for v in values)

    def start(self) -> bool:
        field = self.field.value
        try:
            values = parse_values(field, self.values.value)
            self.panel.actions.race(field, values, lambda outcomes: self.show(field, outcomes),
                                    self.fail)
        except ValueError as error:  # a bad value, a field a race cannot vary, a busy job
            self.message.value = error_html(str(error))
            return False
        self.message.value = f"racing {len(values)} values of {html.escape(field)}..."
        return True

    def show(self, field: str, outcome: Any) -> None:
        """Each member's value, status and validation loss (a jobs.RaceOutcome)."""
        parts = [f"{field}={_fmt(value)}: {status}"
                 + (f", val loss {s['val_loss']:.4f}" if s.get("val_loss") is not None else "")
                 for value, status, s in outcome.members]
        self.message.value = html.escape("; ".join(parts + [outcome.note or ""]).strip("; "))

    def fail(self, text: str) -> None:
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
        try:
            self.panel.actions.sweep(self.search_text(), self.method.value, self.trials.value,
                                     self.pruner.value, self._progress, self.show, self.fail)
        except ValueError as error:  # a bad range, method or budget, or a busy job
            self.message.value = error_html(str(error))
            return False
        self.progress.max, self.progress.value = self.trials.value, 0
        self.best_label.value, self.table.value, self._rows = "", "", []
        self.load_best.disabled = True
        self.message.value = "sweeping..."
        return True

    def show(self, result: Any) -> None:
        """The finished (or ended) sweep: best, counts, and it becomes the Sensitivity
        tab's source."""
        self.result = result
        self._show_best(result.best)
        self.load_best.disabled = result.best is None
        done = ", ".join(f"{n} {state.lower()}" for state, n in result.counts().items())
        note = f"; {result.plan.note}" if result.plan.note else ""
        self.message.value = html.escape(f"study {result.study.study_name}: {done}"
                                         + (f" ({result.message})" if result.stopped else "")
                                         + note)
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
            self.panel.actions.load_config(self.result.best_config)

    def fail(self, text: str) -> None:
        self.message.value = error_html(text)


def trial_state(row: Any) -> str:
    """What happened to a trial in words: its run's status where Optuna's state says less
    (a diverged run is PRUNED to Optuna, with or without a pruner)."""
    if row.state == "PRUNED" and row.status == Status.DIVERGED:
        return "diverged"
    return row.state.lower()


def trials_table(rows: Sequence[Any], limit: int = TABLE_ROWS) -> str:
    """An HTML table of trials, the best finished ones first."""
    def key(row: Any) -> tuple:
        return (row.state != "COMPLETE", row.value if row.value is not None else float("inf"))

    shown = sorted(rows, key=key)[:limit]
    names = list(dict.fromkeys(name for row in shown for name in row.params))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["#", "state", "val loss", *names])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in [
            str(row.number), trial_state(row),
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
        values = values_around(field, getattr(self.panel.actions.current_hparams(), field))
        self.curve_values.value = ", ".join(_fmt(v) for v in values)

    def sweep_finished(self, result: Any) -> None:
        self.sweep_result = result
        self.source.value = "sweep"

    # --- importance and the views --------------------------------------------------------
    def start_importance(self) -> bool:
        try:
            self.panel.actions.importance(self.source.value, self.evaluator.value,
                                          self.sweep_result, self.show_importance, self.fail)
        except ValueError as error:
            self.message.value = error_html(str(error))
            return False
        self.message.value = "computing importance..."
        return True

    def show_importance(self, result: Any) -> None:
        """Importance bars and the search views (a jobs.Importance)."""
        self.importance = dict(result.values)
        if not result.values:
            self.message.value = error_html(f"{result.label}: too few finished runs, or "
                                            "nothing varied between them")
            return
        self._show_figures(result.infos)
        self.message.value = html.escape(f"importance over {result.label} "
                                         f"({result.finished} finished)")

    def _show_figures(self, infos: dict[str, Any]) -> None:
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
        try:
            values = parse_values(field, self.curve_values.value)
            self.panel.actions.curve(field, values, lambda result: self.show_curve(field, result),
                                     self.fail)
        except ValueError as error:
            self.message.value = error_html(str(error))
            return False
        self.message.value = f"training {len(values)} values of {html.escape(field)}..."
        return True

    def show_curve(self, field: str, result: tuple[HParams, list[Any]]) -> None:
        """The one-at-a-time curve: the metric against the field's values."""
        base, rows = result
        self.curve_rows = rows
        spec = HParams.specs()[field]
        figure = search.sensitivity_figure(field, [r.value for r in rows],
                                           [r.metric for r in rows],
                                           current=getattr(base, field), log=spec.scale == "log")
        self.curve.children = [FiguresWidget(column(figure, sizing_mode="stretch_width"),
                                             layout=widgets.Layout(width="100%"))]
        best = min((r for r in rows if r.metric is not None), key=lambda r: r.metric,
                   default=None)
        note = f"; {rows[0].note}" if rows and rows[0].note else ""
        self.message.value = html.escape(
            (f"{field}: best val loss {best.metric:.4f} at {_fmt(best.value)}" if best
             else f"{field}: no run finished") + note)

    def fail(self, text: str) -> None:
        self.message.value = error_html(text)
