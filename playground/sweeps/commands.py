"""The `sweep`, `race` and `importance` commands of the `playground` CLI.

Nothing heavy at import time: optuna, torch and ray load once a handler runs and the input
is known to be good (the sweep modules import optuna where they use it; a race imports
torch), so `playground --help` stays quick.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from playground import paths
from playground.arguments import UsageError, add_hparam_flags, finite, hparams_from_args
from playground.config import DEFAULT_SEARCH, RACE_FIELDS, HParams, HParamsError
from playground.store import RunStore
from playground.sweeps.importance import EVALUATORS, importances, study_from_runs
from playground.sweeps.space import parse_search
from playground.sweeps.study import make_plan, run_sweep

JOURNAL = "sweeps.journal"  # the default storage, in PLAYGROUND_HOME: any sweep can resume


def add_commands(commands: Any) -> None:
    """Add `sweep`, `race` and `importance` to the CLI's subparsers."""
    sweep = commands.add_parser("sweep", help="search hyperparameters (grid, random, TPE, GP)")
    add_hparam_flags(sweep)
    sweep.add_argument("--config", metavar="FILE", help="the base config (JSON) to search from")
    sweep.add_argument("--search", default=",".join(DEFAULT_SEARCH), metavar="FIELDS",
                       help='fields to search, with optional ranges: "lr,dropout" or '
                       '"lr=1e-4:1,optimizer=sgd/adam" (default %(default)s; ranges default '
                       "to each field's full range)")
    sweep.add_argument("--method", default="tpe", help="grid, random, tpe or gp (default tpe)")
    sweep.add_argument("--trials", type=int, help="trials to finish (default 20; grid: the "
                       "whole grid)")
    sweep.add_argument("--grid-points", type=int, default=5, help="values per numeric field "
                       "in a grid (default 5)")
    sweep.add_argument("--pruner", default="none", help="none, median or hyperband "
                       "(default none)")
    sweep.add_argument("--metric", default="val_loss", help="val_loss or val_accuracy "
                       "(R² for regression; default val_loss)")
    sweep.add_argument("--storage", help="an Optuna journal file or an RDB URL (default: "
                       f"{JOURNAL} in PLAYGROUND_HOME)")
    sweep.add_argument("--study", metavar="NAME", help="the study's name; an existing one "
                       "resumes, running only the trials still missing")
    sweep.add_argument("--sampler-seed", type=int, help="seed of the sampler")
    sweep.add_argument("--backend", default="local", help="local or ray (default local)")
    sweep.add_argument("--address", metavar="HOST:PORT", help="a Ray cluster to join "
                       "(default: start a local Ray)")
    sweep.add_argument("--scheduler", default="asha", help="with --backend ray: asha or pbt "
                       "(default asha)")
    sweep.add_argument("--importance", default="ped_anova", help="ped_anova or fanova "
                       "(default ped_anova)")
    sweep.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    sweep.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    sweep.set_defaults(handler=cmd_sweep)

    race = commands.add_parser("race", help="train several values of one field at once, "
                               "from the same initial weights")
    add_hparam_flags(race)
    race.add_argument("--config", metavar="FILE", help="the base config (JSON)")
    race.add_argument("--field", required=True, help="the field to race (lr, dropout, ...)")
    race.add_argument("--values", required=True, help="comma-separated values: 0.01,0.1,1")
    race.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    race.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    race.set_defaults(handler=cmd_race)

    importance = commands.add_parser("importance", help="which hyperparameters mattered, "
                                     "over saved runs (hand-made ones too)")
    importance.add_argument("--runs", default="all", help="all, or comma-separated run ids")
    importance.add_argument("--source", help="only runs of this source (manual, cli, "
                            "sweep:NAME, race, ...)")
    importance.add_argument("--metric", default="val_loss", help="val_loss or val_accuracy "
                            "(R² for regression)")
    importance.add_argument("--evaluator", default="ped_anova", help="ped_anova or fanova")
    importance.add_argument("--json", action="store_true", help="print one JSON object")
    importance.set_defaults(handler=cmd_importance)


