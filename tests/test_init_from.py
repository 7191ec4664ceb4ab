"""Starting from another run's weights (init_from) and freezing layers (freeze): what is copied,
what starts fresh, what each error says, and what a frozen layer does and shows."""

import re

import pytest
import torch

from playground.cli import main
from playground.config import HParams, HParamsError
from playground.data import load_dataset
from playground.engine.events import Callback
from playground.engine.runner import Runner
from playground.engine.trainer import Trainer
from playground.engine.transfer import InitFromError, freeze
from playground.models import build_model
from playground.store import RunStore

DIGITS = HParams(dataset="digits", depth=2, width=16, optimizer="sgd", lr=0.05, batch_size=32,
                 epochs=1)


def train(store: RunStore, hp: HParams) -> str:
    runner = Runner(hp, device="cpu", store=store)
    run_id = runner.start()
    runner.wait()
    return run_id


def weights(store: RunStore, run_id: str) -> dict[str, torch.Tensor]:
    return torch.load(store.weights_path(run_id), weights_only=True)["state_dict"]


@pytest.fixture
def store():
    return RunStore()


@pytest.fixture
def pretrained(store):
    """A run on digits 0-4 with saved weights."""
    return train(store, DIGITS.replace(classes="first_half"))


# --- data: class halves and few labels -------------------------------------------------------
def test_halves_of_the_digits_and_few_labels_per_class():
    first = load_dataset(DIGITS.replace(classes="first_half"))
    second = load_dataset(DIGITS.replace(classes="second_half", train_per_class=20))
    assert first.class_names == ("0", "1", "2", "3", "4") and first.n_classes == 5
    assert second.class_names == ("5", "6", "7", "8", "9")
    assert torch.bincount(second.y_train).tolist() == [20] * 5  # numbered from 0 again
    assert second.n_val > 150 and set(second.y_val.tolist()) == set(range(5))  # all of them
    again = load_dataset(DIGITS.replace(classes="second_half", train_per_class=20))
    assert torch.equal(again.x_train, second.x_train)  # the same few, for the same seed


@pytest.mark.parametrize("changes, words", [
    ({"classes": "first_half", "dataset": "moons"}, "halves only for digits"),
    ({"train_per_class": 5, "dataset": "regression", "loss": "mse"}, "0 for regression"),
    ({"freeze": 3}, "0 to 2, the hidden layers"),
    ({"init_from": "no such run!"}, "the id of a saved run"),
])
def test_bad_values_name_the_field_and_what_is_allowed(changes, words):
    with pytest.raises(HParamsError, match=words):
        DIGITS.replace(**changes)


# --- init_from ------------------------------------------------------------------------------
def test_matching_layers_are_copied_and_the_output_starts_fresh_for_other_classes(
        store, pretrained):
    hp = DIGITS.replace(classes="second_half", init_from=pretrained[:12], epochs=1, lr=1e-5)
    run_id = train(store, hp)
    run = store.get(run_id)
    assert run.status == "finished"
    assert run.config["init_from"] == pretrained  # the full id: where its weights came from
    [init] = [event for event in store.events(run_id) if event["kind"] == "init"]
    assert pretrained in init["message"] and "layer1, layer2 copied" in init["message"]
    assert "layer3 starts fresh (classes 0-4 there, 5-9 here)" in init["message"]
    before, after = weights(store, pretrained), weights(store, run_id)
    fresh = build_model(hp, (64,), 5).state_dict()
    for key in ("1.weight", "4.bias"):  # copied, then moved a hair at lr 1e-5
        assert torch.allclose(before[key], after[key], atol=1e-3)
    assert torch.allclose(after["7.weight"], fresh["7.weight"], atol=1e-3)
    assert not torch.allclose(after["7.weight"], before["7.weight"], atol=1e-2)


def test_the_output_layer_starts_fresh_when_the_number_of_classes_differs(store, pretrained):
    trainer = Trainer(DIGITS, load_dataset(DIGITS))  # 10 classes after 5
    from playground.engine.transfer import read_source, start_from
    message = start_from(trainer.model, read_source(store, pretrained), ("0",) * 10)
    assert "layer3 starts fresh (5 outputs there, 10 here)" in message
    assert torch.equal(trainer.model.state_dict()["1.weight"],
                       weights(store, pretrained)["1.weight"])


@pytest.mark.parametrize("changes, words", [
    ({"width": 8}, "layer1 (1.weight) is 16x64 there, 8x64 here"),
    ({"depth": 3}, "layer3 (7.weight) is 5x16 there, 16x16 here"),
    ({"depth": 1}, "its 7.weight has no place here"),
    ({"batch_norm": True}, "layer1 (2.weight) is not in its network"),
])
def test_the_first_layer_that_cannot_be_matched_is_named(store, pretrained, changes, words):
    hp = DIGITS.replace(init_from=pretrained, **changes)
    with pytest.raises(InitFromError, match=re.escape(words)):
        Runner(hp, device="cpu", store=store).start()
    assert len(store.list_runs()) == 1  # refused before a run was made


def test_a_run_without_weights_or_not_saved_is_refused(store):
    run_id = store.create_run(DIGITS.to_dict(), "cpu")  # made, never trained: no weights
    with pytest.raises(InitFromError, match="has none"):
        Runner(DIGITS.replace(init_from=run_id), device="cpu", store=store).start()
    with pytest.raises(InitFromError, match="not found"):
        Runner(DIGITS.replace(init_from="1999"), device="cpu", store=store).start()


