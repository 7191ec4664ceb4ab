"""Importance (PED-ANOVA, fANOVA) over studies and saved runs; one-at-a-time curves; the pure
data behind the search views."""

from __future__ import annotations

import math
import random

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from playground.config import HParams, HParamsError
from playground.store import RunStore
from playground.sweeps import views
from playground.sweeps.importance import importance_from_runs, importances, study_from_runs
from playground.sweeps.sensitivity import one_at_a_time

optuna.logging.set_verbosity(optuna.logging.WARNING)


def synthetic_study(n: int = 200, seed: int = 0) -> optuna.Study:
    """val loss = strong in lr, weaker in dropout, nothing in momentum (the inert field)."""
    rng = random.Random(seed)
    space = {"lr": FloatDistribution(1e-4, 1.0, log=True),
             "dropout": FloatDistribution(0.0, 0.9),
             "momentum": FloatDistribution(0.0, 0.99),
             "optimizer": CategoricalDistribution(("sgd", "adam"))}
    study = optuna.create_study()
    for _ in range(n):
        params = {"lr": 10 ** rng.uniform(-4, 0), "dropout": rng.uniform(0, 0.9),
                  "momentum": rng.uniform(0, 0.99), "optimizer": rng.choice(["sgd", "adam"])}
        value = ((math.log10(params["lr"]) + 2) ** 2 + 2 * (params["dropout"] - 0.2) ** 2
                 + (1.0 if params["optimizer"] == "sgd" else 0.0) + rng.gauss(0, 0.01))
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space,
                                                  value=value))
    return study


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("evaluator", ["ped_anova", "fanova"])
def test_importance_ranks_the_inert_field_last(evaluator, seed):
    values = importances(synthetic_study(seed=seed), evaluator)
    ranked = list(values)
    assert ranked[0] == "lr" and ranked[-1] == "momentum", values
    assert math.isclose(sum(values.values()), 1.0, rel_tol=1e-6)


def test_importance_needs_two_finished_trials_and_something_that_varies():
    assert importances(optuna.create_study()) == {}
    with pytest.raises(HParamsError) as error:
        importances(synthetic_study(), "shap")
    assert error.value.field == "importance"


def save(store: RunStore, config: HParams, val_loss: float | None, source: str = "manual",
         status: str = "finished") -> str:
    run_id = store.create_run(config.to_dict(), "cpu", source=source)
    summary = {} if val_loss is None else {"val_loss": val_loss, "train_loss": val_loss}
    store.writer(run_id).finish(status, 10, 0.1, summary)
    return run_id


def test_importance_over_runs_made_by_hand():
    """Runs saved from the sliders: only the fields that vary between them count, unfinished
    runs are left out, and the field with no effect (batch_size here) ranks last."""
    store, rng = RunStore(), random.Random(1)
    for _ in range(60):
        lr, batch = 10 ** rng.uniform(-4, 0), rng.choice([16, 32, 64])
        width = rng.choice([8, 16, 32, 64])
        loss = (math.log10(lr) + 2) ** 2 + abs(math.log2(width) - 5)
        save(store, HParams(lr=lr, width=width, batch_size=batch), loss)
    save(store, HParams(lr=0.5, depth=7), 99.0, status="diverged")  # left out: not finished
    save(store, HParams(depth=4), None, status="finished")  # left out: no val loss
    study = study_from_runs(store.list_runs())
    assert set(study.trials[0].params) == {"lr", "width", "batch_size"} and len(study.trials) == 60
    values = importance_from_runs(store.list_runs())
    assert list(values)[-1] == "batch_size", values


def test_one_at_a_time_races_live_fields_and_trains_the_others_in_turn():
    base = HParams(dataset="moons", samples=200, epochs=2, width=8)
    store = RunStore()
    rows = one_at_a_time(base, "lr", [1e-4, 0.01, 0.1], store=store)
    assert [row.value for row in rows] == [1e-4, 0.01, 0.1]
    assert all(row.status == "finished" and row.metric is not None for row in rows)
    assert rows[0].metric > rows[2].metric  # 1e-4 barely moves in two epochs
    assert all(store.get(row.run_id).source.startswith("race:") for row in rows)
    rows = one_at_a_time(base, "width", [2, 16], store=store)
    assert [store.get(row.run_id).source for row in rows] == ["sensitivity:width"] * 2
    with pytest.raises(HParamsError):
        one_at_a_time(base, "width", [0])


# --- the pure view data --------------------------------------------------------------------
def test_history_keeps_the_best_so_far():
    info = views.history_info(synthetic_study(20))
    assert len(info.values) == len(info.best) == 20
    assert all(b <= v for b, v in zip(info.best, info.values))
    assert all(a >= b for a, b in zip(info.best, info.best[1:]))
    assert info.best[-1] == min(info.values)


def test_slices_parallel_coordinates_and_contour():
    study = synthetic_study(30)
    slices = {s.axis.name: s for s in views.slice_info(study)}
    assert set(slices) == {"lr", "dropout", "momentum", "optimizer"}
    assert slices["lr"].axis.log and slices["optimizer"].axis.categories == ("sgd", "adam")
    parallel = views.parallel_info(study)
    assert len(parallel.rows) == 30
    assert all(0.0 <= p <= 1.0 for row in parallel.rows for p in row.positions)
    contour = views.contour_info(study, "lr", "dropout", size=12)
    assert len(contour.z) == 12 and len(contour.z[0]) == 12 and len(contour.points) == 30
    values = [v for _, _, v in contour.points]
    flat = [z for row in contour.z for z in row]
    assert min(values) - 1e-9 <= min(flat) and max(flat) <= max(values) + 1e-9  # a weighted mean
    with pytest.raises(ValueError):
        views.contour_info(study, "lr", "width")


def test_importance_info_lists_most_important_first():
    info = views.importance_info(synthetic_study())
    assert info.params[0] == "lr" and info.importances == sorted(info.importances, reverse=True)
