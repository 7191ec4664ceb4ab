"""The Ray Tune backend: a four-trial sweep on a local Ray, its trials in the run store; and
a clear message naming the `cluster` extra when Ray is not installed."""

from __future__ import annotations

import sys

import optuna
import pytest

from playground.cli import main
from playground.config import HParams, HParamsError
from playground.status import TERMINAL
from playground.store import RunStore
from playground.sweeps import run_sweep

optuna.logging.set_verbosity(optuna.logging.WARNING)
TINY = HParams(dataset="moons", samples=200, epochs=3, width=8)


@pytest.mark.slow
def test_a_four_trial_sweep_on_a_local_ray_lands_in_the_store():
    pytest.importorskip("ray.tune", reason="needs the cluster extra")
    store = RunStore()
    result = run_sweep(TINY, ["lr"], ranges={"lr": (1e-3, 0.3)}, method="random", trials=4,
                       seed=0, study_name="on-ray", store=store, device="cpu",
                       backend="ray", num_cpus=2)
    assert len(result.trials) == 4
    runs = {run.id: run for run in store.list_runs(source="sweep:on-ray")}
    assert {row.run_id for row in result.trials} == set(runs)
    for row in result.trials:
        run = runs[row.run_id]
        assert run.status in TERMINAL and run.steps > 0
        assert run.config["lr"] == pytest.approx(row.params["lr"])
        assert 1e-3 <= row.params["lr"] <= 0.3
    complete = [row for row in result.trials if row.state == "COMPLETE"]
    assert complete, result.trials  # ASHA lets at least the first trials finish
    for row in complete:
        assert row.value == pytest.approx(runs[row.run_id].summary["val_loss"])
    assert result.best is not None and result.extra == {"backend": "ray", "scheduler": "asha"}
    assert len(result.study.trials) == len(complete)  # importance and views read this study


def test_pbt_searches_only_fields_that_change_while_training():
    pytest.importorskip("ray.tune", reason="needs the cluster extra")
    with pytest.raises(HParamsError) as error:
        run_sweep(TINY, ["width"], method="random", trials=2, backend="ray", scheduler="pbt")
    assert error.value.field == "width"
    with pytest.raises(HParamsError) as error:
        run_sweep(TINY, ["lr"], method="random", trials=2, backend="ray", scheduler="fifo")
    assert error.value.field == "scheduler"


def test_without_ray_the_message_names_the_cluster_extra(monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main(["sweep", "--backend", "ray", "--trials", "1", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and '.[cluster]' in err
