"""Hyperparameter controls generated from the HParams field metadata, never written by hand.

One widget per field, chosen from its Spec: a slider for numbers (log-scaled where the Spec
says so), a dropdown for choices, a checkbox for switches. Every widget reports to one
callback with `{field: value}`; a value the callback rejects puts the widget back to the last
good value and shows why in red, and the app keeps running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import ipywidgets as widgets

from playground.config import HParams, Spec
from playground.ui.quiet import Quiet
from playground.ui.theme import ROOT_CLASS, error_html

GROUPS = ("data", "model", "optimisation", "regularisation")  # order on the page
DESCRIPTION_WIDTH = "10em"  # fits the longest label ("initialisation") at projector size
CONTROL_WIDTH = "34em"  # widest a control grows; narrower columns shrink it
MAX_SLIDER_POSITIONS = 10_000  # beyond this a slider is useless (seed): a number box instead
OFF = "off"  # the leftmost position of a log slider whose low is 0


# --- choosing and building a widget -------------------------------------------------------
def log_options(spec: Spec) -> list[tuple[str, Any]]:
    """Positions of a stepped log slider: powers of two for whole numbers, 1-2-5 per decade
    otherwise, with a leftmost "off" (0) where the Spec has a `log_low`."""
    low = spec.log_low if spec.log_low is not None else spec.low
    high = spec.high
    if spec.kind == "int":
        low = max(int(low), 1)
        values: list[Any] = [2**k for k in range(0, int(math.log2(high)) + 1)
                             if low <= 2**k <= high]
        values = sorted({int(low), *values, int(high)})
    else:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        grid = [float(f"{m}e{e}") for e in range(first, last + 1) for m in (1, 2, 5)]
        values = sorted({float(low), *(v for v in grid if low <= v <= high), float(high)})
    options = [(_label(v), v) for v in values]
    if spec.log_low is not None:
        options.insert(0, (OFF, 0 if spec.kind == "int" else 0.0))
    return options


def uses_selection_slider(spec: Spec) -> bool:
    """Log-scaled whole numbers (batch size) and log sliders with an "off" position."""
    return spec.scale == "log" and (spec.kind == "int" or spec.log_low is not None)


def make_control(spec: Spec, value: Any) -> widgets.Widget:
    """The widget for one field, showing `value`; its description is the Spec's label."""
    common: dict[str, Any] = {
        "description": spec.label,
        "tooltip": spec.help,
        "style": {"description_width": DESCRIPTION_WIDTH},
    }
    wide = widgets.Layout(width="100%", max_width=CONTROL_WIDTH)
    if spec.kind == "choice":
        options = [(choice.replace("_", " "), choice) for choice in spec.choices]
        return widgets.Dropdown(options=options, value=value, layout=wide, **common)
    if spec.kind == "bool":
        return widgets.Checkbox(value=value, indent=True, layout=widgets.Layout(width="auto"),
                                **common)
    slider = {**common, "continuous_update": False, "layout": wide}
    if uses_selection_slider(spec):
        control = widgets.SelectionSlider(options=log_options(spec), **slider)
        _ensure_option(control, value)
        control.value = value
        return control
    if spec.scale == "log":
        return widgets.FloatLogSlider(value=value, base=10, min=math.log10(spec.low),
                                      max=math.log10(spec.high), step=spec.step or 0.1,
                                      readout_format=".3g", **slider)
    if spec.kind == "int":
        step = int(spec.step or 1)
        if (spec.high - spec.low) / step > MAX_SLIDER_POSITIONS:
            return widgets.BoundedIntText(value=value, min=int(spec.low), max=int(spec.high),
                                          step=step, **slider)
        return widgets.IntSlider(value=value, min=int(spec.low), max=int(spec.high), step=step,
                                 **slider)
    step = spec.step or (spec.high - spec.low) / 100
    return widgets.FloatSlider(value=value, min=spec.low, max=spec.high, step=step,
                               readout_format=f".{_decimals(step)}f", **slider)


def clean_value(spec: Spec, value: Any) -> Any:
    """Drop the float noise a slider adds (0.15000000000000002, 0.012589254117941675): to
    the step's decimals on a linear slider, to three significant digits on a log one."""
    if spec.kind != "float" or not isinstance(value, float) or not math.isfinite(value):
        return value
    if spec.scale == "log":
        return float(f"{value:.3g}")
    if spec.step:
        return round(value, _decimals(spec.step))
    return value


def _decimals(step: float) -> int:
    text = f"{step:g}"
    if "e-" in text:
        return int(text.split("e-")[1])
    return len(text.split(".")[1]) if "." in text else 0


