"""Where runs and downloaded data live: PLAYGROUND_HOME, else a per-user data directory."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


def home() -> Path:
    """The playground's home folder, created on first use."""
    path = Path(os.environ.get("PLAYGROUND_HOME") or user_data_dir("playground", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_dir() -> Path:
    """Where `playground data download` writes data sets."""
    path = home() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dataset_roots() -> list[Path]:
    """Folders searched for data set files, first match wins: the home's, then the repo's."""
    return [datasets_dir(), REPO_DATASETS]
