"""The "find learning rate" panel: a range test on a button, its curve, and "use it".

The test trains, so it runs in a daemon thread and torch is imported there, never when this
module loads (ui/ stays free of torch). The curve is a Bokeh figure named "lr_range" with a
log rate axis, so a browser test can find it.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from bokeh.models import ColumnDataSource, Span
from bokeh.plotting import figure

from playground.config import HParams
from playground.plots._base import new_figure
from playground.plots.widget import FiguresWidget
from playground.ui.theme import BLUE, ROOT_CLASS, VERMILLION, error_html


class LrRangePanel:
    """A button that runs the learning-rate range test on the current settings, a plot of
    loss against rate, the suggested rate, and a button that applies it."""

    def __init__(self, get_hparams: Callable[[], HParams], apply_lr: Callable[[float], Any],
                 device: str | None = None):
        self._get_hparams, self._apply_lr = get_hparams, apply_lr
        self._device = device or "cpu"  # a tiny model: the CPU answers in about a second
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.suggestion: float | None = None
        self.find = widgets.Button(description="find learning rate", icon="search",
                                   tooltip="Sweep the rate over one short run (the model is "
                                   "put back afterwards) and suggest a value")
        self.find.on_click(lambda _: self.start())
        self.use = widgets.Button(description="use it", icon="check", disabled=True,
                                  tooltip="Set the learning rate to the suggestion")
        self.use.on_click(lambda _: self.apply())
        self.message = widgets.HTML("")
        self.source = ColumnDataSource({"lr": [], "loss": []})
        self.marker = Span(location=1.0, dimension="height", line_color=VERMILLION,
                           line_dash="dashed", line_width=2, visible=False)
        self.figure = _figure(self.source, self.marker)
        self.widget = widgets.VBox([widgets.HBox([self.find, self.use, self.message]),
                                    FiguresWidget(self.figure)])
        self.widget.add_class(ROOT_CLASS)

    def start(self) -> threading.Thread | None:
        """Run the test in the background; a second press while it runs does nothing."""
        with self._lock:
            if self.thread is not None and self.thread.is_alive():
                return None
            try:
                hp = self._get_hparams()
            except Exception as error:  # settings that cannot be read: say why, keep going
                self.message.value = error_html(str(error))
                return None
            self.find.disabled, self.use.disabled = True, True
            self.message.value = "sweeping the learning rate&hellip;"
            self.thread = threading.Thread(target=self._run, args=(hp,), daemon=True,
                                           name="playground-lr-range")
            self.thread.start()
            return self.thread

    def apply(self) -> None:
        if self.suggestion is None:
            return
        try:
            self._apply_lr(self.suggestion)
        except Exception as error:
            self.message.value = error_html(str(error))

    def _run(self, hp: HParams) -> None:
        try:
            from playground.engine.lr_range import find_lr  # torch loads here, off the UI

            result = find_lr(hp, device=self._device)
        except Exception as error:  # noqa: BLE001 - shown in the panel; the app goes on
            self.message.value = error_html(f"learning-rate test failed: {error}")
            self.find.disabled = False
            return
        self.show(result.lrs, result.losses, result.suggestion, result.rule)

    def show(self, lrs: Any, losses: Any, suggestion: float, rule: str) -> None:
        """Draw a result (from the thread, or from a test)."""
        self.source.data = {"lr": list(lrs), "loss": list(losses)}
        self.marker.location, self.marker.visible = suggestion, True
        self.suggestion = suggestion
        self.message.value = (f"suggested learning rate <b>{suggestion:.3g}</b> "
                              f"({html.escape(rule)})")
        self.find.disabled, self.use.disabled = False, False


def _figure(source: ColumnDataSource, marker: Span) -> figure:
    fig = new_figure("lr_range", "loss against learning rate", "learning rate",
                     "loss (smoothed)", height=260, x_axis_type="log")
    fig.line("lr", "loss", source=source, line_width=3, color=BLUE)
    fig.add_layout(marker)
    return fig
