"""R² in the accuracy slot of regression runs: the score itself (scikit-learn's `r2_score` is
the oracle), where runs and races report it, and where a person reads it (CLI, plot, table)."""

import json
import math

import pytest
import torch
from sklearn.metrics import r2_score

from playground import data
from playground.cli import main
from playground.config import HParams, scored_by_r2
from playground.engine import batches
from playground.engine.batches import eval_chunk
from playground.engine.events import Callback
from playground.engine.scores import r2, squared_residuals, values
from playground.engine.trainer import Trainer
from playground.plots.curves import AccuracyPlot
from playground.store import RunStore
from playground.sweeps._stacked import member_losses
from playground.sweeps.race import Race
from playground.sweeps.study import make_plan
from playground.ui import format_accuracy

REGRESSION = HParams(dataset="regression", samples=300, epochs=3, width=16)


def score(output: torch.Tensor, target: torch.Tensor) -> float | None:
    return values([r2(squared_residuals(output, target), target).item()])[0]


class Rows(Callback):
    def __init__(self):
        self.rows = []

    def on_points(self, trainer, rows):
        self.rows += rows


def trained(hp: HParams, dataset=None) -> tuple[Trainer, list[dict]]:
    rows = Rows()
    trainer = Trainer(hp, dataset or data.load_dataset(hp), callbacks=[rows])
    trainer.fit()
    return trainer, rows.rows


# --- the score ------------------------------------------------------------------------------

def test_r2_is_one_for_a_perfect_fit_zero_for_the_mean_and_scikit_learns_otherwise():
    target = torch.randn(50, 1)
    assert score(target.clone(), target) == pytest.approx(1.0)
    assert score(target.mean().expand(50, 1), target) == pytest.approx(0.0, abs=1e-6)
    output = target + 0.5 * torch.randn(50, 1)
    assert score(output, target) == pytest.approx(r2_score(target.numpy(), output.numpy()),
                                                  abs=1e-5)
    worse = -3 * target  # worse than the mean: below 0, unbounded
    assert score(worse, target) == pytest.approx(r2_score(target.numpy(), worse.numpy()),
                                                 abs=1e-5) and score(worse, target) < -10


def test_targets_without_spread_have_no_r2():
    assert score(torch.tensor([[0.3]]), torch.tensor([[0.7]])) is None  # a batch of one
    assert score(torch.zeros(4, 1), torch.full((4, 1), 0.1)) is None  # all equal, rounding
    # stacked (steps or members, rows, 1): each scored alone
    target = torch.stack([torch.full((3, 1), 2.0), torch.tensor([[0.0], [1.0], [2.0]])])
    scores = values(r2(squared_residuals(torch.zeros_like(target), target), target).tolist())
    assert scores[0] is None and scores[1] == pytest.approx(1 - 5 / 2)


def test_evaluate_in_chunks_equals_the_whole_set_at_once(monkeypatch):
    trainer, _ = trained(REGRESSION)
    x, y = trainer.data.x_val, trainer.data.y_val
    whole = trainer.evaluate(x, y)
    assert eval_chunk(x.shape[1:]) >= len(x)  # one pass by default
    # 60 rows: 9 chunks, the last short
    monkeypatch.setattr(batches, "EVAL_VALUES", 7 * math.prod(x.shape[1:]))
    chunked = trainer.evaluate(x, y)
    assert chunked[1] == pytest.approx(whole[1], abs=1e-6)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-5)
    with torch.no_grad():
        expected = r2_score(y.numpy(), trainer.model(x).numpy())
    assert whole[1] == pytest.approx(expected, abs=1e-5)
    assert trainer.evaluate(x[:1], y[:1])[1] is None  # one row: no spread


# --- runs report it -------------------------------------------------------------------------

def test_a_regression_run_reports_r2_in_its_points_and_summary():
    trainer, rows = trained(REGRESSION)
    val = [row["accuracy"] for row in rows if row["split"] == "val"]
    train = [row["accuracy"] for row in rows if row["split"] == "train"]
    assert all(isinstance(v, float) and v <= 1 for v in val + train)
    assert len(train) == trainer.step and len(val) >= 3
    assert val[-1] > val[0] and val[-1] > 0.3  # it learns: R² rises from below 0
    summary = trainer.summary()
    assert summary["task"] == "regression"
    with torch.no_grad():
        for split in ("train", "val"):
            x, y = getattr(trainer.data, f"x_{split}"), getattr(trainer.data, f"y_{split}")
            assert summary[f"{split}_accuracy"] == pytest.approx(
                r2_score(y.numpy(), trainer.model(x).numpy()), abs=1e-5)


def test_each_training_row_is_the_r2_of_its_batch():
    hp = REGRESSION.replace(epochs=1, batch_size=16, optimizer="sgd", lr=0.01)
    trainer = Trainer(hp, data.load_dataset(hp), callbacks=[rows := Rows()])
    expected, next_batch = [], trainer._next_batch

    def scored_batch():  # the batch and what the model predicts for it before this step
        x, y = next_batch()
        with torch.no_grad():
            expected.append(r2_score(y.numpy(), trainer.model(x).numpy()))
        return x, y

    trainer._next_batch = scored_batch
    trainer.fit()
    train = [row["accuracy"] for row in rows.rows if row["split"] == "train"]
    assert len(train) == len(expected) == trainer.step
    assert train == pytest.approx(expected, abs=1e-5)


def test_a_batch_of_one_has_no_r2_but_validation_does():
    hp = REGRESSION.replace(samples=100, epochs=1, batch_size=1, optimizer="sgd", lr=0.01)
    _, rows = trained(hp)
    assert {row["accuracy"] for row in rows if row["split"] == "train"} == {None}
    assert all(row["accuracy"] is not None for row in rows if row["split"] == "val")


