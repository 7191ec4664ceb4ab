"""Random and hostile values thrown at HParams, the URL parser and the CLI (hypothesis)."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground.cli import build_parser, hparams_from_args, main
from playground.config import HParams, HParamsError

FIELDS = list(HParams.specs())
anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def assert_valid(hp: HParams) -> None:
    for name, spec in HParams.specs().items():
        value = getattr(hp, name)
        if spec.kind in ("int", "float"):
            assert math.isfinite(value) and spec.low <= value <= spec.high, name
        elif spec.kind == "choice":
            assert value in spec.choices, name


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS + ["colour", ""]), anything, max_size=4))
def test_hparams_accept_only_allowed_values(values):
    try:
        hp = HParams.from_dict(values)
    except HParamsError as error:
        assert error.field in values or error.field in FIELDS
        assert "\n" not in str(error) and "allowed" in str(error)
        return
    assert_valid(hp)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_url_query_parser_never_breaks(query):
    try:
        hp = HParams.from_query(query, ignore=("lesson", "hide"))
    except HParamsError as error:
        assert "\n" not in str(error)
        return
    assert_valid(hp)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELDS), st.text(max_size=12))
def test_url_query_values_are_validated(field, text):
    from urllib.parse import urlencode
    try:
        hp = HParams.from_query(urlencode({field: text}))
    except HParamsError as error:
        assert error.field == field
        return
    assert_valid(hp)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(FIELDS), st.text(max_size=12).filter(lambda t: not t.startswith("-")))
def test_cli_flags_are_validated_with_one_line(capsys, field, text):
    flag = "--" + field.replace("_", "-")
    args = build_parser().parse_args(["train", flag, text])
    try:
        hparams_from_args(args)
    except HParamsError:
        capsys.readouterr()
        assert main(["train", flag, text]) == 2  # refused before anything trains
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"playground: error: {field}: ")
