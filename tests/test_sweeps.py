"""Sweeps: search spaces from the metadata, every sampler, grids, pruning, resuming, the CLI.

Most tests drive the real sweep machinery (Optuna ask/tell, storage, pruners) with a cheap
stand-in for training; the ones about pruning and the run store train the real Trainer.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics

import optuna
import pytest
from fresh import modules_loaded
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from playground.cli import main
from playground.config import HParams, HParamsError
from playground.store import RunStore
from playground.sweeps import default_space, grid_from_space, make_plan, parse_search, run_sweep
from playground.sweeps._local import LocalBackend
from playground.sweeps._trial import TrialOutcome
from playground.sweeps.samplers import make_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
TINY = HParams(dataset="moons", samples=200, epochs=2, width=8)


def bowl(hp: HParams, callbacks=(), name="") -> TrialOutcome:
    """A stand-in for training: best at lr 0.01, dropout 0.3, momentum 0.5."""
    value = (math.log10(hp.lr) + 2) ** 2 + 10 * (hp.dropout - 0.3) ** 2 + (hp.momentum - 0.5) ** 2
    return TrialOutcome(None, "finished", 1, 0.0, {"val_loss": value})


def sweep(fields=("lr",), train=bowl, storage=None, **kwargs):
    return run_sweep(HParams(), fields, backend=LocalBackend(storage=storage, train=train),
                     **kwargs)


# --- spaces --------------------------------------------------------------------------------
def test_the_space_comes_from_the_metadata():
    space = default_space(["lr", "weight_decay", "optimizer", "batch_norm", "width"])
    assert space["lr"] == FloatDistribution(1e-5, 10.0, log=True)
    assert space["weight_decay"] == FloatDistribution(1e-6, 1.0, log=True)  # 0 is "off"
    assert isinstance(space["optimizer"], CategoricalDistribution)
    assert space["batch_norm"].choices == (False, True)
    assert space["width"] == IntDistribution(1, 512)


def test_search_text_names_fields_ranges_and_values():
    fields, ranges = parse_search("lr=1e-4:1, dropout ,optimizer=sgd/adam,batch-size=16/64")
    assert fields == ["lr", "dropout", "optimizer", "batch_size"]
    assert ranges == {"lr": (1e-4, 1.0), "optimizer": ["sgd", "adam"], "batch_size": [16, 64]}
    space = default_space(fields, ranges)
    assert space["lr"] == FloatDistribution(1e-4, 1.0, log=True)
    assert space["batch_size"].choices == (16, 64)


@pytest.mark.parametrize("text, field", [
    ("nope", "nope"), ("lr=1:0.1", "lr"), ("lr=0:1", "lr"), ("lr=1e-9:1", "lr"),
    ("optimizer=sgd/lbfgs", "optimizer"), ("dropout=a:b", "dropout"),
])
def test_a_bad_search_names_its_field(text, field):
    with pytest.raises(HParamsError) as error:
        fields, ranges = parse_search(text)
        default_space(fields, ranges)
    assert error.value.field == field


@pytest.mark.parametrize("kwargs, field", [
    (dict(method="bayes"), "method"), (dict(metric="loss"), "metric"), (dict(trials=0), "trials"),
    (dict(trials=None, method="tpe"), "trials"),
])
def test_a_bad_plan_names_its_field(kwargs, field):
    with pytest.raises(HParamsError) as error:
        make_plan(HParams(), ["lr"], **kwargs)
    assert error.value.field == field


# --- samplers ------------------------------------------------------------------------------
def test_a_grid_sweep_visits_exactly_the_grid():
    ranges = {"lr": (1e-3, 1e-1), "optimizer": ["sgd", "adam"], "dropout": [0.0, 0.5]}
    result = sweep(["lr", "optimizer", "dropout"], ranges=ranges, method="grid", trials=None,
                   grid_points=3)
    grid = grid_from_space(default_space(ranges=ranges), 3)
    assert grid["lr"] == [1e-3, 0.01, 0.1]
    expected = sorted(itertools.product(*grid.values()))
    visited = sorted((t.params["lr"], t.params["optimizer"], t.params["dropout"])
                     for t in result.trials)
    assert visited == expected  # each point once, nothing else
    assert len(visited) == 12 and result.counts() == {"COMPLETE": 12}


def test_tpe_beats_random_on_average():
    """Five seeds of 30 trials on a three-field bowl; TPE's mean best must be lower."""
    def mean_best(method):
        return statistics.mean(sweep(["lr", "dropout", "momentum"], method=method, trials=30,
                                     seed=seed).best.value for seed in range(5))

    tpe, random = mean_best("tpe"), mean_best("random")
    assert tpe < random, (tpe, random)


@pytest.mark.parametrize("method", ["grid", "random", "tpe", "gp"])
def test_every_method_finds_the_good_region_of_lr(method):
    result = sweep(["lr"], method=method, trials=12, seed=0, grid_points=7)
    assert 1e-3 <= result.best.params["lr"] <= 1e-1, result.best
    assert result.best_config.lr == result.best.params["lr"]


