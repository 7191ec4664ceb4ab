"""The batched racing trainer against plain torch.optim runs (the oracle), and its drop rates."""

from __future__ import annotations

import pytest
import torch

from playground.config import HParams, HParamsError
from playground.data import load_dataset
from playground.engine.optim import build_optimizer
from playground.models import build_model
from playground.store import RunStore
from playground.sweeps._stacked import member_dropout
from playground.sweeps.race import Race, check_raceable, race

TOLERANCE = 1e-4  # float32: the same sums in a different order


def plain_losses(hp: HParams, data, steps: int) -> list[float]:
    """The oracle: one model, torch.optim, the Trainer's batch order (randperm seeded seed+1)."""
    model = build_model(hp, data.input_shape, data.n_classes)
    optimizer = build_optimizer(model, hp)
    generator = torch.Generator().manual_seed(hp.seed + 1)
    order, position, losses = torch.randperm(data.n_train, generator=generator), 0, []
    for _ in range(steps):
        index = order[position:position + hp.batch_size]
        position += hp.batch_size
        if position + hp.batch_size > data.n_train:
            order, position = torch.randperm(data.n_train, generator=generator), 0
        model.train()
        loss = torch.nn.functional.cross_entropy(model(data.x_train[index]), data.y_train[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def race_losses(configs: list[HParams], data) -> list[list[float]]:
    store = RunStore()
    runner = Race(configs, data=data, store=store)
    assert runner.fit() == ["finished"] * len(configs)
    return [[row["loss"] for row in store.points(run, split="train")] for run in runner.run_ids]


BASE = HParams(dataset="moons", samples=300, epochs=3, depth=2, width=16, batch_size=32)
MEMBERS = {
    "sgd": [dict(lr=0.05), dict(lr=0.3), dict(lr=0.1, weight_decay=0.01)],
    "momentum": [dict(lr=0.01, momentum=0.9), dict(lr=0.05, momentum=0.5),
                 dict(lr=0.02, momentum=0.8, weight_decay=0.001)],
    "nesterov": [dict(lr=0.01, momentum=0.9), dict(lr=0.05, momentum=0.5)],
    "adam": [dict(lr=0.001), dict(lr=0.01, momentum=0.5), dict(lr=0.003, weight_decay=0.01)],
    "adamw": [dict(lr=0.01, weight_decay=0.1), dict(lr=0.003, weight_decay=0.01)],
    "rmsprop": [dict(lr=0.001), dict(lr=0.003, weight_decay=0.001)],
}


@pytest.mark.parametrize("optimizer", list(MEMBERS))
def test_each_member_matches_its_own_torch_optim_run(optimizer):
    configs = [BASE.replace(optimizer=optimizer, **changes) for changes in MEMBERS[optimizer]]
    data = load_dataset(BASE, "cpu")
    batched = race_losses(configs, data)
    for hp, losses in zip(configs, batched):
        expected = plain_losses(hp, data, len(losses))
        assert len(losses) == 3 * (240 // 32)
        assert max(abs(a - b) for a, b in zip(losses, expected)) < TOLERANCE, hp.optimizer
    # the members really differ: the test would notice a race that ignored their settings
    assert len({round(losses[-1], 6) for losses in batched}) == len(configs)


def test_a_race_of_different_optimizers_matches_too():
    kinds = [("sgd", 0.1), ("momentum", 0.02), ("adam", 0.01), ("rmsprop", 0.002)]
    configs = [BASE.replace(optimizer=kind, lr=lr) for kind, lr in kinds]
    data = load_dataset(BASE, "cpu")
    for hp, losses in zip(configs, race_losses(configs, data)):
        expected = plain_losses(hp, data, len(losses))
        assert max(abs(a - b) for a, b in zip(losses, expected)) < TOLERANCE, hp.optimizer


def test_each_member_drops_at_its_own_rate():
    rates = torch.tensor([0.0, 0.1, 0.5, 0.8])
    h = torch.ones(4, 200, 100)
    out = member_dropout(h, rates, torch.Generator().manual_seed(0))
    dropped = (out == 0).float().mean((1, 2))
    assert torch.allclose(dropped, rates, atol=0.01), dropped
    # survivors are scaled by 1 / (1 - p), so each member's mean activation stays about 1
    assert torch.allclose(out.mean((1, 2)), torch.ones(4), atol=0.03)


def test_dropout_in_a_race_is_per_member():
    """Members with dropout train differently from the dropout-free member, which still
    matches its plain run exactly: another member's dropout does not leak into it."""
    configs = [BASE.replace(dropout=p) for p in (0.0, 0.3, 0.6)]
    data = load_dataset(BASE, "cpu")
    batched = race_losses(configs, data)
    expected = plain_losses(configs[0], data, len(batched[0]))
    assert max(abs(a - b) for a, b in zip(batched[0], expected)) < TOLERANCE
    assert batched[1] != batched[0] and batched[2] != batched[1]


def test_a_diverging_member_leaves_and_the_others_finish():
    result = race(BASE, "lr", [0.01, 10.0])
    statuses = {member.value: member.status for member in result.members}
    assert statuses == {0.01: "finished", 10.0: "diverged"}
    steps = {member.value: member.steps for member in result.members}
    assert steps[10.0] < steps[0.01] == 3 * (240 // 32)
    store = RunStore()
    assert all(store.get(m.run_id).source == f"race:{result.race_id}" for m in result.members)


def test_a_race_refuses_members_that_cannot_share_a_model():
    with pytest.raises(HParamsError, match="width"):
        check_raceable([BASE, BASE.replace(width=8)])
    with pytest.raises(HParamsError) as error:
        race(BASE, "depth", [1, 2])
    assert error.value.field == "depth" and "race can vary" in error.value.allowed


# --- settings that train until Stop (epochs 0) ----------------------------------------------
# one step an epoch (80 training rows, batches of 80): a race of the default length is cheap
ENDLESS = HParams.free_play(dataset="moons", samples=100, batch_size=80, width=8)


def test_a_race_from_settings_with_no_end_races_the_default_length_and_says_so():
    from playground.config import DEFAULT_EPOCHS

    store = RunStore()
    configs = [ENDLESS.replace(lr=lr) for lr in (0.01, 0.1)]
    runner = Race(configs, store=store)
    assert [hp.epochs for hp in runner.configs] == [DEFAULT_EPOCHS] * 2
    assert runner.note and "epochs 0 (until stopped)" in runner.note
    assert str(DEFAULT_EPOCHS) in runner.note
    assert runner.fit() == ["finished", "finished"]
    assert runner.member_steps == [DEFAULT_EPOCHS] * 2
    for run_id in runner.run_ids:
        run = store.get(run_id)
        assert run.status == "finished" and run.config["epochs"] == DEFAULT_EPOCHS
        change = [e for e in store.events(run_id) if e["field"] == "epochs"]
        assert change and change[0]["old"] == 0 and change[0]["new"] == DEFAULT_EPOCHS
    assert runner.result().note == runner.note


def test_race_function_with_no_end_finishes_and_reports_the_length():
    from playground.config import DEFAULT_EPOCHS

    result = race(ENDLESS, "lr", [0.01, 0.1], store=RunStore())
    assert [m.status for m in result.members] == ["finished", "finished"]
    assert [m.hp.epochs for m in result.members] == [DEFAULT_EPOCHS] * 2
    assert [m.value for m in result.members] == [0.01, 0.1]
    assert result.note is not None


def test_a_race_with_an_end_keeps_its_length_and_has_no_note():
    runner = Race([BASE, BASE.replace(lr=0.1)], store=RunStore())
    assert runner.note is None and [hp.epochs for hp in runner.configs] == [3, 3]


def test_an_error_mid_race_ends_every_member_as_failed_with_the_reason():
    """Out of memory, say: no member may stay "running" for ever in a live kernel."""
    from playground.engine.events import Callback

    class OutOfMemoryAtStep5(Callback):
        def after_step(self, trainer):
            if trainer.step == 5:
                raise RuntimeError("CUDA out of memory (injected)")

    store = RunStore()
    configs = [BASE.replace(lr=lr) for lr in (0.01, 0.1, 1.0)]
    race_ = Race(configs, store=store, callbacks=[OutOfMemoryAtStep5()])
    assert race_.fit() == ["failed"] * 3
    assert race_.status == "failed" and "CUDA out of memory (injected)" in race_.error
    for run_id in race_.run_ids:
        run = store.get(run_id)
        assert run.status == "failed" and "CUDA out of memory" in (run.error or "")
        assert run.steps == 5


def test_a_race_out_of_gpu_memory_gives_the_trainers_advice_and_race_says_it_failed():
    """Both loops share one way to end: the same reason for the same error, and `race()`
    (the CLI's and the app's entry) raises with it rather than returning failed members."""
    from playground.engine.events import Callback
    from playground.engine.loop import RunFailed

    class OutOfMemoryAtStep3(Callback):
        def after_step(self, trainer):
            if trainer.step == 3:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 2 GiB")

    store = RunStore()
    with pytest.raises(RunFailed, match="out of GPU memory at step 3: try a smaller batch"):
        race(BASE, "lr", [0.01, 0.1], store=store, callbacks=[OutOfMemoryAtStep3()])
    runs = store.list_runs()
    assert [run.status for run in runs] == ["failed", "failed"]
    assert all("out of GPU memory at step 3" in run.error for run in runs)


def test_each_member_logs_the_layer_norms_its_own_trainer_would():
    """The gradient-norm plot shows a race's members; the Trainer is the oracle."""
    from playground.engine.events import Callback
    from playground.engine.trainer import LOG_EVERY, Trainer

    class Norms(Callback):
        def __init__(self):
            self.rows = []

        def on_layer_norms(self, trainer, rows):
            self.rows += rows

    configs = [BASE.replace(optimizer="sgd", lr=lr) for lr in (0.05, 0.3)]
    data = load_dataset(BASE, "cpu")
    in_race = Norms()
    racing = Race(configs, data=data, store=RunStore(), callbacks=[in_race])
    racing.fit()
    for k, hp in enumerate(configs):
        alone = Norms()
        Trainer(hp, data, "cpu", callbacks=[alone]).fit()
        mine = [r for r in in_race.rows if r["member"] == k]
        assert [(r["step"], r["layer"]) for r in mine] == [
            (r["step"], r["layer"]) for r in alone.rows]
        assert {r["step"] for r in mine} == set(range(0, racing.step, LOG_EVERY))
        for ours, theirs in zip(mine, alone.rows):
            assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-4)
            assert ours["weight_norm"] == pytest.approx(theirs["weight_norm"], rel=1e-4)
        saved = RunStore().layer_norms(racing.run_ids[k])
        assert len(saved) == len(mine) and saved[0]["layer"] == "layer1"
