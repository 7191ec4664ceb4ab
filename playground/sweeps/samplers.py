"""Optuna samplers, pruners and storages, built by name for the sweep backends.

Storage: None keeps the study in memory; a file path is an Optuna JournalStorage, which
several worker processes on one machine may share and which lets an interrupted sweep
resume; a URL (postgresql://..., mysql://...) is an RDB for several machines.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from playground.config import HParams, HParamsError
from playground.sweeps._base import METHODS
from playground.sweeps._trial import QUARTERS
from playground.sweeps.space import GRID_POINTS, Space, grid_from_space

PRUNERS = ("median", "hyperband")


class GridSweepSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler for ask/tell: it stops nothing itself (GridSampler calls
    study.stop(), which only works inside study.optimize); the sweep loop asks
    `is_exhausted` instead."""

    def after_trial(self, study: optuna.Study, trial: Any, state: Any, values: Any) -> None:
        pass


def make_sampler(method: str, space: Space, *, seed: int | None = None,
                 trials: int | None = None, grid_points: int = GRID_POINTS,
                 ) -> optuna.samplers.BaseSampler:
    """The sampler of a method: grid, random, tpe (Tree-structured Parzen) or gp (Gaussian
    process). TPE samples at random for its first trials: a third of the sweep, 3 to 10."""
    if method == "grid":
        return GridSweepSampler(grid_from_space(space, grid_points), seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        startup = 10 if trials is None else max(3, min(10, trials // 3))
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise HParamsError("method", method, "one of " + ", ".join(METHODS))


def make_pruner(pruner: str | optuna.pruners.BasePruner | None, base: HParams,
                searched: Iterable[str] = ()) -> optuna.pruners.BasePruner:
    """None never prunes; median and Hyperband wait for the first epoch. Steps are quarter
    epochs (see ReportToTrial)."""
    if pruner is None or pruner == "none":
        return optuna.pruners.NopPruner()
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=QUARTERS)
    if pruner == "hyperband":
        most = "auto" if "epochs" in searched else QUARTERS * base.epochs
        return optuna.pruners.HyperbandPruner(min_resource=QUARTERS, max_resource=most,
                                              reduction_factor=3)
    raise HParamsError("pruner", pruner, "none or one of " + ", ".join(PRUNERS))


STORAGE_ALLOWED = ("an Optuna journal file, or a database URL (sqlite:///FILE, "
                   "postgresql://..., mysql://...)")


def make_storage(storage: str | Path | None) -> Any:
    """None: in memory; a URL: an RDB, passed through; anything else: a journal file.
    A URL whose database SQLAlchemy does not know, a folder, a device (/dev/zero would be
    read for ever) or a file that is not a journal is refused here, by name."""
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(text).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError, ImportError):
            raise HParamsError("storage", text[:80], STORAGE_ALLOWED) from None
        return text
    path = Path(text).expanduser()
    why = _not_a_journal(path)
    if why:
        raise HParamsError("storage", text[:80], f"{STORAGE_ALLOWED}; {why}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HParamsError("storage", text[:80], f"{STORAGE_ALLOWED}; cannot make its folder "
                           f"({error.strerror})") from None
    return JournalStorage(JournalFileBackend(str(path)))


def _not_a_journal(path: Path) -> str | None:
    """Why `path` cannot be a journal file, or None: a new file, or one whose first line is
    a JSON object (each line of a journal is one)."""
    try:
        if not path.exists():
            return None
        if path.is_dir():
            return "this is a folder"
        if not path.is_file():
            return "this is not a regular file"
        with open(path, "rb") as file:
            start = file.read(1)
    except OSError as error:
        return f"cannot read it ({error.strerror})"
    if start not in (b"", b"{"):
        return "this file is not an Optuna journal"
    return None
