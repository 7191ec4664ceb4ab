"""Columns of plain numbers reach the browser exactly as Bokeh's own encoding would send them."""

import math

from bokeh.core.serialization import Serializer
from bokeh.models import ColumnDataSource

from playground.plots._base import stream
from playground.plots._numbers import Numbers, numbers


def test_finite_numbers_encode_as_bokeh_encodes_a_plain_list(monkeypatch):
    values = [0, 1, 2.5, -3e-7, 10**12]
    assert type(numbers(values)) is Numbers
    assert Serializer().encode(numbers(values)) == Serializer().encode(list(values))

    def no_walk(*args):
        raise AssertionError("encoded value by value")

    monkeypatch.setattr(Serializer, "_encode_float", no_walk)
    monkeypatch.setattr(Serializer, "_encode_int", no_walk)
    assert Serializer().encode(numbers(values)) == values  # whole, not value by value


def test_anything_else_keeps_bokehs_encoding():
    for values in ([1.0, math.nan], [1.0, math.inf], ["a", "b"], [True, False], [None, 1.0]):
        kept = numbers(values)
        assert type(kept) is list  # Bokeh walks it as before
        assert Serializer().encode(kept) == Serializer().encode(list(values))
    assert Serializer().encode(numbers([1.0, math.nan]))[1] == {"type": "number", "value": "nan"}


def test_a_stream_stores_plain_lists_and_sends_the_rows():
    source = ColumnDataSource({"step": [1], "y": [0.5], "label": ["a"]})
    stream(source, {"step": [2, 3], "y": [0.25, math.nan], "label": ["b", "c"]}, rollover=10)
    assert all(type(column) is list for column in source.data.values())
    assert source.data["step"] == [1, 2, 3] and source.data["label"] == ["a", "b", "c"]
