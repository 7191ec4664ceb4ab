"""The search panel over the app's background jobs with a fake host, and the Bokeh figures
of a search (no browser). `finish` delivers the jobs' results as the app's pump does."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from playground.config import HParams
from playground.engine.record import RunRecord
from playground.jobs import Background, JobRunner
from playground.own import Own
from playground.store import RunStore
from playground.ui.search_panel import SearchPanel, parse_values, trials_table

TINY = HParams(dataset="moons", samples=200, epochs=2, width=8)
WAIT = 300  # seconds a job may take on a busy machine before the test gives up


class FakeHost:
    """What the app gives the panel: sliders, the live record, the run store."""

    def __init__(self, hp: HParams = TINY):
        self.hp = hp
        self.record = RunRecord()
        self.store = RunStore()
        self.device = "cpu"
        self.own = Own()  # the built-in model and data
        self.loaded: list[HParams] = []
        self.shown: list[str] = []
        self.threads: set[str] = set()

    def current_hparams(self) -> HParams:
        return self.hp

    def load_config(self, hp: HParams) -> None:
        self.loaded.append(hp)

    def show_run(self, run_id: str, config: dict, name: str | None = None) -> None:
        self.shown.append(run_id)
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def host():
    return FakeHost()


def make_panel(host: FakeHost) -> SearchPanel:
    """The panel as the app wires it: its Start buttons call the jobs, which tell it when
    they are busy; `panel.jobs` is kept for the tests."""
    panel = SearchPanel(jobs := Background(host, JobRunner()))
    jobs.runner.on_busy = panel.set_busy
    panel.jobs = jobs
    return panel


@pytest.fixture
def panel(host):
    panel = make_panel(host)
    yield panel
    panel.jobs.cancel()


def finish(panel):
    """Wait for the job, then show its results (what the app's pump does each round)."""
    panel.jobs.wait(WAIT)
    assert not panel.jobs.busy
    panel.jobs.deliver()


def test_a_race_streams_every_member_into_the_record(host, panel):
    panel.race.field.value = "lr"
    panel.race.values.value = "0.001, 0.01, 0.1"
    assert panel.race.start()
    finish(panel)
    rows = host.record.reader().fetch()["points"]
    runs = {row["run"] for row in rows}
    assert runs == set(host.shown) and len(runs) == 3
    assert host.threads == {"playground-job-a race"}  # trained off the kernel's thread
    assert [host.store.get(run).name for run in host.shown] == ["lr=0.001", "lr=0.01", "lr=0.1"]
    assert all(host.store.get(run).status == "finished" for run in host.shown)
    assert "finished" in panel.race.message.value


def test_bad_race_values_say_what_is_allowed_and_start_nothing(host, panel):
    panel.race.values.value = "0.1, fast"
    assert not panel.race.start()
    assert "lr" in panel.race.message.value and "allowed" in panel.race.message.value
    panel.race.values.value = "0.1, 50"
    assert not panel.race.start() and "50" in panel.race.message.value
    assert not panel.jobs.busy and host.shown == []


def test_suggested_values_surround_the_sliders():
    panel = make_panel(FakeHost(TINY.replace(lr=0.01)))
    assert parse_values("lr", panel.race.values.value) == [1e-4, 1e-3, 0.01, 0.1, 1.0]
    panel.race.field.value = "optimizer"
    assert "adam" in panel.race.values.value and "sgd" in panel.race.values.value


def test_a_sweep_fills_progress_best_and_table_and_loads_the_best(host, panel):
    panel.sweep.fields.value = ("lr",)
    panel.sweep.ranges.value = "lr=1e-3:0.3"
    panel.sweep.method.value = "random"
    panel.sweep.trials.value = 3
    assert panel.sweep.start()
    finish(panel)
    assert panel.sweep.progress.value == 3
    assert "best so far" in panel.sweep.best_label.value
    assert panel.sweep.table.value.count("<tr>") == 4  # header and three trials
    points = host.record.reader().fetch()["points"]
    assert {row["run"] for row in points} == set(host.shown) and len(host.shown) == 3
    assert not panel.sweep.load_best.disabled
    panel.sweep.load_best.click()
    best = panel.sweep.result.best
    assert host.loaded == [TINY.replace(**best.params)]
    assert panel.sensitivity.sweep_result is panel.sweep.result


def test_a_bad_sweep_range_is_one_line_in_the_panel(panel):
    panel.sweep.fields.value = ("lr",)
    panel.sweep.ranges.value = "lr=5:1"
    panel.sweep.start()
    finish(panel)
    assert "lr" in panel.sweep.message.value and "allowed" in panel.sweep.message.value


def test_importance_over_saved_runs_draws_the_views(host, panel):
    for i, lr in enumerate([1e-4, 1e-3, 0.01, 0.1, 1.0, 3e-4]):
        run_id = host.store.create_run(TINY.replace(lr=lr, width=8 + 8 * (i % 2)).to_dict(),
                                       "cpu", source="manual")
        loss = abs(i - 2) + 0.1 * (i % 2)
        host.store.writer(run_id).finish("finished", 10, 0.1, {"val_loss": loss})
    other = host.store.create_run(TINY.replace(dataset="xor", lr=0.5).to_dict(), "cpu")
    host.store.writer(other).finish("finished", 10, 0.1, {"val_loss": 9.0})  # other data
    stopped = host.store.create_run(TINY.replace(lr=0.02, width=16).to_dict(), "cpu")
    host.store.writer(stopped).finish("stopped", 10, 0.1, {"val_loss": 1.5})  # free play
    panel.sensitivity.source.value = "runs"
    assert panel.sensitivity.start_importance()
    finish(panel)
    assert "7 saved runs on moons (7 finished)" in panel.sensitivity.message.value
    assert set(panel.sensitivity.importance) == {"lr", "width"}
    assert panel.sensitivity.names[0] == "importance"
    assert {"parallel", "contour", "slice:lr", "slice:width"} <= set(panel.sensitivity.names)
    assert len(panel.sensitivity.figures.children) == 1


def test_a_one_at_a_time_curve(host, panel):
    panel.sensitivity.curve_field.value = "width"
    panel.sensitivity.curve_values.value = "4, 8, 16"
    assert panel.sensitivity.start_curve()
    finish(panel)
    rows = panel.sensitivity.curve_rows
    assert [row.value for row in rows] == [4, 8, 16]
    assert all(row.status == "finished" for row in rows)
    assert "best val loss" in panel.sensitivity.message.value
    assert len(panel.sensitivity.curve.children) == 1


def test_stop_ends_a_long_race_at_a_step_boundary():
    host = FakeHost(TINY.replace(epochs=1000))
    panel = make_panel(host)
    panel.race.values.value = "0.01, 0.1"
    assert panel.race.start()
    deadline = time.monotonic() + WAIT
    while not host.record.reader().fetch().get("points") and time.monotonic() < deadline:
        time.sleep(0.1)  # until the race trains
    panel.stop_button.click()  # End search
    finish(panel)
    statuses = {host.store.get(run).status for run in host.shown}
    assert statuses == {"stopped"}
    assert "stopped" in panel.race.message.value and not panel.race.button.disabled


def test_one_job_at_a_time(host, panel):
    panel.race.values.value = "0.01, 0.1"
    host.hp = TINY.replace(epochs=200)
    assert panel.race.start()
    assert panel.race.button.disabled and not panel.stop_button.disabled
    assert not panel.sensitivity.start_curve()
    assert "a race is running" in panel.sensitivity.message.value
    panel.jobs.cancel()
    assert panel.race.button.disabled  # until the pump shows that the race has ended
    panel.jobs.deliver()
    assert not panel.race.button.disabled


def test_a_diverged_trial_is_called_diverged_not_pruned():
    from playground.sweeps._base import TrialRow

    table = trials_table([TrialRow(0, "PRUNED", {"lr": 9.0}, None, status="diverged"),
                          TrialRow(1, "PRUNED", {"lr": 1.0}, 0.9, status="pruned")])
    assert "<td>diverged</td>" in table and "<td>pruned</td>" in table


def test_trials_table_puts_the_best_first():
    from playground.sweeps._base import TrialRow

    rows = [TrialRow(0, "COMPLETE", {"lr": 0.1}, 0.5), TrialRow(1, "PRUNED", {"lr": 1.0}, 0.9),
            TrialRow(2, "COMPLETE", {"lr": 0.01}, 0.2)]
    table = trials_table(rows)
    assert table.index("0.2000") < table.index("0.5000") < table.index("pruned")


def test_the_panel_module_loads_neither_torch_nor_optuna():
    code = ("import sys; import playground.ui.search_panel, playground.ui.lr_range, "
            "playground.plots.search; "
            "print([m for m in ('torch', 'optuna', 'playground.engine.trainer') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# --- the Bokeh figures ---------------------------------------------------------------------
def test_search_figures_render_the_view_data():
    import optuna
    from bokeh.embed import json_item
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from playground.plots import search
    from playground.sweeps import views

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"lr": FloatDistribution(1e-4, 1.0, log=True),
             "optimizer": CategoricalDistribution(("sgd", "adam"))}
    study = optuna.create_study()
    for i in range(12):
        params = {"lr": 10 ** (-4 + i / 3), "optimizer": ("sgd", "adam")[i % 2]}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space,
                                                  value=abs(i - 6) + 0.1 * (i % 2)))
    figures = [search.importance_figure(views.importance_info(study)),
               search.history_figure(views.history_info(study)),
               search.parallel_figure(views.parallel_info(study)),
               search.contour_figure(views.contour_info(study, "lr", "optimizer")),
               *search.slice_figures(views.slice_info(study)),
               search.sensitivity_figure("lr", [1e-3, 1e-2, 0.1], [0.5, 0.2, None],
                                         current=1e-2, log=True)]
    assert [f.name for f in figures] == ["importance", "history", "parallel", "contour",
                                         "slice:lr", "slice:optimizer", "sensitivity"]
    for fig in figures:
        json_item(fig)  # serialises as the browser would receive it
    bars = figures[0].renderers[0].data_source.data
    assert list(bars["param"]) == list(views.importance_info(study).params)
    history = figures[1].renderers[1].data_source.data
    assert list(history["y"]) == views.history_info(study).best
    assert figures[3].x_scale.__class__.__name__ == "LogScale"
    assert figures[5].xaxis[0].major_label_overrides == {0: "sgd", 1: "adam"}
