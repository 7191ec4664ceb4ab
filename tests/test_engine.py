import subprocess
import sys
import time

import pytest
import torch

from playground.config import HParams
from playground.data import load_dataset
from playground.engine.batches import MIN_EVAL_GAP, BatchOrder, eval_every
from playground.engine.device import choose_device
from playground.engine.events import Callback
from playground.engine.runner import Runner
from playground.engine.schedule import LrSchedule
from playground.engine.trainer import Trainer
from playground.models import build_model
from playground.store import RunStore


class Collect(Callback):
    def __init__(self):
        self.points, self.norms, self.events = [], [], []

    def on_points(self, trainer, rows):
        self.points += rows

    def on_layer_norms(self, trainer, rows):
        self.norms += rows

    def on_event(self, trainer, event):
        self.events.append(event)


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def train(hp, **kwargs):
    collect = Collect()
    trainer = Trainer(hp, load_dataset(hp), callbacks=[collect], **kwargs)
    trainer.fit()
    return trainer, collect


@pytest.fixture
def long_hp():
    return HParams(dataset="moons", samples=400, epochs=1000, batch_size=16)


@pytest.fixture
def runner(long_hp):
    runner = Runner(long_hp, device="cpu")
    yield runner
    runner.stop()


def test_pause_resume_step_stop_from_another_thread(runner):
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 5)
    runner.pause()
    wait_until(lambda: runner.status == "paused", timeout=10)
    paused_at = runner.trainer.step
    time.sleep(0.2)
    assert runner.trainer.step == paused_at  # paused within one step and stays paused
    runner.step(3)  # three steps, then paused again (status reads "running" while stepping)
    wait_until(lambda: runner.trainer.step == paused_at + 3 and runner.status == "paused",
               timeout=10)
    time.sleep(0.1)
    assert runner.trainer.step == paused_at + 3 and runner.status == "paused"
    runner.resume()
    wait_until(lambda: runner.trainer.step > paused_at + 10, timeout=10)
    assert runner.stop(timeout=5) == "stopped"
    assert not runner.active
    saved = runner.store.get(runner.run_id)
    assert saved.status == "stopped" and saved.steps == runner.trainer.step
    assert saved.summary["val_accuracy"] is not None


def test_stop_while_paused_ends_cleanly(runner):
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    runner.pause()
    wait_until(lambda: runner.status == "paused", timeout=2)
    assert runner.store.get(runner.run_id).status == "paused"
    assert runner.stop(timeout=5) == "stopped"
    assert runner.store.get(runner.run_id).status == "stopped"


def test_learning_rate_change_applies_from_next_step_and_is_recorded(runner):
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 5)
    runner.pause()
    wait_until(lambda: runner.status == "paused", timeout=2)
    changed_at = runner.trainer.step
    runner.update(lr=0.123)
    runner.step(1)
    wait_until(lambda: runner.trainer.step == changed_at + 1, timeout=5)
    assert runner.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.123)
    runner.stop()
    rows = {row["step"]: row for row in runner.store.points(runner.run_id, split="train")}
    assert rows[changed_at]["lr"] == pytest.approx(0.01)
    assert rows[changed_at + 1]["lr"] == pytest.approx(0.123)
    change = [e for e in runner.store.events(runner.run_id) if e["kind"] == "change"]
    assert [(e["field"], e["old"], e["new"], e["step"]) for e in change] == \
        [("lr", 0.01, 0.123, changed_at)]
    live = [e for e in runner.record.reader().fetch()["events"] if e["kind"] == "change"]
    assert live[0]["run"] == runner.run_id and live[0]["new"] == 0.123


