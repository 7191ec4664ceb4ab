"""Sweeps: Optuna ask/tell over the engine, batched races, importance, and a Ray backend.

Never imports ipywidgets, traitlets or bokeh; Ray is imported only by the Ray backend. The
public names load their module on first use, so `playground --help` (which imports
`sweeps.commands`) loads neither optuna nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "METHODS": "_base", "METRICS": "_base", "SweepBackend": "_base", "SweepPlan": "_base",
    "SweepResult": "_base", "TrialRow": "_base",
    "PrunedRun": "_trial", "ReportToTrial": "_trial",
    "default_space": "space", "grid_from_space": "space", "parse_search": "space",
    "make_plan": "study", "run_sweep": "study",
    "PRUNERS": "samplers", "make_pruner": "samplers", "make_sampler": "samplers",
    "make_storage": "samplers",
    "Race": "race",
    "importances": "importance", "importance_from_runs": "importance",
    "study_from_runs": "importance",
    "SensitivityRow": "sensitivity", "one_at_a_time": "sensitivity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'playground.sweeps' has no attribute {name!r}")
    return getattr(importlib.import_module(f"playground.sweeps.{_EXPORTS[name]}"), name)
