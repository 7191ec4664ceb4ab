"""A grid of sample images with the model's guess and the truth above each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bokeh.models import ColumnDataSource

from playground.plots._base import SnapshotPlot, new_figure
from playground.plots.snapshots import samples_info

IMAGE_KEYS = ("image", "x", "y", "dw", "dh")
CAPTION_KEYS = ("x", "y", "text", "color", "correct")
FRAME_KEYS = ("left", "right", "bottom", "top")


class SamplesGrid(SnapshotPlot):
    """The shown run's latest samples: captions "✓ pred / true" in green, "✗ pred / true" in
    vermillion (Okabe-Ito, so they differ without red-green vision)."""

    name = "samples"

    def __init__(self, height: int = 360, columns: int = 8) -> None:
        super().__init__()
        self.columns = columns
        self.figure = new_figure(self.name, "Samples (predicted / true)", "", "",
                                 height=height, tools="save", match_aspect=True)
        self.figure.axis.visible = False
        self.figure.grid.visible = False
        self.figure.x_range.range_padding = self.figure.y_range.range_padding = 0.03
        self.layout = self.figure
        self.image_source = ColumnDataSource({key: [] for key in IMAGE_KEYS})
        self.caption_source = ColumnDataSource({key: [] for key in CAPTION_KEYS})
        # An invisible frame around the grid: the auto ranges ignore the captions' height.
        self.frame_source = ColumnDataSource({key: [] for key in FRAME_KEYS})
        self.figure.quad(left="left", right="right", bottom="bottom", top="top",
                         source=self.frame_source, fill_alpha=0, line_alpha=0)
        self._images = self.figure.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh",
                                              source=self.image_source)
        self._captions = self.figure.text(x="x", y="y", text="text", source=self.caption_source,
                                          text_color="color", text_align="center",
                                          text_baseline="bottom", text_font_size="13pt",
                                          text_font_style="bold")

    def _renderers(self) -> list[Any]:
        return [self._images, self._captions]

    def _draw(self, run_id: str | None, row: Mapping[str, Any] | None) -> None:
        if row is None:
            self.image_source.data = {key: [] for key in IMAGE_KEYS}
            self.caption_source.data = {key: [] for key in CAPTION_KEYS}
            self.frame_source.data = {key: [] for key in FRAME_KEYS}
            self.figure.title.text = "Samples (predicted / true)"
            return
        info = samples_info(row, self.columns)
        self.image_source.data = info.images
        self.caption_source.data = info.captions
        self.frame_source.data = {"left": [0.0], "right": [info.width], "bottom": [0.0],
                                  "top": [info.height]}
        self.figure.title.text = f"Samples at step {row.get('step', 0)} (predicted / true)"
