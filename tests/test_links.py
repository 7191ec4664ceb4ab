"""Links: a URL query to the app's settings and back; a bad part never costs the rest."""

import json
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.config import REGRESSION_DATASETS, REGRESSION_LOSSES, HParams
from playground.lessons import LESSONS, get_lesson
from playground.links import LIMIT, SERVER_KEYS, Link, make_link, parse_link

FIELDS = list(HParams.specs())


# --- parse_link: each bad part refuses only itself -------------------------------------------
def test_a_bad_value_refuses_only_itself():
    link = parse_link("lr=0.3&depth=999")
    assert link.hp == HParams(lr=0.3)  # depth stays at its default
    assert link.refused == ["depth: 999 is not allowed; allowed: a whole number 0 to 10"]
    assert link.lesson is None and link.hidden == ()


def test_a_refused_value_keeps_the_lessons_preset():
    preset = get_lesson("capacity").configs()[0]
    link = parse_link("?lesson=capacity&depth=999&lr=0.3&optimizer=fast")
    assert link.lesson == "capacity"
    assert link.hp == preset.replace(lr=0.3)
    assert link.refused[0].startswith("depth: 999 is not allowed")  # in the order of HParams
    assert link.refused[1].startswith("optimizer: 'fast' is not allowed; allowed: one of sgd")


def test_a_clashing_combination_drops_the_field_it_names():
    link = parse_link("loss=l1&lr=0.3")  # l1 is for regression; moons is classification
    assert link.hp == HParams(lr=0.3)
    assert link.refused == ["loss: 'l1' is not allowed; allowed: for classification dataset "
                            "'moons': one of auto, cross_entropy, mse"]
    both = parse_link("dataset=regression&loss=mse")  # together they are fine
    assert both.hp == HParams(dataset="regression", loss="mse") and both.refused == []


def test_a_change_that_clashes_with_the_preset_is_dropped_and_named():
    preset = HParams(optimizer="sgd", momentum=0.0)
    link = parse_link("optimizer=nesterov&lr=0.3", free_play=preset)  # nesterov needs momentum
    assert link.hp == preset.replace(lr=0.3)
    assert link.refused == ["optimizer: 'nesterov' was not used: momentum: 0.0 is not allowed; "
                            "allowed: above 0 when optimizer is nesterov"]
    fixed = parse_link("optimizer=nesterov&momentum=0.5", free_play=preset)
    assert fixed.hp == preset.replace(optimizer="nesterov", momentum=0.5) and not fixed.refused


def test_a_link_may_leave_a_preset_for_another_valid_combination():
    preset = HParams(dataset="regression", loss="mse")
    link = parse_link("dataset=moons&loss=cross_entropy", free_play=preset)
    assert link.hp == HParams(dataset="moons", loss="cross_entropy") and link.refused == []


@pytest.mark.parametrize("key", SERVER_KEYS)
def test_server_keys_are_skipped_silently(key):
    link = parse_link(f"{key}=SECRET&lr=0.3")
    assert link.hp == HParams(lr=0.3) and link.refused == []


def test_the_workshop_link_with_a_token_opens_its_settings():
    link = parse_link("?token=SECRET&lr=0.3&hide=dropout")
    assert link.hp == HParams(lr=0.3) and link.hidden == ("dropout",)
    assert link.refused == []


def test_unknown_keys_are_named_but_their_values_never_shown():
    link = parse_link("colour=red&api_key=hunter2&lr=0.3")
    assert link.hp == HParams(lr=0.3)
    [message] = link.refused
    assert message.startswith("'colour', 'api_key': not a setting")
    assert "red" not in message and "hunter2" not in message
    many = parse_link("&".join(f"k{i}=v" for i in range(40)))
    [message] = many.refused
    assert message.startswith("'k0', 'k1', 'k2', 'k3', 'k4' and 35 more: not a setting")


