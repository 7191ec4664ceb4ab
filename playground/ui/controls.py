"""Hyperparameter controls generated from the HParams field metadata, never written by hand.

One widget per field, chosen from its Spec: a slider with a readout a person can type into
for numbers (log-scaled where the Spec says so), a dropdown for choices, a checkbox for
switches. Every widget reports to one callback with `{field: value}`; a value the callback
rejects puts the widget back to the last good value and shows why in red, and the app keeps
running.

The readouts are our own text boxes, not ipywidgets' slider readouts: those are
contenteditable divs that SelectionSlider never reads back (Enter inserts a line break and
nothing is sent), and that the number sliders clamp in the browser (1e9 becomes the maximum
without a word), so the kernel could not say what was wrong with a typed value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import ipywidgets as widgets
import traitlets

from playground.config import HParams, HParamsError, Spec
from playground.ui.quiet import Quiet
from playground.ui.theme import ROOT_CLASS, error_html

GROUPS = ("data", "model", "optimisation", "regularisation")  # order on the page
DESCRIPTION_WIDTH = "8.5em"  # fits the longest label ("initialisation") at projector size
CONTROL_WIDTH = "560px"  # widest a control grows (px: the box's em is 13 px in Lab, 16 in Voila)
READOUT_WIDTH = "5.5em"  # a typeable readout: "0.000123" at projector size
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


def uses_positions(spec: Spec) -> bool:
    """Log-scaled whole numbers (batch size) and log sliders with an "off" position: their
    slider steps through the positions of `log_options`."""
    return spec.scale == "log" and (spec.kind == "int" or spec.log_low is not None)


def make_control(spec: Spec, value: Any, name: str = "") -> widgets.Widget:
    """The widget for one field, showing `value`; its description is the Spec's label.
    `name` is the field's name, used in the message about a typed value that is not allowed."""
    common: dict[str, Any] = {
        "description": spec.label,
        "tooltip": spec.help,
        "style": {"description_width": DESCRIPTION_WIDTH},
    }
    # "auto", not "100%": the column stretches it to its width less its margins (100% plus
    # ipywidgets' 2px margins overflowed, and the group got a horizontal scrollbar)
    wide = widgets.Layout(width="auto", max_width=CONTROL_WIDTH)
    if spec.kind == "choice":
        return widgets.Dropdown(options=choice_options(spec.choices, value), value=value,
                                layout=wide, **common)
    if spec.kind == "bool":
        return widgets.Checkbox(value=value, indent=True, layout=widgets.Layout(width="auto"),
                                **common)
    if spec.kind == "run":  # the app lists the saved runs with weights (set_runs)
        return widgets.Dropdown(options=run_options((), value), value=value, layout=wide,
                                **common)
    return NumberControl(name or spec.label, spec, value)


def choice_options(choices: Iterable[str], value: Any) -> list[tuple[str, str]]:
    """(label, value) pairs of a dropdown; the value shown is always among them."""
    names = list(dict.fromkeys([*choices, value] if value not in choices else choices))
    return [(choice.replace("_", " "), choice) for choice in names]


FRESH = "fresh weights"  # what a run field's empty value reads: no run to start from


def run_options(runs: Iterable[tuple[str, str]], value: str) -> list[tuple[str, str]]:
    """(label, run id) pairs of a run dropdown: fresh weights first, then `runs`; the value
    shown is always among them (by its id, when it is not listed)."""
    options = [(FRESH, ""), *((label, run_id) for label, run_id in runs if run_id)]
    if value not in {run_id for _, run_id in options}:
        options.append((value, value))
    return options


