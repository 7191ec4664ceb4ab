"""`playground lessons`: list the lessons, or run one headlessly and print how its runs went.

Added to the CLI by `add_commands`; torch is imported only once a lesson is really run, so
`playground --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from playground.arguments import finite
from playground.lessons import LESSONS, LessonOutcome, get_lesson, run_lesson


def add_commands(commands: Any) -> None:
    """Add `lessons` (and `lessons list`, `lessons run NAME`) to the CLI's subparsers."""
    lessons = commands.add_parser("lessons", help="list the lessons, or run one headlessly")
    lessons.add_argument("--json", action="store_true", help="print the list as JSON")
    lessons.set_defaults(handler=cmd_list)
    actions = lessons.add_subparsers(metavar="action", parser_class=type(lessons))
    listing = actions.add_parser("list", help="the lessons: name and title (the default)")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(handler=cmd_list)
    run = actions.add_parser("run", help="train every run of one lesson and print the outcomes")
    run.add_argument("name", help="the lesson, one of " + ", ".join(LESSONS))
    run.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    run.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps (default cpu: "
                     "the lessons' networks are small enough that the CPU is quickest)")
    run.set_defaults(handler=cmd_run)


def cmd_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([lesson.to_dict() for lesson in LESSONS.values()]))
        return 0
    width = max(len(name) for name in LESSONS)
    for name, lesson in LESSONS.items():
        print(f"{name:<{width}}  {lesson.title}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    lesson = get_lesson(args.name)  # a bad name ends here, before torch is imported
    progress = None if args.json else _progress(len(lesson.runs))
    outcomes = run_lesson(lesson.name, device=args.device, on_outcome=progress)
    if args.json:
        print(json.dumps(finite({"lesson": lesson.name, "title": lesson.title,
                                 "runs": [outcome.to_dict() for outcome in outcomes]})))
        return 0
    print(f"{lesson.title}\n")
    print(f"{'run':<20} {'status':<9} {'steps':>6} {'train loss':>10} {'val loss':>9} "
          f"{'acc/R²':>8}  label")
    for outcome in outcomes:
        print(f"{outcome.run_id:<20} {outcome.status:<9} {outcome.steps:>6} "
              f"{_number(outcome.train_loss, 10)} {_number(outcome.val_loss, 9)} "
              f"{_number(outcome.val_accuracy, 8)}  {outcome.label}")
    return 0


def _progress(total: int) -> Any:
    done = []

    def report(outcome: LessonOutcome) -> None:
        done.append(outcome)
        print(f"[{len(done)}/{total}] {outcome.label}: {outcome.status} after {outcome.steps} "
              f"steps", file=sys.stderr)

    return report


def _number(value: float | None, width: int) -> str:
    return f"{value:>{width}.4f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"
