"""Where runs and downloaded data live: PLAYGROUND_HOME, else a per-user data directory."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


class HomeError(RuntimeError):
    """The home folder cannot be used; the message names it and what is allowed."""


def home() -> Path:
    """The playground's home folder, created on first use."""
    path = Path(os.environ.get("PLAYGROUND_HOME") or user_data_dir("playground", appauthor=False))
    return make_folder(path, "PLAYGROUND_HOME")


def make_folder(path: Path, role: str) -> Path:
    """`path` made if missing, or HomeError naming `role` and the path (cut to 80
    characters): a file in the way, a folder this user may not make."""
    shown = str(path) if len(str(path)) <= 80 else "..." + str(path)[-77:]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise HomeError(f"{role}: {shown} is a file; allowed: a folder for the runs (set "
                        "PLAYGROUND_HOME to one)") from None
    except OSError as error:
        raise HomeError(f"{role}: cannot make {shown} ({error.strerror}); allowed: a folder "
                        "you can write (set PLAYGROUND_HOME)") from None
    return path


def datasets_dir() -> Path:
    """Where `playground data download` writes data sets."""
    path = home() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dataset_roots() -> list[Path]:
    """Folders searched for data set files, first match wins: the home's, then the repo's."""
    return [datasets_dir(), REPO_DATASETS]
