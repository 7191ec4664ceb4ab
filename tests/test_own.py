"""Your own model and data: Runner(model=..., data=...) and Playground(model=..., data=...)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from playground.config import HParams
from playground.engine.lr_range import find_lr
from playground.engine.probes import default_probes
from playground.engine.runner import Runner
from playground.own import Own, OwnError, own_dataset
from playground.store import RunStore

HP = HParams(epochs=3, batch_size=32, lr=0.01, seed=0)


def quadrants(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """2-D points labelled by the sign of x*y, split 3:1."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=generator)
    y = (x[:, 0] * x[:, 1] > 0).long()
    split = n * 3 // 4
    return x[:split], y[:split], x[split:], y[split:]


class Net(nn.Module):
    def __init__(self, width: int = 16, p: float = 0.2):
        super().__init__()
        self.fc1 = nn.Linear(2, width)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(torch.relu(self.fc1(x))))


def train(runner: Runner) -> str:
    runner.start()
    return runner.wait(120)


def test_a_factory_and_tensors_train_a_saved_run_named_after_the_persons_layers():
    runner = Runner(HP, model=lambda hp: Net(hp.width), data=quadrants(), device="cpu",
                    callbacks=default_probes())
    assert runner.hparams.dataset == "custom"
    assert train(runner) == "finished", runner.error
    run = runner.store.get(runner.run_id)
    assert run.summary["val_accuracy"] > 0.8  # xor-like quadrants need the hidden layer
    kinds = {event["kind"]: event["message"] for event in runner.store.events(run.id)}
    assert kinds["model"].startswith("Net, 162 parameters: Net(")  # 2*32+32 + 32*2+2 at width 32
    assert "300 training and 100 validation rows of shape (2,), classification" in kinds["data"]
    assert {row["layer"] for row in runner.store.layer_norms(run.id)} == {"fc1", "out"}
    histogram = runner.record.reader().fetch()["histogram"][-1]
    assert set(histogram["layers"]) == {"fc1", "out"}
    assert runner.record.reader().fetch()["boundary"]  # 2-D inputs: the decision boundary


def test_a_module_starts_every_run_from_its_initial_weights():
    net = Net()
    initial = net.fc1.weight.detach().clone()
    runner = Runner(HP.replace(epochs=1), model=net, data=quadrants(), device="cpu")
    losses = []
    for _ in range(2):
        assert train(runner) == "finished"
        losses.append(runner.store.points(runner.run_id, "val")[0]["loss"])
        runner.reset()
    assert losses[0] == losses[1]  # the same start, not the last run's weights
    assert torch.equal(net.fc1.weight, initial)  # the person's module is left as it was


def test_a_change_the_factory_reads_starts_a_new_run_with_the_new_model():
    runner = Runner(HP.replace(epochs=0), model=lambda hp: Net(hp.width), data=quadrants(),
                    device="cpu")
    not_applicable = runner.own.not_applicable(runner.hparams)
    assert "width" not in not_applicable and not_applicable["depth"] == \
        "your function does not read it"
    first = runner.start()
    wait_for_steps(runner, 5)
    runner.update(width=8)
    second = runner.run_id
    wait_for_steps(runner, 5)
    runner.stop()
    assert second != first and runner.store.get(first).status == "stopped"
    model = {event["kind"]: event["message"] for event in runner.store.events(second)}["model"]
    assert model.startswith("Net, 42 parameters")  # 2*8+8 + 8*2+2


def test_dropout_sets_p_of_every_dropout_in_the_persons_model_at_the_next_step():
    net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 8),
                        nn.Dropout(0.3), nn.Linear(8, 2))
    runner = Runner(HP.replace(epochs=0), model=net, data=quadrants(), device="cpu")
    assert runner.hparams.dropout == 0.1  # the slider starts at the model's first rate
    runner.start()
    wait_for_steps(runner, 3)
    runner.update(lr=0.02)  # another live change leaves the model's own rates alone
    wait_for_steps(runner, runner.trainer.step + 3)
    rates = [m.p for m in runner.trainer.model.modules() if isinstance(m, nn.Dropout)]
    assert rates == [0.1, 0.3]
    runner.update(dropout=0.5)
    wait_for_steps(runner, runner.trainer.step + 3)
    rates = [m.p for m in runner.trainer.model.modules() if isinstance(m, nn.Dropout)]
    runner.stop()
    assert rates == [0.5, 0.5]


def test_arrays_torch_datasets_and_regression_are_recognised():
    x_train, y_train, x_val, y_val = quadrants()
    arrays = own_dataset(tuple(t.numpy() for t in (x_train, y_train * 3 + 4, x_val, y_val * 3 + 4)))
    assert arrays.task == "classification" and arrays.class_names == ("4", "7")
    assert arrays.y_train.tolist() == y_train.tolist()  # 4 and 7 became classes 0 and 1
    pair = own_dataset((torch.utils.data.TensorDataset(x_train, y_train),
                        torch.utils.data.TensorDataset(x_val, y_val)))
    assert torch.equal(pair.x_train, x_train) and pair.n_classes == 2
    targets = (x_train.sum(1) * 0.37, x_val.sum(1) * 0.37)
    regression = own_dataset((x_train, targets[0], x_val, targets[1]))
    assert regression.task == "regression" and regression.y_train.shape == (300, 1)
    runner = Runner(HP.replace(epochs=10, lr=0.1), model=nn.Linear(2, 1), data=(
        x_train, targets[0], x_val, targets[1]), device="cpu")
    assert train(runner) == "finished"
    assert runner.store.get(runner.run_id).summary["val_loss"] < 0.05  # a line fits a line


