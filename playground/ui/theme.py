"""Look of the controls on a projector: large type and colour-blind-safe status colours.

Colours are from the Okabe-Ito palette, which stays distinguishable under the common forms
of colour blindness. Every widget of this package carries the CSS class `ROOT_CLASS`, so the
style sheet from `theme_css()` changes only our widgets, never the rest of the notebook.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from playground.status import Status

ROOT_CLASS = "pg-root"  # on every container this package builds; scopes the style sheet

# Okabe-Ito
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"  # bluish green
BLUE = "#0072B2"
VERMILLION = "#D55E00"  # the palette's red: errors, divergence
PURPLE = "#CC79A7"  # reddish purple
GREY = "#666666"

ERROR_COLOR = VERMILLION

STATUS_COLORS = {
    Status.IDLE: GREY,
    Status.STARTING: SKY_BLUE,
    Status.RUNNING: GREEN,
    Status.PAUSED: ORANGE,
    Status.FINISHED: BLUE,
    Status.STOPPED: GREY,
    Status.INTERRUPTED: PURPLE,
    Status.DIVERGED: VERMILLION,
    Status.FAILED: VERMILLION,
}


def status_color(status: str | None) -> str:
    """Colour of a run status; unknown statuses are grey."""
    return STATUS_COLORS.get(status or "", GREY)


def error_html(text: str) -> str:
    """One escaped message in the error colour, bold so it reads from the back of a room."""
    return (f'<span class="pg-error" style="color:{ERROR_COLOR};font-weight:bold">'
            f"{html.escape(text)}</span>")


def css(font_px: int = 16) -> str:
    """The style sheet: labels, readouts, inputs and buttons at `font_px` (at least 15)."""
    px = max(int(font_px), 15)
    root = f".{ROOT_CLASS}"
    return f"""
{root} {{
  --jp-widgets-font-size: {px}px;
  --jp-widgets-inline-height: {round(px * 1.9)}px;
  --jp-ui-font-size1: {px}px;
}}
{root} .widget-label, {root} .widget-label-basic, {root} .widget-readout,
{root} .widget-inline-hbox label, {root} .widget-html, {root} .widget-html-content,
{root} .widget-button, {root} .jupyter-button, {root} input, {root} select,
{root} .jupyter-widget-Collapse-header, {root} .p-Collapse-header,
{root} .lm-TabBar-tabLabel, {root} .p-TabBar-tabLabel {{
  font-size: {px}px;
}}
{root} .jupyter-widget-Collapse-header, {root} .p-Collapse-header {{
  font-weight: bold;
}}
{root}.widget-tab > .lm-TabBar .lm-TabBar-tab,
{root} .jupyter-widgets.widget-tab > .lm-TabBar .lm-TabBar-tab {{
  flex: 0 0 auto; max-width: none;  /* whole titles: a 144 px tab cut "race · sweep · sensiti" */
}}
{root} .pg-readout input {{ text-align: center; }}
{root} .pg-error {{ color: {ERROR_COLOR}; font-weight: bold; }}
{root} .pg-muted {{ color: {GREY}; }}
"""


def theme_css(font_px: int = 16) -> widgets.HTML:
    """An HTML widget holding the style sheet; display it once, anywhere on the page."""
    return widgets.HTML(value=f"<style>{css(font_px)}</style>",
                        layout=widgets.Layout(height="0px", margin="0px"))
