"""Run buttons (Start, Pause, Step, Stop, Reset) and the one-line status under them.

The toolbar only calls the controller; it never reads the training thread. Whoever owns the
status (the app's pump, about ten times a second) calls `Toolbar.update(status)`, or
`update(status)` on the StatusLine handed to the toolbar, with a plain dict; the buttons that
make no sense in that status are greyed out. Right after a click the buttons already show the
status the click asks for, so they respond at once even before the next status arrives.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import ipywidgets as widgets

from playground.status import ACTIVE, TROUBLE, Status
from playground.ui.theme import ROOT_CLASS, error_html, status_color

# the status a successful click leads to, shown on the buttons until the next status comes
AFTER_PRESS = {"start": Status.RUNNING, "pause": Status.PAUSED, "step": Status.PAUSED,
               "stop": Status.STOPPED, "reset": Status.IDLE}

# description -> (controller method, icon, tooltip)
BUTTONS: dict[str, tuple[str, str, str]] = {
    "Start": ("start", "play", "Start a new run, or resume a paused one"),
    "Pause": ("pause", "pause", "Pause at the next step; Start resumes"),
    "Step": ("step", "step-forward", "Train one step, then pause (starts a run if none is)"),
    "Stop": ("stop", "stop", "End the run; it stays on the plots"),
    "Reset": ("reset", "undo", "Stop; the next Start begins from fresh weights"),
}


class RunController(Protocol):
    """What the toolbar needs from the controller. `step()` trains one step and pauses,
    starting a run first when none is active (the Step button is always enabled)."""

    def start(self) -> Any: ...
    def pause(self) -> Any: ...
    def step(self) -> Any: ...
    def stop(self) -> Any: ...
    def reset(self) -> Any: ...


def button_states(status: str | None) -> dict[str, bool]:
    """Which buttons are enabled in a run status (idle, running, paused, finished, ...)."""
    status = status or Status.IDLE
    return {
        "Start": status not in (Status.STARTING, Status.RUNNING),
        "Pause": status in (Status.STARTING, Status.RUNNING),
        "Step": True,
        "Stop": status in ACTIVE,
        "Reset": status != Status.IDLE,
    }


def format_status(status: Mapping[str, Any]) -> str:
    """The status line as HTML: run id, status, epoch, step, steps/s, device; for a diverged
    or failed run, the step and the first line of the error in red.

    Keys (all optional): run, status, epoch, epochs, step, steps_per_second, device, error,
    job. `epochs` is the length of the run that is training (its trainer's, not the
    sliders'): 0 means until Stop. An epoch past it (a stale total) shows the epoch alone.
    `job` names a background job under way (a race, a sweep): the buttons above do not
    drive it, so the line says where it is ended.
    """
    state = status.get("status") or Status.IDLE
    run = status.get("run")
    parts = [f"<b>{html.escape(str(run))}</b>" if run else "no run yet",
             f'<b style="color:{status_color(state)}">{html.escape(str(state))}</b>']
    epoch, epochs = status.get("epoch"), status.get("epochs")
    if epoch is not None:
        parts.append(epoch_text(epoch, epochs, state))
    step = status.get("step")
    if step is not None:
        parts.append(f"step {step}")
    speed = status.get("steps_per_second")
    if speed is not None and state == Status.RUNNING:
        parts.append(f"{speed:.0f} steps/s" if speed >= 10 else f"{speed:.1f} steps/s")
    device = status.get("device")
    if device:
        parts.append(f"on {html.escape(str(device))}")
    job = status.get("job")
    if job:
        parts.append(f"<b>{html.escape(str(job))} running</b> (End search ends it)")
    text = " · ".join(parts)
    if state in TROUBLE:
        where = f" at step {step}" if step is not None else ""
        error = first_line(status.get("error")) or "no error message"
        # the trainer's message already says "diverged at step N: ..." (said twice before)
        said = error if error.startswith(state) else f"{state}{where}: {error}"
        text += "<br>" + error_html(said)
    return f'<span class="pg-status">{text}</span>'


def epoch_text(epoch: Any, epochs: Any, state: str) -> str:
    """The epoch part of the status line: "epoch 3/20"; "epoch 3 · until Stop" while a run
    with no end (epochs 0) is active; "epoch 3" when the total is unknown or already passed
    (a total from other settings: never "epoch 20/15")."""
    shown = f"epoch {html.escape(str(epoch))}"
    if isinstance(epochs, bool) or not isinstance(epochs, int):
        return shown
    if epochs == 0:
        return shown + (" · until Stop" if state in ACTIVE else "")
    if not isinstance(epoch, int) or epoch > epochs:
        return shown
    return f"{shown}/{epochs}"


def first_line(text: Any, limit: int = 200) -> str:
    """The first non-empty line of an error, cut to `limit` characters."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class StatusLine:
    """An HTML line under the buttons; `update(status)` redraws it from a status dict and
    tells the listeners (a Toolbar sharing this line listens, to grey out its buttons)."""

    def __init__(self, status: Mapping[str, Any] | None = None):
        self.widget = widgets.HTML(value=format_status(status or {}))
        self.widget.add_class(ROOT_CLASS)
        self.widget.add_class("pg-status-line")
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []

    def on_update(self, listener: Callable[[Mapping[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def update(self, status: Mapping[str, Any]) -> None:
        self.widget.value = format_status(status)
        for listener in self._listeners:
            listener(status)

    def show_error(self, text: str) -> None:
        self.widget.value = error_html(text)

    @property
    def value(self) -> str:
        return self.widget.value


class Toolbar:
    """Buttons that call `controller.start/pause/step/stop/reset`, and the status line.

    Without `status_line` the toolbar makes its own and shows it under the buttons; with
    one, the app places that line itself and every `status_line.update` also sets the buttons.
    """

    def __init__(self, controller: RunController, status: Mapping[str, Any] | None = None, *,
                 status_line: StatusLine | None = None):
        self.controller = controller
        self.buttons: dict[str, widgets.Button] = {}
        for label, (method, icon, tip) in BUTTONS.items():
            button = widgets.Button(description=label, icon=icon, tooltip=tip,
                                    button_style="primary" if label == "Start" else "",
                                    # no shrinking: a narrow row wraps, "Pause" stays whole
                                    layout=widgets.Layout(width="7.5em", height="auto",
                                                          flex="0 0 auto"))
            button.on_click(lambda _button, method=method: self._press(method))
            self.buttons[label] = button
        shared = status_line is not None
        self.status_line = status_line if shared else StatusLine(status)
        self.status_line.on_update(lambda status: self._set_enabled(status.get("status")))
        row = widgets.HBox(list(self.buttons.values()),
                           layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = row if shared else widgets.VBox([row, self.status_line.widget])
        self.widget.add_class(ROOT_CLASS)
        self.widget.add_class("pg-toolbar")
        self._set_enabled((status or {}).get("status"))

    def update(self, status: Mapping[str, Any]) -> None:
        """Redraw the status line and enable the buttons that fit the status."""
        self.status_line.update(status)  # its listener sets the buttons

    def _set_enabled(self, state: str | None) -> None:
        for label, enabled in button_states(state).items():
            self.buttons[label].disabled = not enabled

    def _press(self, method: str) -> None:
        try:
            getattr(self.controller, method)()
        except Exception as error:  # a click never kills the app; it says what went wrong
            self.status_line.show_error(f"{method} failed: {type(error).__name__}: {error}")
            return
        self._set_enabled(AFTER_PRESS[method])
