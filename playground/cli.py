"""The `playground` command: serve, train, runs, data, lessons, sweep, race, importance.

Every HParams field is a flag, generated from its metadata. Bad input exits with code 2 and
one line naming the field, the value and what is allowed; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from playground import exports
from playground.arguments import (
    USAGE_ERROR,
    Parser,
    UsageError,
    add_hparam_flags,
    finite,
    hparams_from_args,
)
from playground.config import HParams, HParamsError, scored_by_r2
from playground.engine.events import Callback
from playground.lessons.commands import add_commands as add_lesson_commands
from playground.paths import HomeError
from playground.serve import serve
from playground.status import Status
from playground.store import RunNotFound, RunStore
from playground.sweeps.commands import add_commands as add_sweep_commands
from playground.tabular import read_csv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "handler"):
            parser.print_help()
            return USAGE_ERROR
        return args.handler(args) or 0
    except (UsageError, HParamsError) as error:
        print(f"playground: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (RunNotFound, ValueError, HomeError) as error:
        print(f"playground: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def build_parser() -> Parser:
    parser = Parser(prog="playground", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(metavar="command", parser_class=Parser)

    serve = commands.add_parser("serve", help="serve the app as a web page (Voila)")
    serve.add_argument("--port", type=int, default=8866, help="port (default 8866)")
    serve.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1, "
                       "this machine only; 0.0.0.0 serves a workshop network)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    serve.add_argument("--token", help="require ?token=TOKEN in the URL (set one when serving "
                       "on a network), or set PLAYGROUND_TOKEN, which keeps it out of `ps`")
    serve.add_argument("--threads", type=int, help="torch threads per browser tab (default: "
                       "half the cores, at least 1)")
    serve.add_argument("--cull-after", type=int, default=600, metavar="SECONDS",
                       help="shut down a tab's kernel after this long idle (default 600)")
    serve.add_argument("--max-sessions", type=int, default=0, metavar="N",
                       help="most browser tabs (kernels) at once; 0 for no cap (default)")
    serve.add_argument("--closed-tab-grace", type=int, default=30, metavar="SECONDS",
                       help="shut down a tab's kernel, even mid-run, this long after the tab "
                       "closed or lost its connection (default 30; 0: only when idle)")
    serve.add_argument("--preheat", type=int, default=0, metavar="N",
                       help="keep N kernels started with torch imported, so a new tab is usable "
                       "sooner (default 0: off; each holds an idle tab's memory)")
    serve.set_defaults(handler=cmd_serve)

    train = commands.add_parser("train", help="train one model headlessly and save the run")
    add_hparam_flags(train)
    train.add_argument("--config", metavar="FILE", help="start from a saved config (JSON)")
    train.add_argument("--data-file", metavar="CSV", help="train on your own CSV file (a header "
                       "row, numeric features); sets --dataset custom")
    train.add_argument("--target", help="the CSV column to predict (default: the last)")
    train.add_argument("--features", help="comma-separated CSV columns to learn from "
                       "(default: all but the target)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    train.add_argument("--name", help="a name for the run")
    train.add_argument("--json", action="store_true", help="print one JSON summary, nothing else "
                       "(train_accuracy, val_accuracy: R² for regression)")
    train.set_defaults(handler=cmd_train)

    runs = commands.add_parser("runs", help="list, show, export or delete saved runs")
    runs_commands = runs.add_subparsers(metavar="action", parser_class=Parser, required=True)
    listing = runs_commands.add_parser("list", help="the saved runs, newest first")
    listing.add_argument("--limit", type=limit, default=50,
                         help=f"how many, newest first (1 to {MAX_LIMIT:,}; default 50)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_runs_list)
    show = runs_commands.add_parser("show", help="one run: config, summary, events")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_runs_show)
    export = runs_commands.add_parser("export", help="write a run as a file: its curves, its "
                                      "settings, its weights or a PyTorch script")
    export.add_argument("run_id")
    export.add_argument("--format", default="csv", help="csv (the curves), json (the whole "
                        "run), config (for train --config), weights (torch.save of state_dict "
                        "and config) or script (plain PyTorch that trains it again); default csv")
    export.add_argument("--out", metavar="PATH", help="where to write (default: the store's "
                        "exports folder)")
    export.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    export.set_defaults(handler=cmd_runs_export)
    delete = runs_commands.add_parser("delete", help="delete a run and its curves")
    delete.add_argument("run_id")
    delete.set_defaults(handler=cmd_runs_delete)

    data = commands.add_parser("data", help="list data sets, download the image sets")
    data_commands = data.add_subparsers(metavar="action", parser_class=Parser, required=True)
    data_list = data_commands.add_parser("list", help="the data sets")
    data_list.set_defaults(handler=cmd_data, action="list")
    download = data_commands.add_parser("download", help="download mnist, fashion_mnist or "
                                        "cifar10 (needs the internet)")
    download.add_argument("name")
    download.set_defaults(handler=cmd_data, action="download")

    # Commands that live with their feature: each module adds its own parsers here.
    add_lesson_commands(commands)
    add_sweep_commands(commands)
    return parser


# --- serve ---------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    return serve(port=args.port, ip=args.ip, open_browser=not args.no_browser, token=args.token,
                 threads=args.threads, cull_after=args.cull_after,
                 max_sessions=args.max_sessions, closed_tab_grace=args.closed_tab_grace,
                 preheat=args.preheat)


# --- train ---------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    table = None
    if args.data_file:
        features = args.features.split(",") if args.features else None
        table = read_csv(args.data_file, target=args.target, features=features,
                         name=Path(args.data_file).name)
        args.dataset = "custom"
    hp = hparams_from_args(args)
    # torch loads only once the input is valid
    from playground import data
    from playground.engine.runner import Runner

    if table is not None:
        data.use_table(table)

    class Progress(Callback):
        def on_points(self, trainer, rows):
            for row in rows:
                if row["split"] == "val" and trainer.at_epoch_end and row["step"]:
                    score = "R²" if trainer.data.task == "regression" else "acc"
                    accuracy = ("" if row["accuracy"] is None
                                else f"  val {score} {row['accuracy']:.3f}")
                    print(f"epoch {trainer.epoch:>4}/{trainer.hp.epochs}  step {row['step']:>6}  "
                          f"val loss {row['loss']:.4f}{accuracy}", file=sys.stderr)

    runner = Runner(hp, device=args.device, source="cli",
                    callbacks=[] if args.json else [Progress()])
    run_id = runner.start()
    if args.name:
        runner.store.rename(run_id, args.name)
    try:
        while runner.active:
            runner.wait(0.5)
    except KeyboardInterrupt:
        runner.stop()
    info = runner.store.get(run_id)
    summary = {"run_id": info.id, "config": info.config, "status": info.status,
               "steps": info.steps, "seconds": round(info.seconds, 3), "device": info.device,
               **{key: info.summary.get(key) for key in
                  ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
               "error": info.error}
    if args.json:
        print(json.dumps(finite(summary)))
    else:
        print_summary(summary, r2=scored_by_r2(info.config, info.summary))
    if info.status == Status.FAILED:
        print(f"playground: run failed: {info.error}", file=sys.stderr)
        return 1
    return 0


def print_summary(summary: dict[str, Any], r2: bool = False) -> None:
    """The summary as text; `r2`: a regression run, whose accuracy keys hold R²."""
    print(f"run {summary['run_id']}: {summary['status']} after {summary['steps']} steps "
          f"in {summary['seconds']:.1f} s on {summary['device']}")
    score = "R²" if r2 else "accuracy"
    for split in ("train", "val"):
        loss, accuracy = summary[f"{split}_loss"], summary[f"{split}_accuracy"]
        if loss is not None:
            text = f"  {split:<5} loss {loss:.4f}"
            print(text + (f"  {score} {accuracy:.4f}" if accuracy is not None else ""))
    if summary["error"]:
        print(f"  {summary['error']}")


# --- runs ----------------------------------------------------------------------------------
def cmd_runs_list(args: argparse.Namespace) -> int:
    runs = RunStore().list_runs(limit=args.limit)
    if args.json:
        print(json.dumps(finite([run_as_dict(run) for run in runs])))
        return 0
    if not runs:
        print("no runs yet: `playground train` makes one")
        return 0
    print(f"{'id':<20} {'status':<11} {'dataset':<13} {'steps':>7} {'val loss':>9} "
          f"{'acc/R²':>8}  {'created':<16} name")
    for run in runs:
        val_loss, val_accuracy = run.summary.get("val_loss"), run.summary.get("val_accuracy")
        print(f"{run.id:<20} {run.status:<11} {run.config.get('dataset', '?'):<13} "
              f"{run.steps:>7} {number(val_loss, 9)} {number(val_accuracy, 8)}  "
              f"{datetime.fromtimestamp(run.created):%Y-%m-%d %H:%M}  {printable(run.name)}")
    return 0


MAX_LIMIT = 1_000_000


def limit(text: str) -> int:
    """--limit: a whole number of runs to list, 1 to MAX_LIMIT."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise UsageError(f"limit: {text[:80]!r} is not allowed; allowed: a whole number from 1 "
                         f"to {MAX_LIMIT:,}")
    return value


