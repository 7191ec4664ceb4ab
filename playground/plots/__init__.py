"""Bokeh figures of the playground, fed plain row dicts; no torch, no engine.

Pure data builders (`series`, `snapshots`) compute what to draw and are tested without a
browser; the figure classes render it and only ever grow curves with `stream`. `Plots` holds
them all and `Pump` feeds it from the training side about ten times a second.
"""

from playground.plots._base import DEFAULT_MAX_POINTS
from playground.plots.boundary import BoundaryPlot
from playground.plots.curves import AccuracyPlot, CurvePlot, LossPlot, LrPlot
from playground.plots.dashboard import BATCH_KEYS, Plots
from playground.plots.gradnorms import GradNormPlot
from playground.plots.pump import Pump
from playground.plots.samples import SamplesGrid
from playground.plots.series import (
    PALETTE,
    ColorCycle,
    Marker,
    change_markers,
    color_at,
    curve_columns,
    decimate,
    decimate_columns,
    differences,
    layer_norm_columns,
    legend_labels,
    lr_columns,
    run_colors,
    run_label,
    short_id,
)
from playground.plots.snapshots import (
    BoundaryInfo,
    SamplesInfo,
    boundary_info,
    histogram_columns,
    point_columns,
    samples_info,
    to_rgba,
)
from playground.plots.weights import WeightHistogram

__all__ = [
    "BATCH_KEYS",
    "DEFAULT_MAX_POINTS",
    "PALETTE",
    "AccuracyPlot",
    "BoundaryInfo",
    "BoundaryPlot",
    "ColorCycle",
    "CurvePlot",
    "GradNormPlot",
    "LossPlot",
    "LrPlot",
    "Marker",
    "Plots",
    "Pump",
    "SamplesGrid",
    "SamplesInfo",
    "WeightHistogram",
    "boundary_info",
    "change_markers",
    "color_at",
    "curve_columns",
    "decimate",
    "decimate_columns",
    "differences",
    "histogram_columns",
    "layer_norm_columns",
    "legend_labels",
    "lr_columns",
    "point_columns",
    "run_colors",
    "run_label",
    "samples_info",
    "short_id",
    "to_rgba",
]
