"""ipywidgets controls of the playground, bound to one duck-typed controller; no torch.

`HParamControls` is generated from the HParams field metadata, `Toolbar` holds the run
buttons and the status line, `RunsTable` lists the runs, and `theme_css()` sets the type
large enough for a projector. `app.py` connects them to the engine.
"""

from playground.ui.controls import (
    GROUPS,
    HParamControls,
    clean_value,
    describe_error,
    log_options,
    make_control,
)
from playground.ui.lesson_panel import LessonPanel
from playground.ui.runs_table import RunsController, RunsTable, format_accuracy, format_loss
from playground.ui.theme import ROOT_CLASS, STATUS_COLORS, status_color, theme_css
from playground.ui.toolbar import (
    BUTTONS,
    RunController,
    StatusLine,
    Toolbar,
    button_states,
    format_status,
)
from playground.ui.upload import DataUpload

__all__ = [
    "BUTTONS",
    "GROUPS",
    "ROOT_CLASS",
    "STATUS_COLORS",
    "DataUpload",
    "HParamControls",
    "LessonPanel",
    "RunController",
    "RunsController",
    "RunsTable",
    "StatusLine",
    "Toolbar",
    "button_states",
    "clean_value",
    "describe_error",
    "format_accuracy",
    "format_loss",
    "format_status",
    "log_options",
    "make_control",
    "status_color",
    "theme_css",
]
