"""Telling a person's widget changes from the code's own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Quiet:
    """True while the code sets widget values (`with quiet(): ...`, nestable), so observers
    can ignore the changes they would otherwise take for a person's."""

    def __init__(self) -> None:
        self._depth = 0

    def __bool__(self) -> bool:
        return self._depth > 0

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