def _label(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _ensure_option(control: widgets.SelectionSlider, value: Any) -> None:
    """Add a value that is not on the slider's grid (from a URL or a lesson) in its place."""
    if any(option == value for _, option in control.options):
        return
    options = sorted([*control.options, (_label(value), value)], key=lambda pair: pair[1])
    control.options = options


# --- the panel ----------------------------------------------------------------------------
class HParamControls:
    """All hyperparameter widgets, grouped as data, model, optimisation, regularisation.

    `on_change({field: value})` is called for every change a person makes; if it raises
    (HParamsError, or any error), the widget goes back to its last good value and the
    message names the field, the value and what is allowed. If it returns an HParams, the
    widgets are set from it (the controller may have adjusted other fields).
    `hidden` fields get no widget (classroom mode); `open_groups` (default: all) are the
    groups shown expanded.
    """

    def __init__(self, hp: HParams, on_change: Callable[[dict[str, Any]], Any],
                 hidden: Iterable[str] = frozenset(), *,
                 open_groups: Iterable[str] | None = None):
        self.specs = HParams.specs()
        self.hidden = frozenset(hidden)
        unknown = sorted(self.hidden - set(self.specs))
        if unknown:
            raise ValueError(f"hidden: unknown fields {', '.join(unknown)}; "
                             f"allowed: {', '.join(self.specs)}")
        self.on_change = on_change
        self._good: dict[str, Any] = hp.to_dict()  # last values the controller accepted
        self._quiet = Quiet()  # true while the code, not a person, sets values
        self.message = widgets.HTML(value="")
        self.by_name: dict[str, widgets.Widget] = {}
        for name, spec in self.specs.items():
            if name in self.hidden:
                continue
            control = make_control(spec, self._good[name])
            control.observe(partial(self._changed, name), names="value")
            self.by_name[name] = control

        order = [*GROUPS, *sorted({s.group for s in self.specs.values()} - set(GROUPS))]
        opened = set(order if open_groups is None else open_groups)
        self.groups: dict[str, widgets.Accordion] = {}
        for group in order:
            members = [self.by_name[name] for name, spec in self.specs.items()
                       if spec.group == group and name in self.by_name]
            if members:
                self.groups[group] = widgets.Accordion(
                    children=[widgets.VBox(members)], titles=(group,),
                    selected_index=0 if group in opened else None)
        self.widget = widgets.VBox([self.message, *self.groups.values()])
        self.widget.add_class(ROOT_CLASS)
        self.widget.add_class("pg-controls")

    @property
    def values(self) -> dict[str, Any]:
        """The last values the controller accepted (hidden fields included)."""
        return dict(self._good)

    def set_values(self, hp: HParams | Mapping[str, Any]) -> None:
        """Show these values without calling on_change (a URL, a lesson, a sweep's best)."""
        values = hp.to_dict() if isinstance(hp, HParams) else dict(hp)
        with self._quiet():
            for name, value in values.items():
                if name not in self.specs:
                    continue
                self._good[name] = value
                if name in self.by_name:
                    self._show(name, value)
        self.message.value = ""

    def show_error(self, error: BaseException | str) -> None:
        """Show an error in red above the controls."""
        text = error if isinstance(error, str) else describe_error(error, self.specs)
        self.message.value = error_html(text)

    # --- internals ---------------------------------------------------------------------
    def _changed(self, name: str, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        value = clean_value(self.specs[name], change["new"])
        if value != change["new"]:
            self._show(name, value)
        try:
            result = self.on_change({name: value})
        except Exception as error:  # the app keeps running; the person sees why
            self._show(name, self._good[name])
            self.show_error(error)
            return
        self._good[name] = value
        self.message.value = ""
        if isinstance(result, HParams):
            self.set_values(result)

    def _show(self, name: str, value: Any) -> None:
        control = self.by_name[name]
        with self._quiet():
            if isinstance(control, widgets.SelectionSlider):
                _ensure_option(control, value)
            control.value = value


def describe_error(error: BaseException, specs: Mapping[str, Spec] | None = None) -> str:
    """One line naming the field (by its label), the value and what is allowed."""
    specs = specs if specs is not None else HParams.specs()
    field = getattr(error, "field", None)
    if isinstance(error, ValueError) and field is not None and hasattr(error, "allowed"):
        label = specs[field].label if field in specs else field
        return f"{label}: {error.value!r} is not allowed; allowed: {error.allowed}"
    if isinstance(error, ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"
