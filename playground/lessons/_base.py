"""A lesson: a scenario of a few runs that differ in one idea, with words to read beside them.

A lesson is plain data (no torch): the app shows its explanation and hides the fields that
do not matter to it; `run_lesson` trains its runs headlessly; the tests prove its claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.config import HParams, HParamsError


@dataclass(frozen=True)
class LessonRun:
    """One run of a lesson: a short label and the fields it changes from the lesson's base."""

    label: str  # what the legend and the table say, e.g. "lr=1.0 (too high)"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    start_from: str = ""  # label of an earlier run of the lesson whose weights this one starts
    # from (fine-tuning); its init_from is set to that run's id once that run is saved

    def config(self, base: HParams) -> HParams:
        return base.replace(**dict(self.overrides))


@dataclass(frozen=True)
class Lesson:
    """A scenario: base settings, the runs to compare, and what a person should notice."""

    name: str  # short id used in URLs (?lesson=name), the CLI and notebook file names
    title: str  # one line for a picker
    explanation: str  # a few sentences of inline HTML, shown beside the plots
    watch: str  # which plot to look at and what it will show (inline HTML)
    base: HParams  # settings shared by every run
    runs: tuple[LessonRun, ...]
    hidden: tuple[str, ...] = ()  # HParams fields hidden in classroom mode
    figure: str = "loss"  # name of the plot that shows the claim (the browser test reads it)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", tuple(self.runs))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.runs:
            raise ValueError(f"lesson {self.name!r}: needs at least one run")
        labels = [run.label for run in self.runs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"lesson {self.name!r}: run labels must differ: {labels}")
        for index, run in enumerate(self.runs):
            if run.start_from and run.start_from not in labels[:index]:
                raise ValueError(f"lesson {self.name!r}: run {run.label!r} starts from "
                                 f"{run.start_from!r}; allowed: the label of an earlier run, "
                                 f"one of {labels[:index]}")
        specs = HParams.specs()
        for name in self.hidden:
            if name not in specs:
                raise HParamsError(name, "hidden", "a field of HParams: " + ", ".join(specs))
        self.configs()  # every run's settings must be valid: fail at import, not in class

    def configs(self) -> list[HParams]:
        """The settings of each run, in order: the base with the run's overrides."""
        return [run.config(self.base) for run in self.runs]

    @property
    def labels(self) -> list[str]:
        return [run.label for run in self.runs]

    @property
    def shown(self) -> tuple[str, ...]:
        """The HParams fields a classroom sees: every field that is not hidden."""
        return tuple(name for name in HParams.specs() if name not in self.hidden)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able description (for the CLI and for a browser)."""
        return {"name": self.name, "title": self.title, "explanation": self.explanation,
                "watch": self.watch, "base": self.base.to_dict(),
                "runs": [{"label": run.label, "overrides": dict(run.overrides),
                          "start_from": run.start_from} for run in self.runs],
                "hidden": list(self.hidden), "figure": self.figure}


def hide_all_but(*shown: str) -> tuple[str, ...]:
    """The hidden fields of a lesson that shows only `shown` (and the seed, to re-roll)."""
    keep = set(shown) | {"seed"}
    unknown = keep - set(HParams.specs())
    if unknown:
        name = sorted(unknown)[0]
        raise HParamsError(name, "shown", "a field of HParams: " + ", ".join(HParams.specs()))
    return tuple(name for name in HParams.specs() if name not in keep)
