import json
import math

import pytest

from playground.config import HParams, HParamsError


def test_defaults_are_valid_and_every_field_is_documented():
    hp = HParams()
    for name, spec in HParams.specs().items():
        assert spec.help and spec.label, name
        assert spec.check(name, getattr(hp, name)) == getattr(hp, name)
        if spec.kind in ("int", "float"):
            assert spec.low <= getattr(hp, name) <= spec.high


def test_log_scale_for_learning_rate_and_weight_decay():
    specs = HParams.specs()
    assert specs["lr"].scale == "log"
    assert specs["weight_decay"].scale == "log"


def test_contract_labels():
    labels = {spec.label for spec in HParams.specs().values()}
    assert {"learning rate", "batch size", "dropout", "depth"} <= labels


@pytest.mark.parametrize("hp", [
    HParams(),
    HParams(dataset="spiral", lr=0.3, depth=4, batch_norm=True, optimizer="nesterov",
            weight_decay=1e-4, schedule="onecycle", activation="leaky_relu", init="he"),
    HParams(dataset="regression", loss="huber", l1=1e-3, dropout=0.25, seed=123456789),
])
def test_round_trips(hp):
    assert HParams.from_dict(hp.to_dict()) == hp
    assert HParams.from_json(hp.to_json()) == hp
    assert HParams.from_query(hp.to_query()) == hp
    assert HParams.from_query(hp.to_query(only_changed=False)) == hp
    assert HParams.from_dict({k: str(v) for k, v in hp.to_dict().items()}) == hp
    assert json.loads(hp.to_json())["lr"] == hp.lr


def test_query_holds_only_changes_and_accepts_strings():
    hp = HParams.from_query("?lr=0.3&depth=4&batch_norm=on&lesson=overfit", ignore=("lesson",))
    assert (hp.lr, hp.depth, hp.batch_norm) == (0.3, 4, True)
    assert HParams(lr=0.3).to_query() == "lr=0.3"


@pytest.mark.parametrize("field, value, words", [
    ("lr", 50.0, "1e-05 to 10"),          # out of range
    ("lr", 0.0, "1e-05 to 10"),           # below range
    ("lr", math.nan, "1e-05 to 10"),      # not a number
    ("lr", math.inf, "1e-05 to 10"),
    ("lr", "0.1", "1e-05 to 10"),         # wrong type in the Python API
    ("depth", 2.5, "whole number"),       # not a whole number
    ("depth", -1, "0 to 10"),
    ("depth", True, "whole number"),      # bools are not numbers here
    ("batch_size", 0, "1 to 4096"),
    ("optimizer", "adagrad", "sgd, momentum, nesterov, adam, adamw, rmsprop"),
    ("activation", "swish", "relu, tanh"),
    ("batch_norm", "yes", "true or false"),
    ("weight_decay", 1e-9, "0 for off"),
    ("dataset", "imagenet", "moons"),
])
def test_rejects_bad_values_naming_field_value_and_range(field, value, words):
    with pytest.raises(HParamsError) as caught:
        HParams(**{field: value})
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert repr(value) in message or str(value) in message
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("query, field", [
    ("lr=abc", "lr"), ("depth=3.5", "depth"), ("batch_norm=maybe", "batch_norm"),
    ("optimizer=", "optimizer"), ("lr=1e999", "lr"), ("colour=red", "colour"),
])
def test_rejects_bad_query_strings(query, field):
    with pytest.raises(HParamsError) as caught:
        HParams.from_query(query)
    assert caught.value.field == field


def test_rejects_bad_combinations():
    with pytest.raises(HParamsError, match="loss: 'l1'.*classification"):
        HParams(dataset="moons", loss="l1")
    with pytest.raises(HParamsError, match="loss: 'cross_entropy'.*regression"):
        HParams(dataset="regression", loss="cross_entropy")
    with pytest.raises(HParamsError, match="momentum: 0.0.*nesterov"):
        HParams(optimizer="nesterov", momentum=0.0)
    with pytest.raises(HParamsError, match="batch_size: 1.*batch norm"):
        HParams(batch_norm=True, batch_size=1)


def test_bad_json_and_unknown_keys():
    with pytest.raises(HParamsError, match="config"):
        HParams.from_json("{not json")
    with pytest.raises(HParamsError, match="config"):
        HParams.from_json("[1, 2]")
    with pytest.raises(HParamsError, match="^colour: "):
        HParams.from_dict({"colour": "red"})
    with pytest.raises(HParamsError, match="^colour: "):
        HParams().replace(colour="red")


def test_replace_validates_and_live_fields():
    hp = HParams()
    assert hp.replace(lr=0.1).lr == 0.1
    with pytest.raises(HParamsError):
        hp.replace(lr=-1.0)
    assert {"lr", "momentum", "weight_decay", "dropout", "batch_size", "schedule"} <= \
        HParams.live_fields()
    assert not hp.needs_new_run(hp.replace(lr=0.1, dropout=0.5))
    assert hp.needs_new_run(hp.replace(depth=5))
    assert hp.diff(hp.replace(lr=0.1)) == {"lr": (0.01, 0.1)}


def test_epochs_zero_means_until_stopped_and_the_default_keeps_its_length():
    from playground.config import DEFAULT_EPOCHS

    assert HParams().epochs == DEFAULT_EPOCHS == 30 and not HParams().until_stopped
    spec = HParams.specs()["epochs"]
    assert spec.allowed() == "a whole number 0 to 1000 (0: until stopped)"
    free = HParams.free_play()
    assert free.epochs == 0 and free.until_stopped
    assert free.diff(HParams()) == {"epochs": (0, DEFAULT_EPOCHS)}  # only the length differs
    assert HParams.free_play(lr=0.3).lr == 0.3 and HParams.free_play(epochs=5).epochs == 5
    assert HParams.from_query(free.to_query()) == free  # a shared link keeps "until stopped"
    assert HParams.from_query("epochs=0").until_stopped
    assert "epochs" in HParams.live_fields()


def test_with_an_end_gives_a_length_only_to_a_run_that_has_none():
    from playground.config import DEFAULT_EPOCHS

    free = HParams.free_play(lr=0.3)
    assert free.with_an_end() == HParams(lr=0.3, epochs=DEFAULT_EPOCHS)
    assert free.with_an_end(7).epochs == 7
    assert HParams(epochs=12).with_an_end() == HParams(epochs=12)


@pytest.mark.parametrize("value", [-1, 1001, 2.5])
def test_epochs_out_of_range_is_still_refused_with_the_zero_explained(value):
    with pytest.raises(HParamsError) as caught:
        HParams(epochs=value)
    assert caught.value.field == "epochs" and "(0: until stopped)" in str(caught.value)