# --- training, pruning, resuming ------------------------------------------------------------
def test_trials_are_runs_in_the_store():
    store = RunStore()
    result = run_sweep(TINY, ["lr"], method="random", trials=2, seed=1, store=store,
                       study_name="tiny")
    runs = {run.id: run for run in store.list_runs(source="sweep:tiny")}
    assert {row.run_id for row in result.trials} == set(runs)
    for row in result.trials:
        assert runs[row.run_id].status == "finished"
        assert runs[row.run_id].config["lr"] == row.params["lr"]
        assert row.value == runs[row.run_id].summary["val_loss"]


def test_the_median_pruner_stops_a_hopeless_trial_early(tmp_path):
    """Three good trials, then one at a tiny learning rate: the pruner ends it through the
    engine's step-boundary exception, and its run is saved as pruned."""
    storage = str(tmp_path / "journal.log")
    base = TINY.replace(epochs=6)
    study = optuna.create_study(storage=make_storage(storage), study_name="prune")
    for lr in (0.02, 0.03, 0.05, 1e-5):
        study.enqueue_trial({"lr": lr})
    store = RunStore()
    result = run_sweep(base, ["lr"], method="random", trials=4, pruner="median",
                       storage=storage, study_name="prune", store=store)
    states = [row.state for row in result.trials]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED"]
    pruned = store.get(result.trials[3].run_id)
    full = store.get(result.trials[0].run_id).steps
    assert pruned.status == "pruned" and 0 < pruned.steps < full
    assert any("pruned" in event["message"] for event in store.events(pruned.id))


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    storage = str(tmp_path / "journal.log")
    calls = []

    def interrupted(hp, callbacks=(), name=""):
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the fourth trial
        calls.append(hp.lr)
        return bowl(hp)

    with pytest.raises(KeyboardInterrupt):
        sweep(["lr", "dropout"], train=interrupted, storage=storage, study_name="resume",
              trials=8, seed=0)
    done_before = list(calls)
    result = sweep(["lr", "dropout"], train=lambda hp, *_: (calls.append(hp.lr), bowl(hp))[1],
                   storage=storage, study_name="resume", trials=8, seed=0)
    complete = [row for row in result.trials if row.state == "COMPLETE"]
    assert len(complete) == 8 and len(calls) == 8  # only the five missing trials ran again
    assert [row.params["lr"] for row in complete[:3]] == done_before
    assert [row.state for row in result.trials].count("RUNNING") == 1  # the interrupted one


def test_a_stop_from_a_callback_ends_the_sweep():
    from playground.engine.events import Callback, StopRun

    class StopAtOnce(Callback):
        def before_step(self, trainer):
            raise StopRun("stop")

    result = run_sweep(TINY, ["lr"], method="random", trials=5, callbacks=[StopAtOnce()])
    assert result.stopped and len(result.trials) == 1