def make_slider(spec: Spec) -> widgets.Widget | None:
    """The slider of a number field, without a readout of its own; None where the range has
    too many positions for a slider to be of use (seed)."""
    options: dict[str, Any] = {"continuous_update": False, "readout": False,
                               "layout": widgets.Layout(width="auto", flex="1 1 auto",
                                                        min_width="3em")}
    if uses_positions(spec):
        return widgets.IntSlider(value=0, min=0, max=len(log_options(spec)) - 1, step=1,
                                 **options)
    if spec.scale == "log":
        return widgets.FloatLogSlider(value=spec.low, base=10, min=math.log10(spec.low),
                                      max=math.log10(spec.high), step=spec.step or 0.1,
                                      **options)
    if spec.kind == "int":
        step = int(spec.step or 1)
        if (spec.high - spec.low) / step > MAX_SLIDER_POSITIONS:
            return None
        return widgets.IntSlider(value=int(spec.low), min=int(spec.low), max=int(spec.high),
                                 step=step, **options)
    step = spec.step or (spec.high - spec.low) / 100
    return widgets.FloatSlider(value=spec.low, min=spec.low, max=spec.high, step=step,
                               **options)


# --- what a readout shows and reads ------------------------------------------------------
def format_value(spec: Spec, value: Any) -> str:
    """What a readout shows: "off" for 0 where the Spec has an off position, else the number
    as a person would type it (100, 0.0003, 1e-05)."""
    if spec.log_low is not None and value == 0:
        return OFF
    return _label(value)


def parse_typed(name: str, spec: Spec, text: str) -> Any:
    """The value a person typed into a readout ("100", "3e-4", "off"), checked against the
    Spec. Raises HParamsError naming the field, the text as typed and what is allowed."""
    typed = text.strip()
    if spec.log_low is not None and typed.lower() == OFF:
        typed = "0"
    try:
        number: int | float = int(typed)
    except ValueError:
        try:
            number = float(typed)
        except ValueError:
            raise HParamsError(name, typed, spec.allowed()) from None
    try:
        return spec.check(name, number)
    except HParamsError:
        raise HParamsError(name, typed, spec.allowed()) from None


def nearest_position(positions: list[Any], value: Any) -> int:
    """The position of a stepped log slider that shows `value`: its own where it is on the
    grid, else the nearest on a log axis (100 sits at 128); only 0 sits at "off"."""
    if value in positions:
        return positions.index(value)
    if value <= 0:
        return 0
    return min((i for i, p in enumerate(positions) if p > 0),
               key=lambda i: abs(math.log(positions[i]) - math.log(value)))


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