def test_a_race_of_regression_members_reports_the_r2_of_their_single_runs():
    configs = [REGRESSION.replace(loss="huber", **changes) for changes in (
        dict(optimizer="sgd", lr=0.05), dict(optimizer="momentum", lr=0.05),
        dict(optimizer="adam", lr=0.01, weight_decay=0.01))]
    dataset = data.load_dataset(REGRESSION)
    store = RunStore()
    race = Race(configs, data=dataset, store=store)
    assert race.fit() == ["finished"] * 3
    summaries = race.summaries()
    for k, hp in enumerate(configs):
        alone, rows = trained(hp, dataset)
        raced = store.points(race.run_ids[k])
        assert [(r["step"], r["split"]) for r in raced] == [
            (r["step"], r["split"]) for r in rows]
        for ours, theirs in zip(raced, rows):
            assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-4), hp.optimizer
        mine = alone.summary()
        assert summaries[k]["task"] == "regression"
        for key in ("train_accuracy", "val_accuracy"):
            assert summaries[k][key] == pytest.approx(mine[key], abs=1e-4), (hp.optimizer, key)


def test_a_race_evaluates_in_chunks_as_in_one_pass(monkeypatch):
    configs = [REGRESSION.replace(lr=lr) for lr in (0.01, 0.1)]
    race = Race(configs, data=data.load_dataset(REGRESSION), store=RunStore())
    race.fit()
    x, y = race.data.x_val, race.data.y_val
    whole = race.evaluate(x, y)
    # 60 rows of 2 members: 3 rows a pass, 20 passes
    monkeypatch.setattr(batches, "EVAL_VALUES", 3 * 2 * math.prod(x.shape[1:]))
    assert eval_chunk(x.shape[1:], models=2) == 3
    chunked = race.evaluate(x, y)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-5)
    assert chunked[1] == pytest.approx(whole[1], abs=1e-6)


def test_the_race_scores_a_regression_batch_per_member():
    output, target = torch.randn(3, 8, 1), torch.randn(8, 1)
    _, scores = member_losses(output, target, "regression", "huber")
    expected = [r2_score(target.numpy(), member.numpy()) for member in output]
    assert scores.tolist() == pytest.approx(expected, abs=1e-5)


def test_a_sweep_may_maximise_r2():
    plan = make_plan(REGRESSION, ["lr"], metric="val_accuracy", trials=2)
    assert plan.direction == "maximize"


# --- where a person reads it ----------------------------------------------------------------

def test_the_cli_says_r2_for_a_regression_run_and_accuracy_for_classes(capsys):
    args = ["--samples", "200", "--epochs", "2", "--width", "8"]
    assert main(["train", "--dataset", "regression", *args]) == 0
    out, err = capsys.readouterr()
    assert "R²" in out and "accuracy" not in out, out
    assert "val R² " in err  # the progress lines
    run_id = out.split()[1].rstrip(":")
    assert main(["runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "val_accuracy (R²)" in shown and "task" in shown and "regression" in shown
    assert main(["train", "--dataset", "regression", *args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # the keys stay: a contract
    assert 0 < summary["val_accuracy"] <= 1 and summary["train_accuracy"] <= 1
    assert main(["train", "--dataset", "moons", *args]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "R²" not in out


def test_the_table_shows_r2_as_a_number_and_accuracy_as_a_percentage():
    assert format_accuracy(0.953, r2=True) == "R² 0.953"
    assert format_accuracy(-2.5, r2=True) == "R² -2.500"
    assert format_accuracy(0.953) == "95.3%"
    assert format_accuracy(None, r2=True) == "–"
    assert scored_by_r2({"dataset": "regression"}) and not scored_by_r2({"dataset": "moons"})
    assert scored_by_r2({"dataset": "custom", "loss": "mse"}, {"task": "regression"})
    assert not scored_by_r2({"dataset": "custom", "loss": "mse"}, {"task": "classification"})


def rows_of(run_id: str, values_: list[float]) -> list[dict]:
    return [{"run": run_id, "step": step, "epoch": 0, "split": "val", "loss": 1.0,
             "accuracy": value, "lr": 0.1} for step, value in enumerate(values_)]


def test_the_accuracy_plot_keeps_0_to_1_in_view_when_r2_starts_far_below():
    plot = AccuracyPlot()
    assert "R²" in plot.figure.title.text
    y_range = plot.figure.y_range
    plot.add_run("classes", {"dataset": "moons"})
    plot.push(rows_of("classes", [0.5, 0.8, 0.9]))
    assert list(y_range.renderers) == [] and not plot.span_source.data["y"]  # as before
    plot.add_run("fit", {"dataset": "regression"})
    plot.push(rows_of("fit", [-40.0, 0.2, 0.9]))
    # the range follows 0..1 and the classifier's lines, not the R² that started at -40
    assert plot.span_source.data["y"] == [0.0, 1.0]
    assert y_range.renderers[0] is plot._span
    ranged = set(y_range.renderers[1:])
    assert ranged == set(plot._lines["classes"]) and not ranged & set(plot._lines["fit"])
    plot.add_run("later", {"dataset": "moons"})  # a new run's lines join the range
    assert set(plot._lines["later"]) <= set(y_range.renderers)
    plot.remove_run("fit")
    assert list(y_range.renderers) == [] and plot.span_source.data["y"] == []
    # a run loaded whole: judged by its whole history
    plot.load("fit2", rows_of("fit2", [-3.0, 0.5]))
    assert plot.span_source.data["y"] == [0.0, 1.0]
    plot.load("fit2", rows_of("fit2", [0.1, 0.5]))
    assert list(y_range.renderers) == []