# --- sweep ---------------------------------------------------------------------------------
def cmd_sweep(args: argparse.Namespace) -> int:
    base = hparams_from_args(args)
    options = _backend_options(args)
    try:
        import optuna
    except ImportError as error:
        raise UsageError(f"sweeps need optuna ({error}); pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.importance not in EVALUATORS:
        raise UsageError(f"importance: {args.importance!r} is not allowed; allowed: one of "
                         + ", ".join(EVALUATORS))
    fields, ranges = parse_search(args.search)
    trials = args.trials if args.trials is not None else (None if args.method == "grid" else 20)
    plan = make_plan(base, fields, ranges=ranges, method=args.method, trials=trials,
                     metric=args.metric, study_name=args.study, seed=args.sampler_seed,
                     grid_points=args.grid_points)  # checks everything before torch loads
    progress = TrialPrinter(plan.trials, plan.metric, plan.direction)
    try:  # stdout carries the summary only: Ray's own tables go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            result = run_sweep(base, space=plan.space, method=plan.method, trials=plan.trials,
                               metric=plan.metric, study_name=plan.study_name, seed=plan.seed,
                               grid_points=plan.grid_points, device=args.device,
                               progress=progress, backend=args.backend, **options)
    except ImportError as error:  # the Ray backend without ray installed
        raise UsageError(str(error)) from None
    except RuntimeError as error:  # a Ray that did not start, or a cluster out of reach
        if args.backend != "ray":
            raise
        print(f"playground: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"playground: sweep interrupted; resume it with --study {plan.study_name}"
              + (f" --storage {args.storage}" if args.storage else ""), file=sys.stderr)
        return 130
    summary = result.as_dict()
    best_config = result.best_config
    summary["best_config"] = None if best_config is None else best_config.to_dict()
    summary["counts"] = result.counts()
    summary["importance"] = (importances(result.study, args.importance)
                             if result.study is not None else {})
    summary["evaluator"] = args.importance
    summary.update(result.extra)
    if args.json:
        print(json.dumps(finite(summary), default=str))
    else:
        print_sweep(summary)
    return 0


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options of the chosen backend, each checked: a wrong one is a one-line error."""
    if args.backend == "local":
        if args.address:
            raise UsageError(f"address: {args.address!r} is not allowed; allowed: only "
                             "with --backend ray")
        storage = args.storage or str(paths.home() / JOURNAL)
        return {"storage": storage, "pruner": args.pruner}
    if args.backend == "ray":
        if args.scheduler not in ("asha", "pbt"):
            raise UsageError(f"scheduler: {args.scheduler!r} is not allowed; allowed: one of "
                             "asha, pbt")
        if args.pruner != "none":
            raise UsageError(f"pruner: {args.pruner!r} is not allowed; allowed: none with "
                             "--backend ray (its --scheduler stops trials early)")
        return {"address": args.address, "scheduler": args.scheduler}
    raise UsageError(f"backend: {args.backend!r} is not allowed; allowed: one of local, ray")


class TrialPrinter:
    """One line per finished trial on stderr: its state, value, the best so far, its params."""

    def __init__(self, total: int | None, metric: str, direction: str):
        self.total, self.metric, self.direction = total, metric, direction
        self.best: float | None = None
        self.count = 0

    def __call__(self, row: Any) -> None:
        self.count += 1
        if row.state == "COMPLETE" and row.value is not None:
            better = (self.best is None or (row.value < self.best if self.direction == "minimize"
                                            else row.value > self.best))
            self.best = row.value if better else self.best
        total = f"/{self.total}" if self.total else ""
        value = "-" if row.value is None else f"{row.value:.4f}"
        best = "-" if self.best is None else f"{self.best:.4f}"
        params = " ".join(f"{name}={_short(value)}" for name, value in row.params.items())
        note = f"  ({row.error})" if row.error else ""
        print(f"trial {row.number:>3} [{self.count}{total}] {row.state:<8} {self.metric} "
              f"{value}  best {best}  {params}{note}", file=sys.stderr, flush=True)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_sweep(summary: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {state.lower()}" for state, n in summary["counts"].items())
    print(f"study {summary['study']}: {counts}")
    best = summary["best"]
    if best is None:
        print("no trial finished")
    else:
        params = " ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        print(f"best {summary['metric']} {best['value']:.4f} (run {best['run_id']}): {params}")
    print_importance(summary["importance"])


def print_importance(values: dict[str, float]) -> None:
    if not values:
        print("importance: too few finished trials, or nothing varied")
        return
    print("importance:")
    width = max(len(name) for name in values)
    for name, value in values.items():
        print(f"  {name:<{width}} {value:6.3f} {'#' * round(40 * value)}")


# --- race ----------------------------------------------------------------------------------
def cmd_race(args: argparse.Namespace) -> int:
    base = hparams_from_args(args)
    specs = HParams.specs()
    field = args.field.replace("-", "_")
    if field not in specs:
        raise HParamsError(field, args.values, "a field of HParams: " + ", ".join(specs))
    values = [specs[field].parse(field, text) for text in args.values.split(",") if text.strip()]
    if not values:
        raise HParamsError("values", args.values, "at least one value of " + field)
    from playground.sweeps.race import check_raceable, race  # loads torch

    if field not in RACE_FIELDS:
        raise HParamsError(field, values, "a field a race can vary: " + ", ".join(RACE_FIELDS)
                           + " (sweep the others)")
    check_raceable([base.replace(**{field: value}) for value in values])
    result = race(base, field, values, device=args.device)
    members = [{"value": m.value, "run_id": m.run_id, "status": m.status, "steps": m.steps,
                **m.summary} for m in result.members]
    if args.json:
        print(json.dumps(finite({"race": result.race_id, "field": field,
                                 "members": members}), default=str))
        return 0
    print(f"race {result.race_id}: {field}")
    for m in members:
        loss, acc = m.get("val_loss"), m.get("val_accuracy")
        loss_text = "-" if loss is None else f"{loss:.4f}"
        score = "R²" if m.get("task") == "regression" else "acc"
        acc_text = "" if acc is None else f"  val {score} {acc:.4f}"
        print(f"  {field}={_short(m['value']):<10} {m['status']:<9} {m['steps']:>6} steps  "
              f"val loss {loss_text}{acc_text}  (run {m['run_id']})")
    return 0


# --- importance ----------------------------------------------------------------------------
def cmd_importance(args: argparse.Namespace) -> int:
    store = RunStore()
    if args.runs == "all":
        runs = store.list_runs(source=args.source)
    else:
        runs = [store.get(run_id.strip()) for run_id in args.runs.split(",") if run_id.strip()]
    if args.evaluator not in EVALUATORS:
        raise UsageError(f"evaluator: {args.evaluator!r} is not allowed; allowed: one of "
                         + ", ".join(EVALUATORS))
    study = study_from_runs(runs, args.metric)
    values = importances(study, args.evaluator)
    used = len(study.trials)
    if args.json:
        print(json.dumps(finite({"metric": args.metric, "evaluator": args.evaluator,
                                 "runs": used, "importance": values})))
        return 0
    print(f"{used} finished runs with a {args.metric}")
    print_importance(values)
    return 0