# --- CLI -----------------------------------------------------------------------------------
def test_cli_sweep_json(capsys):
    code = main(["sweep", "--dataset", "moons", "--samples", "200", "--epochs", "2",
                 "--width", "8", "--trials", "3", "--method", "random", "--search",
                 "lr=1e-3:0.1,dropout", "--sampler-seed", "0", "--device", "cpu", "--json",
                 "--study", "cli"])
    out, err = capsys.readouterr()
    assert code == 0
    summary = json.loads(out)
    assert summary["study"] == "cli" and summary["counts"] == {"COMPLETE": 3}
    assert summary["best_config"]["lr"] == summary["best"]["params"]["lr"]
    assert set(summary["importance"]) == {"lr", "dropout"}
    assert err.count("trial ") == 3  # a progress line per trial, on stderr
    # resuming the same study runs only what is missing
    assert main(["sweep", "--dataset", "moons", "--samples", "200", "--epochs", "2",
                 "--width", "8", "--trials", "4", "--method", "random", "--search",
                 "lr=1e-3:0.1,dropout", "--device", "cpu", "--json", "--study", "cli"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["counts"] == {"COMPLETE": 4} and err.count("trial ") == 1


@pytest.mark.parametrize("argv, named", [
    (["sweep", "--search", "colour"], "colour"),
    (["sweep", "--search", "lr=2:1"], "lr"),
    (["sweep", "--method", "bayes"], "method"),
    (["sweep", "--pruner", "sometimes"], "pruner"),
    (["sweep", "--backend", "spark"], "backend"),
    (["sweep", "--backend", "ray", "--scheduler", "fifo"], "scheduler"),
    (["sweep", "--lr", "99"], "lr"),
    (["race", "--field", "depth", "--values", "1,2"], "depth"),
    (["race", "--field", "lr", "--values", "0.1,abc"], "lr"),
    (["importance", "--metric", "speed"], "metric"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, named, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err and "allowed" in err


def test_cli_race_and_importance_json(capsys):
    assert main(["race", "--field", "lr", "--values", "0.001,0.01,0.1", "--dataset", "moons",
                 "--samples", "200", "--epochs", "2", "--width", "8", "--device", "cpu",
                 "--json"]) == 0
    race = json.loads(capsys.readouterr().out)
    assert [m["value"] for m in race["members"]] == [0.001, 0.01, 0.1]
    assert all(m["status"] == "finished" for m in race["members"])
    assert main(["importance", "--json"]) == 0
    importance = json.loads(capsys.readouterr().out)
    assert importance["runs"] == 3 and list(importance["importance"]) == ["lr"]


def test_help_loads_neither_torch_nor_optuna_nor_ray():
    code = "from playground.cli import build_parser; build_parser()"
    assert modules_loaded(code, ("torch", "optuna", "ray")) == []


def test_sweeps_import_no_widget_or_plot_libraries_and_no_ray():
    modules = ", ".join(f"playground.sweeps.{name}" for name in (
        "study", "_local", "race", "importance", "views", "ray_backend", "commands", "live",
        "samplers", "sensitivity"))
    assert modules_loaded(f"import {modules}", ("ipywidgets", "traitlets", "bokeh", "ray")) == []


def test_the_sweep_modules_the_app_and_cli_import_load_no_optuna():
    modules = ", ".join(f"playground.sweeps.{name}" for name in (
        "study", "space", "importance", "views", "commands"))
    assert modules_loaded(f"import {modules}", ("optuna", "sklearn", "ray")) == []


# --- settings that train until Stop (epochs 0) ----------------------------------------------
# one step an epoch (80 training rows, batches of 80): the default length is cheap
ENDLESS = HParams.free_play(dataset="moons", samples=100, batch_size=80, width=8)


def test_a_plan_from_settings_with_no_end_sweeps_the_default_length_and_says_so():
    from playground.config import DEFAULT_EPOCHS
    from playground.sweeps._base import SweepPlan

    plan = make_plan(ENDLESS, ["lr"], trials=2)
    assert plan.base.epochs == DEFAULT_EPOCHS and plan.base.lr == ENDLESS.lr
    assert "epochs 0 (until stopped)" in plan.note
    by_hand = SweepPlan(base=ENDLESS, space=plan.space)  # what a backend may be handed
    assert by_hand.base.epochs == DEFAULT_EPOCHS and by_hand.note == plan.note
    assert make_plan(TINY, ["lr"]).note is None and make_plan(TINY, ["lr"]).base == TINY


def test_a_sweep_from_settings_with_no_end_finishes():
    from playground.config import DEFAULT_EPOCHS

    store = RunStore()
    result = run_sweep(ENDLESS, ["lr"], method="random", trials=2, seed=0, store=store)
    assert [row.state for row in result.trials] == ["COMPLETE", "COMPLETE"]
    for row in result.trials:
        run = store.get(row.run_id)
        assert run.config["epochs"] == DEFAULT_EPOCHS and run.steps == DEFAULT_EPOCHS
    assert result.as_dict()["note"] == result.plan.note is not None


def test_a_search_over_epochs_never_includes_zero():
    assert default_space(["epochs"])["epochs"] == IntDistribution(1, 1000)
    for ranges in ({"epochs": (0, 10)}, {"epochs": [0, 5]}):
        with pytest.raises(HParamsError) as error:
            default_space([], ranges)
        assert error.value.field == "epochs" and "until stopped" in error.value.allowed
    with pytest.raises(HParamsError, match="epochs"):
        default_space(*parse_search("epochs=0:50"))  # the CLI's and the Sweep tab's text


def test_a_trial_with_no_end_is_refused_naming_epochs():
    from playground.sweeps._trial import train_trial

    with pytest.raises(HParamsError) as error:
        train_trial(ENDLESS, [], "t", store=RunStore(), device="cpu", source="sweep:x",
                    data=lambda hp: None)
    assert error.value.field == "epochs" and error.value.value == 0


@pytest.mark.parametrize("field, values", [("lr", [0.01, 0.1]), ("width", [4, 8])])
def test_a_curve_from_settings_with_no_end_finishes_at_the_default_length(field, values):
    from playground.config import DEFAULT_EPOCHS
    from playground.sweeps.sensitivity import one_at_a_time

    store = RunStore()
    rows = one_at_a_time(ENDLESS, field, values, store=store)  # batched race, then in turn
    assert [row.status for row in rows] == ["finished", "finished"]
    assert all(store.get(row.run_id).config["epochs"] == DEFAULT_EPOCHS for row in rows)
    assert all(row.note and "a curve" in row.note for row in rows)


def test_a_curve_over_epochs_refuses_zero():
    from playground.sweeps.sensitivity import one_at_a_time

    with pytest.raises(HParamsError) as error:
        one_at_a_time(TINY, "epochs", [0, 2])
    assert error.value.field == "epochs" and "until stopped" in error.value.allowed


def test_values_around_until_stopped_are_lengths():
    from playground.config import values_around

    assert values_around("epochs", 0) == values_around("epochs", 30)
    assert 0 not in values_around("epochs", 1)