def test_live_dropout_momentum_weight_decay_and_batch_size(runner):
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 2)
    runner.pause()
    wait_until(lambda: runner.status == "paused", timeout=2)
    runner.update(dropout=0.4, momentum=0.5, weight_decay=1e-3, batch_size=64)
    runner.step(1)
    trainer = runner.trainer
    wait_until(lambda: trainer.hp.batch_size == 64, timeout=5)
    dropouts = [m.p for m in trainer.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(p == 0.4 for p in dropouts)
    group = trainer.optimizer.param_groups[0]
    assert group["betas"][0] == 0.5 and group["weight_decay"] == 1e-3
    assert trainer.steps_per_epoch == 320 // 64
    runner.stop()
    fields = {e["field"] for e in runner.store.events(runner.run_id) if e["kind"] == "change"}
    assert fields == {"dropout", "momentum", "weight_decay", "batch_size"}


def test_change_needing_a_new_model_starts_a_new_run_and_keeps_the_old(runner):
    first = runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 2)
    runner.update(depth=3)
    second = runner.run_id
    assert second != first
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    assert len([m for m in runner.trainer.model if isinstance(m, torch.nn.Linear)]) == 4
    runner.stop()
    store = runner.store
    assert store.get(first).status == "stopped" and store.get(first).config["depth"] == 2
    assert store.get(second).parent == first and store.get(second).config["depth"] == 3


def test_start_twice_is_one_run(runner):
    first = runner.start()
    assert runner.start() == first
    runner.stop()
    assert len(runner.store.list_runs()) == 1


def test_reset_starts_fresh(runner):
    first = runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    runner.reset()
    assert runner.status == "idle" and runner.trainer is None
    second = runner.start()
    assert second != first
    runner.stop()


def test_divergence_ends_the_run_with_the_step():
    hp = HParams(dataset="regression", optimizer="sgd", lr=10.0, epochs=50)
    runner = Runner(hp, device="cpu")
    runner.start()
    assert runner.wait(60) == "diverged"
    saved = runner.store.get(runner.run_id)
    assert saved.status == "diverged"
    assert "diverged at step" in saved.error and "learning rate" in saved.error
    step = int(saved.error.split("step ")[1].split(":")[0])
    bad = [row for row in runner.store.points(runner.run_id, "train") if row["step"] == step][0]
    assert not bad["loss"] < 1e4 * runner.store.points(runner.run_id, "train")[0]["loss"]


def test_seeded_runs_are_reproducible_on_the_cpu():
    hp = HParams(dataset="spiral", samples=300, epochs=3, dropout=0.2, seed=7)
    (_, first), (_, second) = train(hp), train(hp)
    assert [r["loss"] for r in first.points] == [r["loss"] for r in second.points]
    (_, other) = train(hp.replace(seed=8))
    assert [r["loss"] for r in other.points] != [r["loss"] for r in first.points]


def test_layer_norms_are_recorded_for_every_layer():
    trainer, collect = train(HParams(samples=200, epochs=1, depth=3))
    layers = {row["layer"] for row in collect.norms}
    assert layers == {"layer1", "layer2", "layer3", "layer4"}
    assert all(row["grad_norm"] >= 0 and row["weight_norm"] > 0 for row in collect.norms)


def test_step_schedule_matches_torch_step_lr():
    hp = HParams(schedule="step", step_every=1, gamma=0.5, epochs=3)
    schedule = LrSchedule(hp, steps_per_epoch=4)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=hp.lr)
    oracle = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    for step in range(12):
        assert hp.lr * schedule.factor(step) == pytest.approx(optimizer.param_groups[0]["lr"])
        optimizer.step()
        oracle.step()


def test_schedule_shapes_the_recorded_rate():
    _, collect = train(HParams(samples=200, epochs=4, schedule="cosine", lr=0.1))
    rates = [row["lr"] for row in collect.points if row["split"] == "train"]
    assert rates[0] == pytest.approx(0.1) and rates[-1] < 0.01
    assert all(a >= b - 1e-12 for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw",
                                       "rmsprop"])
def test_every_optimizer_trains(optimizer):
    lr = 0.003 if optimizer in ("adam", "adamw", "rmsprop") else 0.1
    trainer, collect = train(HParams(samples=400, epochs=5, optimizer=optimizer, lr=lr))
    assert trainer.status == "finished"
    val = [row["loss"] for row in collect.points if row["split"] == "val"]
    assert val[-1] < val[0]


