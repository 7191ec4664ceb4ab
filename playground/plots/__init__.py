"""Bokeh figures of the playground, fed plain row dicts; no torch, no engine.

Pure data builders (`series`, `snapshots`) compute what to draw and are tested without a
browser; the figure classes render it and only ever grow curves with `stream`. `Plots` holds
them all and `Pump` feeds it from the training side about ten times a second. Names load
their module on first use, so importing the pure builders does not load Bokeh.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_MAX_POINTS": "_base",
    "BoundaryPlot": "boundary",
    "AccuracyPlot": "curves",
    "CurvePlot": "curves",
    "LossPlot": "curves",
    "LrPlot": "curves",
    "BATCH_KEYS": "dashboard",
    "FIGURES": "dashboard",
    "Figure": "dashboard",
    "Plots": "dashboard",
    "GradNormPlot": "gradnorms",
    "Pump": "pump",
    "SamplesGrid": "samples",
    "PALETTE": "series",
    "ColorCycle": "series",
    "Marker": "series",
    "change_markers": "series",
    "color_at": "series",
    "curve_columns": "series",
    "decimate": "series",
    "decimate_columns": "series",
    "differences": "series",
    "layer_norm_columns": "series",
    "lr_columns": "series",
    "run_label": "series",
    "short_id": "series",
    "BoundaryInfo": "snapshots",
    "SamplesInfo": "snapshots",
    "boundary_info": "snapshots",
    "histogram_columns": "snapshots",
    "point_columns": "snapshots",
    "samples_info": "snapshots",
    "to_rgba": "snapshots",
    "WeightHistogram": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'playground.plots' has no attribute {name!r}")
    return getattr(importlib.import_module(f"playground.plots.{_EXPORTS[name]}"), name)