@pytest.mark.parametrize(("model", "data", "message"), [
    (Net(), (torch.full((300, 2), float("nan")), *quadrants()[1:]),
     "data: x_train row 0 has [nan, nan]...; allowed: finite numbers"),
    (Net(), (quadrants()[0], quadrants()[1][:10], *quadrants()[2:]),
     "data: y_train has 10 values for 300 rows of x_train; allowed: one label per row"),
    (Net(), [1, 2, 3], "data: a list of 3 is not allowed; allowed: (x_train, y_train"),
    (nn.Linear(2, 3), quadrants(), "model: its output has shape (2, 3) for 2 examples; "
     "allowed: (2, 2) (2 classes need one score per class)"),
    (nn.Linear(5, 2), quadrants(), "model: forward() on 2 examples of shape (2,) raised "
     "RuntimeError"),
    (lambda hp: 1 / 0, quadrants(), "model: your function raised ZeroDivisionError: "
     "division by zero"),
    ("resnet", quadrants(), "model: 'resnet' (a str) is not allowed; allowed: an nn.Module"),
])
def test_bad_model_or_data_is_refused_by_name_before_anything_trains(model, data, message):
    store = RunStore()
    with pytest.raises(OwnError) as error:
        Runner(HP, model=model, data=data, device="cpu", store=store)
    assert message in str(error.value)
    assert store.list_runs() == []  # nothing was created, nothing trains


def test_the_learning_rate_test_runs_on_your_model():
    result = find_lr(HP, own=Own(Net(), quadrants()), steps=40)
    assert len(result.lrs) == len(result.losses) > 10 and result.suggestion > 0


def test_the_app_hides_what_cannot_apply_and_says_why():
    from playground import Playground

    app = Playground(model=Net(), data=quadrants(), device="cpu")
    try:
        assert {"dataset", "depth", "width", "activation"} <= app.controls.hidden
        assert "dropout" not in app.controls.hidden and "lr" not in app.controls.hidden
        note = app.own_note.value
        assert ("dataset, noise, outliers, samples, train fraction, classes, labels / class: "
                "hidden, your own data") in note
        assert "start from run, frozen layers: hidden, for the built-in networks only" in note
        assert "depth, width, activation, initialisation, batch norm: hidden, your model " \
            "sets its own architecture" in note
        assert app.lesson_panel.widget.layout.display == "none"
    finally:
        app.close()