def test_choosing_an_unusable_run_while_set_up_is_refused_and_nothing_changes(store, pretrained):
    runner = Runner(DIGITS.replace(width=8), device="cpu", store=store)
    with pytest.raises(InitFromError, match="8x64 here"):
        runner.update(init_from=pretrained)
    assert runner.hparams.init_from == ""


# --- freeze ---------------------------------------------------------------------------------
def test_frozen_layers_get_no_gradient_and_the_optimizer_skips_them():
    hp = DIGITS.replace(freeze=2, optimizer="momentum", weight_decay=0.1, epochs=2)
    norms = []

    class Norms(Callback):
        def on_layer_norms(self, trainer, rows):
            norms.extend(rows)

    trainer = Trainer(hp, load_dataset(hp), log_every=1, callbacks=[Norms()])
    start = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    trainer.fit()
    end = trainer.model.state_dict()
    for key in ("1.weight", "1.bias", "4.weight", "4.bias"):  # weight decay would move them
        assert torch.equal(start[key], end[key]) and not trainer.model.get_parameter(
            key).requires_grad
    assert not torch.equal(start["7.weight"], end["7.weight"])
    frozen = [row for row in norms if row["layer"] in ("layer1", "layer2")]
    assert frozen and all(row["grad_norm"] == 0.0 and row["frozen"] for row in frozen)
    assert all(row["grad_norm"] > 0 and "frozen" not in row for row in norms
               if row["layer"] == "layer3")


def test_freeze_counts_hidden_layers_only():
    model = build_model(DIGITS, (64,), 10)
    assert freeze(model, 2) == ["layer1", "layer2"]
    assert [p.requires_grad for p in model.parameters()] == [False] * 4 + [True] * 2
    assert freeze(model, 0) == [] and all(p.requires_grad for p in model.parameters())
    with pytest.raises(HParamsError, match="output layer always trains"):
        freeze(model, 3)


def test_unfreezing_live_through_the_runner_is_recorded(store):
    hp = DIGITS.replace(freeze=2, epochs=0)
    runner = Runner(hp, device="cpu", store=store)
    run_id = runner.start()
    runner.step(5)
    while runner.status not in ("paused",):
        runner.wait(0.05)
    runner.update(freeze=0)
    runner.step(5)
    while runner.trainer.step < 10:
        runner.wait(0.05)
    assert all(parameter.requires_grad for parameter in runner.trainer.model.parameters())
    runner.stop()
    changes = [event for event in store.events(run_id) if event["kind"] == "change"]
    assert changes[0]["field"] == "freeze" and "frozen layers 2 -> 0" in changes[0]["message"]
    norms = store.layer_norms(run_id)
    assert norms[0]["grad_norm"] is None  # frozen at step 0: no gradient, stored as such


# --- races and sweeps -----------------------------------------------------------------------
def test_a_race_refuses_a_start_from_another_run_or_frozen_layers(store, pretrained):
    from playground.sweeps.race import Race

    for changes in ({"init_from": pretrained}, {"freeze": 1}):
        with pytest.raises(HParamsError, match="race"):
            Race([DIGITS.replace(**changes, lr=lr) for lr in (0.01, 0.1)], store=store)


# --- the CLI --------------------------------------------------------------------------------
def test_cli_flags_show_their_ranges_and_refuse_bad_values(capsys, store, pretrained):
    from playground.cli import build_parser
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for flag, words in (("--init-from", "the id of a saved run"), ("--freeze", "0 to 12"),
                        ("--classes", "first_half"), ("--train-per-class", "0 to 1000")):
        assert flag in help_text and words in " ".join(help_text.split()), flag
    for args, words in ((["--init-from", "nope"], "init_from: 'nope' is not allowed"),
                        (["--freeze", "5"], "freeze: 5 is not allowed; allowed: 0 to 2"),
                        (["--init-from", pretrained, "--width", "8"], "8x64 here"),
                        (["--classes", "thirds"], "classes: 'thirds' is not allowed")):
        assert main(["train", "--dataset", "digits", "--width", "16", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert main(["train", "--dataset", "digits", "--width", "16", "--epochs", "1",
                 "--classes", "second_half", "--init-from", pretrained, "--freeze", "2",
                 "--json"]) == 0


def test_a_sweep_trains_from_the_run_and_refuses_one_that_cannot_be_used(store, pretrained):
    from playground.sweeps.study import run_sweep

    base = DIGITS.replace(classes="second_half", train_per_class=20, init_from=pretrained,
                          freeze=1)
    result = run_sweep(base, ["lr"], ranges={"lr": [0.01, 0.1]}, method="grid", store=store)
    assert len(result.trials) == 2
    for row in result.trials:
        assert store.get(row.run_id).config["init_from"] == pretrained
        assert any(event["kind"] == "init" for event in store.events(row.run_id))
    with pytest.raises(InitFromError, match="not found"):
        run_sweep(base.replace(init_from="1999"), ["lr"], trials=1, store=store)


def test_a_fine_tuned_run_is_not_exported_as_a_script_that_would_ignore_it(store, pretrained):
    from playground import exports
    from playground.script import ScriptError

    run_id = train(store, DIGITS.replace(classes="second_half", init_from=pretrained))
    with pytest.raises(ScriptError, match="uses init_from, classes"):
        exports.export_bytes(store, run_id, "script")
