"""Lessons: ready-made scenarios that each show one idea with a few runs side by side.

`LESSONS` maps a name to its Lesson (plain data, no torch); `run_lesson` trains one
headlessly and returns the measures its claim rests on.
"""

from __future__ import annotations

from playground.lessons._base import Lesson, LessonRun
from playground.lessons._run import LessonOutcome, run_lesson
from playground.lessons.catalog import LESSONS, LessonNotFound, get_lesson

__all__ = ["LESSONS", "Lesson", "LessonNotFound", "LessonOutcome", "LessonRun", "get_lesson",
           "run_lesson"]