def test_hide_keeps_known_fields_and_refuses_the_rest():
    link = parse_link("hide=dropout,nosuchfield,__proto__,,constructor, seed,dropout")
    assert link.hidden == ("dropout", "seed")
    assert link.hp == HParams()
    [message] = link.refused
    assert message.startswith("hide: 'nosuchfield,__proto__,constructor' is not allowed; "
                              "allowed: names of HParams fields")
    assert "dropout" in message  # the allowed names are listed


@pytest.mark.parametrize("name", ["__proto__", "constructor", "toString", "hasOwnProperty",
                                  "<b>x</b>", "../etc", "__class__", "DROPOUT"])
def test_hide_refuses_odd_names(name):
    link = parse_link(f"hide={name}")
    assert link.hidden == () and len(link.refused) == 1 and name in link.refused[0]


def test_an_unknown_lesson_opens_free_play_and_says_so():
    link = parse_link("lesson=nosuch&lr=0.3")
    assert link.lesson is None and link.hp == HParams(lr=0.3)
    assert link.refused == [f"lesson: 'nosuch' is not allowed; allowed: one of "
                            f"{', '.join(LESSONS)}"]
    assert parse_link("lesson=").lesson is None and parse_link("lesson=").refused == []


@pytest.mark.parametrize("query", ["lr=" + "x" * 500, "lesson=" + "y" * 500,
                                   "hide=" + "z" * 500, "k" * 500 + "=1",
                                   "loss=" + "w" * 500])
def test_echoed_text_is_cut_short(query):
    [message] = parse_link(query).refused
    longest = max((len(run) for run in message.replace("'", " ").split()), default=0)
    assert longest <= LIMIT and "…" in message


def test_the_last_of_duplicate_keys_wins():
    link = parse_link("lr=0.1&lr=0.3&hide=seed&hide=dropout&lesson=nosuch&lesson=capacity")
    assert link.hp.lr == 0.3 and link.hidden == ("dropout",) and link.lesson == "capacity"
    assert link.refused == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_query_opens_the_app(query):
    link = parse_link(query)
    assert isinstance(link.hp, HParams) and set(link.hidden) <= set(FIELDS)
    assert all("\n" not in line for line in link.refused)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS + ["lesson", "hide", "token", "x"]),
                          st.text(max_size=8)), max_size=6))
def test_any_mix_of_keys_keeps_every_good_value(pairs):
    link = parse_link("&".join(f"{key}={value}" for key, value in pairs))
    values = dict(parse_qsl("&".join(f"{key}={value}" for key, value in pairs),
                            keep_blank_values=True))
    refused = " ".join(link.refused)
    base = get_lesson(link.lesson).configs()[0] if link.lesson else HParams()
    for name in link.hp.diff(base):
        assert name in values  # nothing changes that the link did not ask for
    for name, text in values.items():
        if name in FIELDS and f"{name}: " not in refused and "was not used" not in refused:
            assert getattr(link.hp, name) == HParams.specs()[name].parse(name, text)


# --- make_link: only what differs from the preset, and back again ----------------------------
def test_a_link_holds_only_what_differs():
    assert make_link(HParams()) == "?"
    assert make_link(HParams(), base="http://h:8866/") == "http://h:8866/"
    assert make_link(HParams(lr=0.3, depth=4)) == "?depth=4&lr=0.3"
    assert make_link(HParams(lr=0.3), hidden=("dropout", "seed")) == "?lr=0.3&hide=dropout,seed"
    preset = get_lesson("capacity").configs()[0]
    assert make_link(preset, "capacity") == "?lesson=capacity"
    assert make_link(preset.replace(epochs=3), "capacity", base="/x/") == \
        "/x/?lesson=capacity&epochs=3"
    free_play = HParams(epochs=1000)
    assert make_link(HParams(epochs=1000), free_play=free_play) == "?"
    assert make_link(HParams(), free_play=free_play) == "?epochs=30"