def printable(text: str) -> str:
    """A run's name or message as the terminal should show it: control characters (escape
    sequences that could recolour or clear the screen) as \\x1b and the like."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def number(value: float | None, width: int) -> str:
    return f"{value:>{width}.4f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"


def run_as_dict(run: Any) -> dict[str, Any]:
    return asdict(run)


def cmd_runs_show(args: argparse.Namespace) -> int:
    store = RunStore()
    run = store.get(args.run_id)
    events = store.events(run.id)
    if args.json:
        print(json.dumps(finite({**run_as_dict(run), "events": events})))
        return 0
    print(f"run {run.id}  {printable(run.name)}\n  status   {run.status}"
          + (f" ({printable(run.error)})" if run.error else ""))
    print(f"  source   {run.source}" + (f" (after {run.parent})" if run.parent else ""))
    print(f"  device   {run.device}\n  steps    {run.steps} in {run.seconds:.1f} s")
    print(f"  created  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run.created))}")
    r2 = scored_by_r2(run.config, run.summary)
    for key, value in run.summary.items():
        # the accuracy keys of a regression run hold R²: say so beside the number
        named = f"{key} (R²)" if r2 and key.endswith("_accuracy") else key
        print(f"  {named:<20} {value:.4f}" if isinstance(value, float)
              else f"  {named:<20} {value}")
    changed = HParams.from_dict(run.config).to_query() if run.config else ""
    print("  config   " + (changed.replace("&", " ") or "defaults"))
    for event in events:
        print(f"  step {event['step']:>6}  {event['kind']:<7} {printable(event['message'])}")
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    path = exports.write(RunStore(), args.run_id, args.format, args.out, force=args.force)
    print(path)
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = RunStore()
    run = store.get(args.run_id)
    store.delete(run.id)
    print(f"deleted run {run.id}")
    return 0


# --- data ----------------------------------------------------------------------------------
def cmd_data(args: argparse.Namespace) -> int:
    from playground import data  # loads torch: only when a data command runs

    if args.action == "download":
        print(data.download(args.name))
        return 0
    for info in data.DATASETS.values():
        note = f" (download: playground data download {info.name})" if info.downloadable else ""
        print(f"{info.name:<14} {info.kind:<8} {info.task:<15} {info.description}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