@pytest.mark.parametrize("dataset", ["moons", "digits"])
def test_default_mlp_reaches_95_percent(dataset):
    trainer, _ = train(HParams(dataset=dataset))
    assert trainer.status == "finished"
    assert trainer.summary()["val_accuracy"] >= 0.95


def test_zero_init_cannot_break_symmetry():
    model = build_model(HParams(init="zeros"), (2,), 2)
    assert all(float(p.detach().abs().sum()) == 0 for p in model.parameters())


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    chosen = torch.device("cpu")
    assert choose_device(chosen) is chosen  # a caller's choice passes through (sweeps, races)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.backends.mps.is_available():
        assert choose_device("auto").type == expected
    with pytest.raises(ValueError, match="device: 'tpu'"):
        choose_device("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_the_gpu():
    hp = HParams(dataset="digits", epochs=5)
    trainer = Trainer(hp, load_dataset(hp, "cuda"), device="cuda")
    assert trainer.fit() == "finished"
    assert next(trainer.model.parameters()).is_cuda
    assert trainer.summary()["val_accuracy"] > 0.9


def test_core_imports_no_widget_or_plot_libraries():
    code = ("import sys, playground.config, playground.data, playground.models, playground.store,"
            " playground.engine.runner, playground.engine.trainer;"
            "bad = [m for m in ('ipywidgets', 'traitlets', 'bokeh') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_store_points_survive_in_a_second_store(runner):
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 50)
    wait_until(lambda: len(RunStore().points(runner.run_id)) > 0, timeout=5)  # while writing
    runner.stop()


class Explode(Callback):
    def __init__(self, error, at_step=5):
        self.error, self.at_step = error, at_step

    def after_backward(self, trainer):
        if trainer.step == self.at_step:
            raise self.error


def test_out_of_gpu_memory_ends_the_run_with_advice():
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    runner = Runner(HParams(samples=200, epochs=5), device="cpu", callbacks=[Explode(oom)])
    runner.start()
    assert runner.wait(60) == "failed"
    saved = runner.store.get(runner.run_id)
    assert saved.status == "failed"
    assert "out of GPU memory at step 5" in saved.error and "smaller batch size" in saved.error
    assert len(runner.store.points(runner.run_id, "train")) == 5  # the steps before it are kept


def test_a_failure_mid_epoch_keeps_the_steps_done_before_it():
    """Step rows are read back in batches: the ones still pending when a step fails are saved
    with the failed run, not dropped (an epoch here is 5 steps; it fails in the 8th)."""
    runner = Runner(HParams(samples=200, epochs=5), device="cpu",
                    callbacks=[Explode(RuntimeError("disk full"), at_step=7)])
    runner.start()
    assert runner.wait(60) == "failed"
    assert [row["step"] for row in runner.store.points(runner.run_id, "train")] == \
        list(range(1, 8))


def test_an_exception_in_a_callback_ends_the_run_cleanly_and_is_shown():
    runner = Runner(HParams(samples=200, epochs=5), device="cpu",
                    callbacks=[Explode(RuntimeError("plot broke"))])
    runner.start()
    assert runner.wait(60) == "failed"
    assert runner.error == "RuntimeError: plot broke"
    assert runner.store.get(runner.run_id).error == "RuntimeError: plot broke"
    runner.update(lr=0.1)  # the runner still takes commands
    runner.callbacks.clear()
    runner.start()
    assert runner.wait(60) == "finished"


class ValSteps(Callback):
    def __init__(self):
        self.steps = []

    def on_points(self, trainer, rows):
        self.steps += [row["step"] for row in rows if row["split"] == "val"]


@pytest.mark.parametrize("samples, expected_gap", [(1000, MIN_EVAL_GAP), (12000, 75)])
def test_validation_runs_each_quarter_epoch_but_not_more_often_than_the_minimum_gap(
        samples, expected_gap):
    hp = HParams(dataset="moons", samples=samples, epochs=2, batch_size=32)
    data = load_dataset(hp)
    seen = ValSteps()
    trainer = Trainer(hp, data, callbacks=[seen])
    trainer.fit()
    per_epoch = trainer.steps_per_epoch
    assert eval_every(per_epoch) == expected_gap
    assert seen.steps[0] == 0  # before the first step
    assert {per_epoch, 2 * per_epoch} <= set(seen.steps)  # every epoch ends with one
    gaps = [later - earlier for earlier, later in zip(seen.steps, seen.steps[1:])]
    assert min(gaps) >= min(expected_gap, per_epoch)  # moons: 25 steps an epoch, 1 pass each
    inside = [s for s in seen.steps if s % per_epoch]
    assert all(s % expected_gap == 0 for s in inside)
    assert bool(inside) == (per_epoch >= 2 * expected_gap)


def test_batch_order_covers_each_row_once_per_epoch_and_drops_the_remainder():
    order = BatchOrder(10, torch.Generator().manual_seed(0), "cpu")
    first = torch.cat([order.next(3) for _ in range(3)])
    assert order.position == 0  # a remainder of 1 row is dropped: the epoch ended
    assert len(set(first.tolist())) == 9
    second = torch.cat([order.next(3) for _ in range(3)])
    assert second.tolist() != first.tolist()  # a fresh permutation each epoch


def test_a_constant_schedule_is_one_at_every_step():
    schedule = LrSchedule(HParams(schedule="constant"), steps_per_epoch=10)
    assert {schedule.factor(step) for step in (0, 1, 57, 10**6)} == {1.0}


def test_train_accuracy_is_scored_per_batch_in_one_pass():
    generator = torch.Generator().manual_seed(0)
    outputs = [torch.randn(8, 3, generator=generator) for _ in range(5)]
    targets = [torch.randint(0, 3, (8,), generator=generator) for _ in range(5)]
    mixed = outputs[:2] + [torch.randn(5, 3, generator=generator)]
    mixed_targets = targets[:2] + [torch.randint(0, 3, (5,), generator=generator)]
    for outs, ys in ((outputs, targets), (mixed, mixed_targets)):  # one size; sizes changing
        expected = [(out.argmax(1) == y).float().mean().item() for out, y in zip(outs, ys)]
        assert Trainer._accuracies(outs, ys) == pytest.approx(expected)


def test_a_live_batch_size_change_scores_each_step_on_its_own_batch():
    class Resize(Callback):
        def before_step(self, trainer):
            if trainer.step == 7:
                trainer.apply(trainer.hp.replace(batch_size=10))

    hp = HParams(dataset="moons", samples=400, epochs=2, batch_size=32)
    collect = Collect()
    assert Trainer(hp, load_dataset(hp), callbacks=[Resize(), collect]).fit() == "finished"
    train = [row for row in collect.points if row["split"] == "train"]
    assert [row["step"] for row in train] == list(range(1, len(train) + 1))  # a row a step
    for row in train:
        size = 32 if row["step"] <= 7 else 10
        hits = row["accuracy"] * size
        assert abs(hits - round(hits)) < 1e-9, row  # a whole number of this step's batch


# --- runs with no end (epochs 0: until Stop) ----------------------------------------------
# 100 samples, 80 to train, batches of 80: one step an epoch, so epochs are cheap to count.
ONE_STEP_EPOCHS = dict(dataset="moons", samples=100, batch_size=80, width=8)


class StopAt(Callback):
    """Stops the run at the first step boundary once `epoch` epochs are done; may also apply
    new settings when `change_at` epochs are done (as the runner does with a slider move)."""

    def __init__(self, epoch, change_at=None, change=None):
        self.epoch, self.change_at, self.change = epoch, change_at, change

    def before_step(self, trainer):
        from playground.engine.events import StopRun

        if self.change_at is not None and trainer.epoch >= self.change_at and self.change:
            trainer.apply(trainer.hp.replace(**self.change))
            self.change = None
        if trainer.epoch >= self.epoch:
            raise StopRun()


def test_until_stopped_trains_past_the_default_length_until_a_stop():
    from playground.config import DEFAULT_EPOCHS

    hp = HParams.free_play(**ONE_STEP_EPOCHS)
    trainer = Trainer(hp, load_dataset(hp), callbacks=[StopAt(DEFAULT_EPOCHS + 5)])
    assert trainer.fit() == "stopped"
    assert trainer.epoch == DEFAULT_EPOCHS + 5 and trainer.step == DEFAULT_EPOCHS + 5


def test_epochs_is_live_a_run_with_no_end_ends_where_epochs_is_set():
    hp = HParams.free_play(**ONE_STEP_EPOCHS)
    trainer = Trainer(hp, load_dataset(hp), callbacks=[StopAt(100, change_at=5,
                                                              change={"epochs": 8})])
    assert trainer.fit() == "finished" and trainer.epoch == 8


def test_epochs_set_below_the_epoch_reached_ends_the_run_at_once():
    hp = HParams.free_play(**ONE_STEP_EPOCHS)
    trainer = Trainer(hp, load_dataset(hp), callbacks=[StopAt(100, change_at=6,
                                                              change={"epochs": 3})])
    assert trainer.fit() == "finished" and trainer.epoch == 6


def test_epochs_set_to_zero_while_training_goes_on_past_the_old_end():
    hp = HParams(epochs=5, **ONE_STEP_EPOCHS)
    trainer = Trainer(hp, load_dataset(hp), callbacks=[StopAt(12, change_at=3,
                                                              change={"epochs": 0})])
    assert trainer.fit() == "stopped" and trainer.epoch == 12


def test_runner_trains_until_stopped_and_saves_the_run_as_stopped():
    from playground.config import DEFAULT_EPOCHS

    runner = Runner(HParams.free_play(**ONE_STEP_EPOCHS), device="cpu")
    runner.start()
    try:
        wait_until(lambda: runner.trainer is not None
                   and runner.trainer.epoch > DEFAULT_EPOCHS + 2, timeout=120)
        assert runner.status == "running"  # past the default length, still going
    finally:
        assert runner.stop() == "stopped"
    saved = runner.store.get(runner.run_id)
    assert saved.status == "stopped" and saved.steps == runner.trainer.step
    assert saved.config["epochs"] == 0 and saved.summary["val_loss"] is not None


def schedule_factors(hp, steps, steps_per_epoch=2):
    schedule = LrSchedule(hp, steps_per_epoch)
    return [schedule.factor(step) for step in range(steps)]


@pytest.mark.parametrize("changes", [dict(schedule="cosine"), dict(schedule="onecycle"),
                                     dict(schedule="cosine", warmup_epochs=5),
                                     dict(schedule="constant", warmup_epochs=5)])
def test_a_schedule_with_no_end_is_planned_over_the_horizon_then_holds(changes):
    from playground.engine.schedule import OPEN_HORIZON, planned_epochs

    open_hp = HParams.free_play(**changes)
    horizon = planned_epochs(open_hp)
    assert horizon == OPEN_HORIZON + (0 if changes["schedule"] == "onecycle"
                                      else changes.get("warmup_epochs", 0))
    planned = schedule_factors(open_hp.replace(epochs=horizon), 2 * horizon)
    endless = schedule_factors(open_hp, 2 * horizon + 40)
    assert endless[:2 * horizon] == pytest.approx(planned)  # the same as a run of that length
    assert endless[2 * horizon:] == pytest.approx([planned[-1]] * 40)  # then it holds
    assert len(set(endless[:2 * horizon])) > 1  # it did change over the horizon


@pytest.mark.parametrize("schedule", ["step", "exponential"])
def test_decay_schedules_go_on_in_a_run_with_no_end(schedule):
    from playground.engine.schedule import OPEN_HORIZON

    hp = HParams.free_play(schedule=schedule, step_every=10, gamma=0.5)
    epochs = OPEN_HORIZON + 20
    factors = schedule_factors(hp, 2 * epochs + 1)
    expected = 0.5 ** (epochs // 10) if schedule == "step" else 0.5 ** epochs
    assert factors[2 * epochs] == pytest.approx(expected)  # still dropping past the horizon


def test_lr_range_test_ends_on_settings_that_train_until_stopped():
    from playground.engine.lr_range import find_lr

    result = find_lr(HParams.free_play(dataset="moons", samples=200, width=8), steps=20)
    assert 1 <= len(result.lrs) <= 20