@st.composite
def hparams(draw):
    values = {}
    for name, spec in HParams.specs().items():
        if spec.kind == "choice":
            values[name] = draw(st.sampled_from(spec.choices))
        elif spec.kind == "bool":
            values[name] = draw(st.booleans())
        elif spec.kind == "run":
            values[name] = draw(st.sampled_from(["", "20250101-120000-ab12"]))
        elif spec.kind == "int":
            values[name] = draw(st.integers(int(spec.low), int(spec.high)))
        elif spec.log_low is not None:
            values[name] = draw(st.one_of(st.just(0.0), st.floats(spec.log_low, spec.high)))
        else:
            values[name] = draw(st.floats(spec.low, spec.high))
    if values["dataset"] != "custom":  # keep the loss allowed for the dataset's task
        losses = REGRESSION_LOSSES if values["dataset"] in REGRESSION_DATASETS else ("auto",)
        values["loss"] = draw(st.sampled_from(losses))
    if values["optimizer"] == "nesterov" and values["momentum"] == 0:
        values["momentum"] = 0.5
    if values["batch_norm"] and values["batch_size"] < 2:
        values["batch_size"] = 2
    values["freeze"] = min(values["freeze"], values["depth"])  # only hidden layers freeze
    if values["dataset"] not in ("digits", "mnist", "fashion_mnist", "cifar10"):
        values["classes"] = "all"  # halves of ten classes
    if values["dataset"] in REGRESSION_DATASETS:
        values["train_per_class"] = 0
    return HParams(**values)


@settings(max_examples=200, deadline=None)
@given(hparams(), st.sampled_from([None, *LESSONS]),
       st.lists(st.sampled_from(FIELDS), unique=True, max_size=5),
       st.sampled_from([None, HParams(epochs=1000)]))
def test_a_link_opens_the_same_view(hp, lesson, hidden, free_play):
    query = make_link(hp, lesson, hidden, free_play=free_play)
    assert parse_link(query, free_play=free_play) == Link(hp, lesson, tuple(hidden), [])


# --- the app opens from any link, and its copy link gives the same view back -----------------
def shown_text(widget) -> str:
    """Every widget state under `widget`, as one text (values, descriptions, options)."""
    states = [json.dumps(widget.get_state(), default=str)]
    for child in getattr(widget, "children", ()):
        states.append(shown_text(child))
    return "\n".join(states)


@pytest.mark.parametrize("query, words", [
    ("hide=nosuchfield", "hide: 'nosuchfield' is not allowed"),
    ("hide=__proto__", "hide: '__proto__' is not allowed"),
    ("lr=0.3&depth=999", "depth: 999 is not allowed; allowed: a whole number 0 to 10"),
    ("token=SECRET&lr=0.3", None),
])
def test_the_app_opens_from_a_bad_link_and_says_what_was_refused(query, words):
    from playground.app import Playground

    app = Playground.from_url(query, device="cpu")
    try:
        assert set(app.controls.by_name) == set(FIELDS)  # nothing hidden, nothing broken
        expected = HParams.free_play(**({"lr": 0.3} if "lr=0.3" in query else {}))
        assert app.runner.hparams == expected
        if words is None:
            assert app.message.value == ""
            assert "SECRET" not in shown_text(app.widget) and "SECRET" not in app.link()
        else:
            assert words in app.message.value and "color:#D55E00" in app.message.value
    finally:
        app.close()


def test_copy_link_keeps_the_lesson_the_hidden_fields_and_the_changes():
    from playground.app import Playground

    app = Playground.from_url("token=SECRET&lesson=capacity&epochs=3&hide=dropout,seed",
                              device="cpu")
    try:
        assert app.hidden == ("dropout", "seed")
        assert "dropout" not in app.controls.by_name
        app.use_lr(0.3)  # as if the slider had moved
        link = app.link()
        assert link == "?lesson=capacity&lr=0.3&epochs=3&hide=dropout,seed"
        again = parse_link(link)
        assert again == Link(app.runner.hparams, "capacity", ("dropout", "seed"), [])
    finally:
        app.close()