class NumberControl(widgets.HBox):
    """A number field: a slider (unless the range is too wide for one) and a readout a person
    can type into. `value` is the field's value: dragging sets it to the slider's position
    (float noise dropped), typing to the number typed, even between positions (batch size
    100). Text that is not allowed leaves value and readout as they were and is passed, as an
    HParamsError, to `on_error`."""

    value = traitlets.Any()

    def __init__(self, name: str, spec: Spec, value: Any,
                 on_error: Callable[[HParamsError], Any] | None = None):
        self.name, self.spec, self.on_error = name, spec, on_error
        self.positions = [v for _, v in log_options(spec)] if uses_positions(spec) else None
        self.slider = make_slider(spec)
        self.readout = widgets.Text(value=format_value(spec, value), continuous_update=False,
                                    layout=widgets.Layout(width=READOUT_WIDTH, flex="0 0 auto"))
        self.readout.add_class("pg-readout")
        described = self.slider if self.slider is not None else self.readout
        described.description = spec.label
        described.tooltip = spec.help
        self.readout.tooltip = spec.help
        described.style.description_width = DESCRIPTION_WIDTH
        if self.slider is None:  # the box alone fills the row, as a dropdown does
            self.readout.layout = widgets.Layout(width="auto", flex="1 1 0%", min_width="0")
        self.described = described
        self._quiet = Quiet()  # true while the control sets its own parts
        # No tooltip on the box itself: ipywidgets' box view then reads a description it
        # does not have, and the whole control fails to show ("Could not create a view").
        super().__init__([c for c in (self.slider, self.readout) if c is not None],
                         layout=widgets.Layout(width="100%", max_width=CONTROL_WIDTH))
        self.add_class("pg-number")
        self.observe(self._on_value, names="value")
        if self.slider is not None:
            self.slider.observe(self._slid, names="value")
        self.readout.observe(self._typed, names="value")
        self.value = value

    @property
    def description(self) -> str:
        """The field's label, shown left of the slider (browser tests find controls by it)."""
        return self.described.description

    def _on_value(self, change: dict[str, Any]) -> None:
        self._show(change["new"])

    def _show(self, value: Any) -> None:
        with self._quiet():
            self.readout.value = format_value(self.spec, value)
            if self.slider is None:
                return
            if self.positions is not None:
                self.slider.value = nearest_position(self.positions, value)
            else:
                self.slider.value = value

    def _slid(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if self.positions is not None:
            self.value = self.positions[change["new"]]
        else:
            self.value = clean_value(self.spec, change["new"])

    def _typed(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        try:
            value = parse_typed(self.name, self.spec, change["new"])
        except HParamsError as error:
            self._show(self.value)  # never a blank or stale readout: the last good value
            if self.on_error is not None:
                self.on_error(error)
            return
        if value == self.value:
            self._show(value)  # "1e2" reads "100" again; nothing changed, nothing to send
        else:
            self.value = value


# --- the panel ----------------------------------------------------------------------------
class HParamControls:
    """All hyperparameter widgets, grouped as data, model, optimisation, regularisation.

    `on_change({field: value})` is called for every change a person makes; if it raises
    (HParamsError, or any error), the widget goes back to its last good value and the
    message names the field, the value and what is allowed. If it returns an HParams, the
    widgets are set from it (the controller may have adjusted other fields).
    `hidden` fields get no widget (classroom mode); `open_groups` (default: all) are the
    groups shown expanded; `choices` narrows a choice field's options (the data sets that
    are on disk, say).
    """

    def __init__(self, hp: HParams, on_change: Callable[[dict[str, Any]], Any],
                 hidden: Iterable[str] = frozenset(), *,
                 open_groups: Iterable[str] | None = None,
                 choices: Mapping[str, Iterable[str]] | None = None):
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
            control = make_control(spec, self._good[name], name)
            if isinstance(control, NumberControl):
                control.on_error = self.show_error
            control.observe(partial(self._changed, name), names="value")
            self.by_name[name] = control
        for name, options in (choices or {}).items():
            self.set_choices(name, options)

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

    def set_choices(self, name: str, choices: Iterable[str]) -> None:
        """Offer only these values of a choice field (its current value stays offered)."""
        control = self.by_name.get(name)
        if isinstance(control, widgets.Dropdown):
            with self._quiet():
                control.options = choice_options(tuple(choices), self._good[name])
                control.value = self._good[name]

    def set_runs(self, name: str, runs: Iterable[tuple[str, str]]) -> None:
        """Offer these (label, run id) pairs in a run field's dropdown (saved runs with
        weights); its current value stays offered."""
        control = self.by_name.get(name)
        options = run_options(tuple(runs), self._good[name])
        if isinstance(control, widgets.Dropdown) and list(control.options) != options:
            with self._quiet():
                control.options = options
                control.value = self._good[name]

    def focus(self, fields: Iterable[str] | None) -> None:
        """Show only these fields' controls (a lesson's), or every control again (None);
        a group left with nothing to show folds away."""
        shown = set(self.by_name if fields is None else fields)
        for name, control in self.by_name.items():
            control.layout.display = None if name in shown else "none"
        for group, accordion in self.groups.items():
            members = [name for name, spec in self.specs.items()
                       if spec.group == group and name in self.by_name]
            accordion.layout.display = None if shown & set(members) else "none"

    def show_error(self, error: BaseException | str) -> None:
        """Show an error in red above the controls."""
        text = error if isinstance(error, str) else describe_error(error, self.specs)
        self.message.value = error_html(text)

    # --- internals ---------------------------------------------------------------------
    def _changed(self, name: str, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        value = change["new"]  # clean already: a NumberControl drops a slider's float noise
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
            if self.specs[name].kind == "run" and value not in {v for _, v in control.options}:
                control.options = run_options(control.options[1:], value)  # a lesson's run
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
