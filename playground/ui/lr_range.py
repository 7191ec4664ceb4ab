"""The "find learning rate" panel: a range test on a button, its curve, and "use it".

The test trains, so it is one of the app's background jobs (playground/jobs.py): the panel
hands it `show` and `fail`, which the pump calls with the result, and owns no thread. The
curve is a Bokeh figure named "lr_range" with a log rate axis, so a browser test can find it;
it is shown from the first result on.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from bokeh.models import ColumnDataSource, Span
from bokeh.plotting import figure

from playground.plots._base import new_figure
from playground.plots.widget import FiguresWidget
from playground.ui.theme import BLUE, ROOT_CLASS, VERMILLION, error_html

Find = Callable[[Callable[[Any], None], Callable[[str], None]], None]


class LrRangePanel:
    """A button that runs the learning-rate range test on the current settings, a plot of
    loss against rate, the suggested rate, and a button that applies it.

    `find(show, fail)` starts the test (raising ValueError for what it refuses, a busy job
    say) and later calls `show(result)` (lrs, losses, suggestion, rule) or `fail(text)`."""

    def __init__(self, find: Find, apply_lr: Callable[[float], Any]):
        self._find, self._apply_lr = find, apply_lr
        self.suggestion: float | None = None
        self.find = widgets.Button(description="find learning rate", icon="search",
                                   tooltip="Sweep the rate over one short run (the model is "
                                   "put back afterwards) and suggest a value",
                                   layout=widgets.Layout(width="auto", flex="0 0 auto"))
        # (its whole name: it was cut to "find lear…" beside a long message)
        self.find.on_click(lambda _: self.start())
        self.use = widgets.Button(description="use it", icon="check", disabled=True,
                                  tooltip="Set the learning rate to the suggestion")
        self.use.on_click(lambda _: self.apply())
        self.message = widgets.HTML("")
        self.source = ColumnDataSource({"lr": [], "loss": []})
        self.marker = Span(location=1.0, dimension="height", line_color=VERMILLION,
                           line_dash="dashed", line_width=2, visible=False)
        self.figure = _figure(self.source, self.marker)
        # The figure joins the panel with the first curve: a page drew an empty one, in a tab
        # nobody had opened, while the plots that matter waited (one Bokeh document less to
        # send and draw while the page loads).
        self.plot: FiguresWidget | None = None
        self.widget = widgets.VBox([widgets.HBox([self.find, self.use, self.message])])
        self.widget.add_class(ROOT_CLASS)

    def start(self) -> bool:
        """Start the test; a refusal (settings that cannot be read, a job running) is shown."""
        try:
            self._find(self.show, self.fail)
        except Exception as error:  # noqa: BLE001 - shown in the panel; the app goes on
            self.message.value = error_html(str(error))
            return False
        self.find.disabled, self.use.disabled = True, True
        self.message.value = "sweeping the learning rate&hellip;"
        return True

    def apply(self) -> None:
        if self.suggestion is None:
            return
        try:
            self._apply_lr(self.suggestion)
        except Exception as error:  # noqa: BLE001 - shown in the panel; the app goes on
            self.message.value = error_html(str(error))

    def show(self, result: Any) -> None:
        """Draw a range test's result: its curve, the suggestion, and why."""
        self.source.data = {"lr": list(result.lrs), "loss": list(result.losses)}
        self.marker.location, self.marker.visible = result.suggestion, True
        self.suggestion = result.suggestion
        if self.plot is None:
            self.plot = FiguresWidget(self.figure)
            self.widget.children += (self.plot,)
        self.message.value = (f"suggested learning rate <b>{result.suggestion:.3g}</b> "
                              f"({html.escape(result.rule)})")
        self.find.disabled, self.use.disabled = False, False

    def fail(self, text: str) -> None:
        self.message.value = error_html(f"learning-rate test failed: {text}")
        self.find.disabled = False


def _figure(source: ColumnDataSource, marker: Span) -> figure:
    fig = new_figure("lr_range", "loss against learning rate", "learning rate",
                     "loss (smoothed)", height=260, x_axis_type="log")
    fig.line("lr", "loss", source=source, line_width=3, color=BLUE)
    fig.add_layout(marker)
    return fig