def wait_for_steps(runner: Runner, steps: int, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trainer = runner.trainer
        if trainer is not None and trainer.step >= steps and runner.status == "running":
            return
        time.sleep(0.01)
    raise AssertionError(f"no {steps} steps in {timeout} s: {runner.status} {runner.error}")


def test_own_data_must_have_enough_rows():
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(OwnError, match="data: 5 training and 5 validation rows; allowed: at "
                       "least 20 and 1"):
        own_dataset((x, np.array([0, 1, 0, 1, 0]), x, np.array([0, 1, 0, 1, 0])))


def test_a_race_of_your_model_in_the_app_trains_its_members_stacked():
    from tests.test_search_panel import FakeHost, finish, make_panel

    host = FakeHost(HP.replace(epochs=2))
    host.own = Own(lambda hp: Net(hp.width), quadrants())
    panel = make_panel(host)
    panel.race.field.value = "lr"
    panel.race.values.value = "0.001, 0.1"
    assert panel.race.start()
    finish(panel)
    assert [host.store.get(run).name for run in host.shown] == ["lr=0.001", "lr=0.1"]
    assert all(host.store.get(run).status == "finished" for run in host.shown)
    assert {row["run"] for row in host.record.reader().fetch()["points"]} == set(host.shown)
    assert "one after another" not in panel.race.message.value
    events = host.store.events(host.shown[0])
    assert any(event["kind"] == "model" and event["message"].startswith("Net")
               for event in events)


def test_a_race_on_your_data_with_the_built_in_model_stays_stacked():
    from playground.sweeps.race import race

    result = race(HP.replace(epochs=2), "lr", [0.01, 0.1],
                  data=Own(data=quadrants()).load(HP, "cpu"), store=RunStore())
    assert [member.status for member in result.members] == ["finished", "finished"]
    assert result.members[0].summary["val_accuracy"] is not None


def test_a_sweep_and_a_curve_train_your_model():
    from playground.sweeps.sensitivity import one_at_a_time
    from playground.sweeps.study import run_sweep

    own = Own(lambda hp: Net(hp.width), quadrants())
    store = RunStore()
    result = run_sweep(HP.replace(epochs=1), ["lr", "width"], method="random", trials=2,
                       seed=0, store=store, own=own)
    assert [row.status for row in result.trials] == ["finished", "finished"]
    widths = {row.params["width"] for row in result.trials}
    described = {event["message"].split(",")[0] for row in result.trials
                 for event in store.events(row.run_id) if event["kind"] == "model"}
    assert described == {"Net"} and len(widths) == 2
    rows = one_at_a_time(HP.replace(epochs=1), "lr", [0.01, 0.1], store=store, own=own)
    assert [row.status for row in rows] == ["finished", "finished"]
    assert all(any(event["kind"] == "model" for event in store.events(row.run_id))
               for row in rows)
    with pytest.raises(Exception, match="backend: 'ray' is not allowed; allowed: local for "
                       "your own model"):
        run_sweep(HP, ["lr"], trials=1, store=store, own=own, backend="ray")


def test_a_stacked_race_of_your_model_trains_each_member_as_its_own_trainer_would():
    """torch.func stacks K copies; the Trainer with the same model and batches is the oracle."""
    import copy

    from playground.engine.trainer import Trainer
    from playground.sweeps.race import Race

    net = Net(p=0.0)
    data = own_dataset(quadrants())
    configs = [HP.replace(epochs=2, lr=lr, optimizer=optimizer, weight_decay=0.01)
               for lr, optimizer in ((0.01, "adam"), (0.1, "sgd"), (0.05, "momentum"))]
    race = Race(configs, data=data, network=copy.deepcopy(net), store=RunStore())
    assert race.fit() == ["finished"] * 3
    raced = [summary["val_loss"] for summary in race.summaries()]
    alone = []
    for hp in configs:
        trainer = Trainer(hp, data, "cpu", model=copy.deepcopy(net))
        assert trainer.fit() == "finished"
        alone.append(trainer.summary()["val_loss"])
    assert raced == pytest.approx(alone, rel=1e-4)
    assert race.model.layer_names == ["fc1", "out"]


def test_a_model_that_cannot_stack_races_one_after_another_and_says_why():
    from tests.test_search_panel import FakeHost, finish, make_panel

    def with_batch_norm(hp):
        return nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    host = FakeHost(HP.replace(epochs=1))
    host.own = Own(with_batch_norm, quadrants())
    panel = make_panel(host)
    panel.race.field.value = "lr"
    panel.race.values.value = "0.001, 0.1"
    assert panel.race.start()
    finish(panel)
    assert all(host.store.get(run).status == "finished" for run in host.shown)
    message = panel.race.message.value
    assert "one after another" in message and "batch norm" in message


def test_images_and_a_small_cnn_show_samples_and_race_stacked():
    from sklearn.datasets import load_digits

    from playground.sweeps.race import race

    digits = load_digits()
    x = torch.tensor(digits.images[:600], dtype=torch.float32).unsqueeze(1) / 16  # (N, 1, 8, 8)
    y = torch.tensor(digits.target[:600])
    data = (x[:500], y[:500], x[500:], y[500:])
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 64, 10))
    runner = Runner(HP.replace(epochs=2), model=cnn, data=data, device="cpu",
                    callbacks=default_probes())
    assert train(runner) == "finished"
    samples = runner.record.reader().fetch()["samples"][-1]
    assert len(samples["images"]) == 16 and samples["class_names"][:2] == ["0", "1"]
    own = Own(cnn, data)
    result = race(HP.replace(epochs=1), "lr", [0.001, 0.01], store=RunStore(),
                  data=own.load(HP, "cpu"), network=own.network(HP))
    assert [member.status for member in result.members] == ["finished", "finished"]


def test_the_notebook_runs_top_to_bottom():
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    path = Path(__file__).resolve().parent.parent / "notebooks" / "your_own_model.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    NotebookClient(notebook, timeout=180, kernel_name="python3").execute()
    shown = notebook.cells[2].outputs
    assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {})
               for output in shown)  # the app's widget, not an error


@pytest.mark.parametrize("own_model", [False, True])
def test_every_race_member_keeps_its_weights(own_model):
    """Saved beside the store like any run's: loaded into the model, they score as the run."""
    from playground.engine.trainer import Trainer
    from playground.models import build_model
    from playground.sweeps.race import Race

    data = own_dataset(quadrants())
    configs = [HP.replace(epochs=2, lr=lr) for lr in (0.01, 0.05)]
    store = RunStore()
    network = Net(p=0.0) if own_model else None
    race = Race(configs, data=data, store=store, network=network)
    race.fit()
    for k, run_id in enumerate(race.run_ids):
        saved = torch.load(store.weights_path(run_id), weights_only=True)
        model = Net(p=0.0) if own_model else build_model(configs[k], (2,), 2)
        model.load_state_dict(saved["state_dict"])
        trainer = Trainer(configs[k], data, "cpu", model=model)
        assert trainer.summary()["val_loss"] == pytest.approx(
            store.get(run_id).summary["val_loss"], rel=1e-5)
