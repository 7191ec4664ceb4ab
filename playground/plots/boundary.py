"""Decision boundary of a 2-D data set: the model's output over the plane, with the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bokeh.core.properties import value
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LegendItem, LinearColorMapper
from bokeh.palettes import RdBu11

from playground.plots._base import SnapshotPlot, fit_legend, new_figure, new_legend
from playground.plots.snapshots import boundary_info, point_columns

# ColorBrewer RdBu is diverging and colour-blind safe; its two darkest ends are dropped so
# the outlined data points stay visible on top.
BOUNDARY_PALETTE: tuple[str, ...] = tuple(RdBu11[1:-1])
IMAGE_KEYS = ("image", "x", "y", "dw", "dh")
POINT_KEYS = ("x", "y", "value", "label")


class BoundaryPlot(SnapshotPlot):
    """The latest boundary image of the shown run, coloured from 0 to 1 (or over the range of
    a regression surface), under the train (circles) and validation (triangles) points."""

    name = "boundary"

    def __init__(self, height: int = 420) -> None:
        super().__init__()
        self.figure = new_figure(self.name, "Decision boundary", "x₁", "x₂", height=height,
                                 match_aspect=True)
        self.figure.x_range.range_padding = self.figure.y_range.range_padding = 0.02
        self.figure.grid.visible = False
        self.layout = self.figure
        self.mapper = LinearColorMapper(palette=BOUNDARY_PALETTE, low=0.0, high=1.0)
        self.image_source = ColumnDataSource({key: [] for key in IMAGE_KEYS})
        self._image = self.figure.image(image="image", x="x", y="y", dw="dw", dh="dh",
                                        source=self.image_source, color_mapper=self.mapper,
                                        global_alpha=0.85)
        self.train_source = ColumnDataSource({key: [] for key in POINT_KEYS})
        self.val_source = ColumnDataSource({key: [] for key in POINT_KEYS})
        fill = {"field": "value", "transform": self.mapper}
        # Small, see-through points: a thousand of them must not hide the boundary beneath.
        train = self.figure.scatter("x", "y", source=self.train_source, marker="circle",
                                    size=6, fill_color=fill, fill_alpha=0.7, line_color="black",
                                    line_width=0.5, line_alpha=0.6)
        val = self.figure.scatter("x", "y", source=self.val_source, marker="triangle",
                                  size=7, fill_color=fill, fill_alpha=0.7, line_color="white",
                                  line_width=1)
        legend = new_legend(self.figure, click_policy="hide")
        legend.items = [LegendItem(label=value("train"), renderers=[train]),
                        LegendItem(label=value("validation"), renderers=[val])]
        fit_legend(legend, ["train", "validation"])
        legend.visible = True
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, major_label_text_font_size="13pt",
                                        width=16), "right")
        self.figure.add_tools(HoverTool(renderers=[train, val],
                                        tooltips=[("label", "@label"), ("x", "($x, $y)")]))

    def set_points(self, x_train: Sequence[Sequence[float]], y_train: Sequence[float],
                   x_val: Sequence[Sequence[float]], y_val: Sequence[float],
                   n_classes: int | None = None) -> None:
        """Show the data set: features as N x 2 lists, labels as N numbers (class indices, or
        values for regression). Call once per data set; the points do not stream."""
        self.train_source.data = point_columns(x_train, y_train, n_classes)
        self.val_source.data = point_columns(x_val, y_val, n_classes)

    def _renderers(self) -> list[Any]:
        return [self._image]

    def _draw(self, run_id: str | None, row: Mapping[str, Any] | None) -> None:
        if row is None:
            self.image_source.data = {key: [] for key in IMAGE_KEYS}
            self.figure.title.text = "Decision boundary"
            return
        info = boundary_info(row)
        if (self.mapper.low, self.mapper.high) != (info.low, info.high):
            self.mapper.update(low=info.low, high=info.high)
        self.image_source.data = {"image": [info.image], "x": [info.x], "y": [info.y],
                                  "dw": [info.dw], "dh": [info.dh]}
        self.figure.title.text = f"Decision boundary at step {row.get('step', 0)}"
