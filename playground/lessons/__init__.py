"""Lessons: ready-made scenarios that each show one idea with a few runs side by side.

`LESSONS` maps a name to its Lesson (plain data, no torch); `run_lesson` trains one
headlessly and returns the measures its claim rests on.
"""

from __future__ import annotations

from playground.lessons._base import Lesson, LessonRun
from playground.lessons._run import LessonOutcome, run_lesson
from playground.lessons.catalog import CATALOG

__all__ = ["LESSONS", "Lesson", "LessonNotFound", "LessonOutcome", "LessonRun", "get_lesson",
           "run_lesson"]

LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in CATALOG}


class LessonNotFound(ValueError):
    """A lesson name that does not exist: names the value and the allowed names."""

    def __init__(self, name: object):
        self.name = name
        super().__init__(f"lesson: {name!r} is not allowed; allowed: one of "
                         + ", ".join(LESSONS))


def get_lesson(name: str) -> Lesson:
    """The lesson called `name`; LessonNotFound (a ValueError) lists the names there are."""
    if not isinstance(name, str) or name not in LESSONS:
        raise LessonNotFound(name)
    return LESSONS[name]
