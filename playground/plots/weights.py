"""Histogram of each layer's weights for one run: watch them spread, collapse or die."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bokeh.core.properties import field
from bokeh.models import ColumnDataSource, HoverTool, LegendItem

from playground.plots._base import FRAME_HEIGHT, SnapshotPlot, fit_legend, new_figure, new_legend
from playground.plots.snapshots import HIST_KEYS, histogram_columns


class WeightHistogram(SnapshotPlot):
    """Overlaid per-layer histograms (bars coloured by layer) of the shown run's latest
    snapshot. Heights are shares of the layer's weights, so big and small layers compare."""

    name = "weights"

    def __init__(self, frame_height: int = FRAME_HEIGHT) -> None:
        super().__init__()
        self.figure = new_figure(self.name, "Weights", "weight value", "share of weights",
                                 frame_height=frame_height)
        self.layout = self.figure
        self.source = ColumnDataSource({key: [] for key in HIST_KEYS})
        self._quads = self.figure.quad(left="left", right="right", top="top", bottom="bottom",
                                       source=self.source, fill_color="color",
                                       line_color="color", fill_alpha=0.45, line_alpha=0.9)
        # One legend entry per distinct layer, grouped in the browser from the column.
        self._legend = new_legend(self.figure)
        self._legend.items = [LegendItem(label=field("layer"), renderers=[self._quads])]
        self.figure.add_tools(HoverTool(renderers=[self._quads], tooltips=[
            ("layer", "@layer"), ("from", "@left{%.3g}"), ("to", "@right{%.3g}"),
            ("weights", "@count{0}")], formatters={"@left": "printf", "@right": "printf"}))

    def _renderers(self) -> list[Any]:
        return [self._quads]

    def _draw(self, run_id: str | None, row: Mapping[str, Any] | None) -> None:
        if row is None:
            self.source.data = {key: [] for key in HIST_KEYS}
            self.figure.title.text = "Weights"
            self._legend.visible = False
            return
        self.source.data = histogram_columns(row.get("layers", {}))
        fit_legend(self._legend, [str(layer) for layer in row.get("layers", {})])
        self._legend.visible = True
        self.figure.title.text = f"Weights at step {row.get('step', 0)}"
