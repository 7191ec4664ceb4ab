"""Columns of plain numbers, serialised for the browser without Bokeh's per-value walk.

Bokeh's serializer encodes a list value by value in Python (a type check, a NaN check and a
reference lookup each): about 1 ms a figure per pump round here, on the thread that shares
the GIL with training. A column of finite ints and floats is already valid JSON as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from playground.plots._compat import encode_as_list


class Numbers(list):
    """A list of numbers bound for the browser; stored in a data source as a plain list."""


def numbers(values: Sequence[Any]) -> list[Any]:
    """`values` as Numbers when every one is a finite int or float (else as they are)."""
    if all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in values):
        return Numbers(values)
    return list(values)


encode_as_list(Numbers)  # finite when made: json.dumps writes it unchanged
