"""The ipywidgets controls, built directly: no browser, no kernel, no torch.

A fake controller records what the widgets ask of it and can refuse, like the runner does
with an HParamsError.
"""

from __future__ import annotations

import math
import subprocess
import sys

import ipywidgets as widgets
import pytest

from playground.config import HParams, HParamsError, Spec
from playground.ui import (
    GROUPS,
    HParamControls,
    RunsTable,
    StatusLine,
    Toolbar,
    button_states,
    clean_value,
    format_status,
    log_options,
    theme_css,
)
from playground.ui.controls import (
    DESCRIPTION_WIDTH,
    NumberControl,
    describe_error,
    format_value,
    nearest_position,
    parse_typed,
)

SPECS = HParams.specs()


class FakeController:
    """Records every call; `update` validates through HParams like Runner.update does."""

    def __init__(self, hp: HParams | None = None, fail: str | None = None):
        self.hp = hp or HParams()
        self.calls: list[tuple] = []
        self.fail = fail  # name of a method that raises

    def _record(self, name: str, *args):
        self.calls.append((name, *args))
        if name == self.fail:
            raise RuntimeError(f"{name} broke")

    def update(self, changes: dict):
        self._record("update", changes)
        self.hp = self.hp.replace(**changes)  # raises HParamsError on a bad value
        return self.hp

    def start(self):
        self._record("start")

    def pause(self):
        self._record("pause")

    def step(self):
        self._record("step")

    def stop(self):
        self._record("stop")

    def reset(self):
        self._record("reset")

    def rename_run(self, run_id, name):
        self._record("rename_run", run_id, name)

    def set_run_visible(self, run_id, visible):
        self._record("set_run_visible", run_id, visible)

    def delete_run(self, run_id):
        self._record("delete_run", run_id)

    def export_run(self, run_id, fmt):
        self._record("export_run", run_id, fmt)
        return f"{run_id}.{fmt}", "step,loss\n1,0.5\n"


def displayed(root: widgets.Widget) -> list[widgets.Widget]:
    """Every widget reachable from root through `children`."""
    found, stack = [], [root]
    while stack:
        widget = stack.pop()
        found.append(widget)
        stack.extend(getattr(widget, "children", ()))
    return found


# --- hyperparameter controls ----------------------------------------------------------------
def test_every_field_gets_one_widget_described_by_its_label():
    controls = HParamControls(HParams(), lambda changes: None)
    assert list(controls.by_name) == list(SPECS)
    shown = displayed(controls.widget)
    for name, spec in SPECS.items():
        widget = controls.by_name[name]
        assert widget.description == spec.label
        assert getattr(widget, "described", widget).tooltip == spec.help
        assert widget.value == getattr(HParams(), name)
        assert sum(w is widget for w in shown) == 1  # placed on the page exactly once
    labels = {w.description for w in controls.by_name.values()}
    assert {"learning rate", "batch size", "dropout", "depth"} <= labels


def test_widget_kinds_follow_the_spec():
    controls = HParamControls(HParams(), lambda changes: None)
    by_name = controls.by_name
    numbers = {name for name, spec in SPECS.items() if spec.kind in ("int", "float")}
    assert {n for n, w in by_name.items() if isinstance(w, NumberControl)} == numbers
    assert isinstance(by_name["lr"].slider, widgets.FloatLogSlider)
    assert by_name["lr"].slider.min == pytest.approx(math.log10(SPECS["lr"].low))
    assert by_name["lr"].slider.max == pytest.approx(math.log10(SPECS["lr"].high))
    assert isinstance(by_name["dataset"], widgets.Dropdown)
    assert [value for _, value in by_name["dataset"].options] == list(SPECS["dataset"].choices)
    assert isinstance(by_name["batch_norm"], widgets.Checkbox)
    assert isinstance(by_name["depth"].slider, widgets.IntSlider)
    assert isinstance(by_name["dropout"].slider, widgets.FloatSlider)
    assert by_name["dropout"].slider.step == SPECS["dropout"].step
    # batch size: an IntSlider over powers of two for its whole range
    assert by_name["batch_size"].positions == [2**k for k in range(13)]
    assert isinstance(by_name["batch_size"].slider, widgets.IntSlider)
    assert by_name["batch_size"].slider.max == 12
    assert by_name["seed"].slider is None  # 2**31 positions: a box to type into, no slider


def test_every_number_has_a_text_readout_and_no_slider_readout():
    """ipywidgets' own readouts are contenteditable divs (SelectionSlider never reads them);
    ours is a text input, which sends on Enter."""
    controls = HParamControls(HParams(), lambda changes: None)
    for name, control in controls.by_name.items():
        if isinstance(control, NumberControl):
            assert isinstance(control.readout, widgets.Text)
            assert control.readout.value == format_value(SPECS[name], getattr(HParams(), name))
            assert control.slider is None or control.slider.readout is False
    shown = displayed(controls.widget)
    assert not any(isinstance(w, widgets.SelectionSlider) for w in shown)


@pytest.mark.parametrize("name", ["weight_decay", "l1"])
def test_log_fields_with_an_off_position(name):
    """0 is "off" at the left end; the rest is log-spaced from log_low to high."""
    widget = HParamControls(HParams(), lambda changes: None).by_name[name]
    values = widget.positions
    assert values[0] == 0.0 and values[1] == SPECS[name].log_low
    assert values[-1] == SPECS[name].high
    ratios = {round(b / a, 6) for a, b in zip(values[1:], values[2:])}
    assert ratios <= {2.0, 2.5}  # 1-2-5 per decade: evenly spread on a log axis
    assert widget.value == 0.0 and widget.slider.value == 0 and widget.readout.value == "off"


def test_log_options_for_any_spec():
    ints = Spec(label="n", kind="int", group="data", help="", low=3, high=1000, scale="log")
    assert [v for _, v in log_options(ints)] == [3, 4, 8, 16, 32, 64, 128, 256, 512, 1000]
    floats = Spec(label="x", kind="float", group="data", help="", low=1e-3, high=0.3,
                  scale="log")
    assert [label for label, _ in log_options(floats)] == [
        "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.3"]


def test_sliders_do_not_update_while_dragging():
    controls = HParamControls(HParams(), lambda changes: None)
    numbers = [w for w in controls.by_name.values() if isinstance(w, NumberControl)]
    assert len(numbers) >= 15
    for w in numbers:
        assert w.readout.continuous_update is False  # sent on Enter (or leaving the box)
        assert w.slider is None or w.slider.continuous_update is False


def test_groups_in_order_and_all_open():
    controls = HParamControls(HParams(), lambda changes: None)
    assert tuple(controls.groups) == GROUPS
    for group, accordion in controls.groups.items():
        assert accordion.titles == (group,)
        assert accordion.selected_index == 0
        members = {w.description for w in accordion.children[0].children}
        assert members == {s.label for s in SPECS.values() if s.group == group}
    closed = HParamControls(HParams(), lambda changes: None, open_groups=["optimisation"])
    assert closed.groups["optimisation"].selected_index == 0
    assert closed.groups["data"].selected_index is None


def test_a_change_calls_on_change_with_the_field_and_value():
    controller = FakeController()
    controls = HParamControls(controller.hp, controller.update)
    controls.by_name["depth"].value = 4
    controls.by_name["dropout"].value = 0.25
    controls.by_name["batch_size"].value = 128
    controls.by_name["optimizer"].value = "sgd"
    controls.by_name["batch_norm"].value = True
    controls.by_name["weight_decay"].value = 1e-4
    assert controller.calls == [("update", {"depth": 4}), ("update", {"dropout": 0.25}),
                                ("update", {"batch_size": 128}), ("update", {"optimizer": "sgd"}),
                                ("update", {"batch_norm": True}),
                                ("update", {"weight_decay": 1e-4})]
    assert controller.hp.depth == 4 and controller.hp.weight_decay == 1e-4
    assert controls.values["batch_size"] == 128
    assert controls.message.value == ""


def test_slider_float_noise_is_dropped():
    controller = FakeController()
    controls = HParamControls(controller.hp, controller.update)
    controls.by_name["lr"].slider.value = 10 ** -1.9  # what dragging a log slider sends
    controls.by_name["noise"].slider.value = 0.1 + 0.05  # 0.15000000000000002
    assert controller.calls == [("update", {"lr": 0.0126}), ("update", {"noise": 0.15})]
    assert controls.by_name["lr"].value == 0.0126
    assert controls.by_name["lr"].readout.value == "0.0126"
    assert clean_value(SPECS["momentum"], 0.9000000000000001) == 0.9
    assert clean_value(SPECS["depth"], 3) == 3


def test_a_rejected_value_reverts_and_shows_why():
    controller = FakeController(HParams(optimizer="nesterov", momentum=0.9))
    controls = HParamControls(controller.hp, controller.update)
    controls.by_name["momentum"].value = 0.0  # nesterov needs momentum above 0
    assert controller.calls == [("update", {"momentum": 0.0})]
    assert controls.by_name["momentum"].value == 0.9  # back to the last good value
    assert controls.by_name["momentum"].slider.value == 0.9
    assert controls.by_name["momentum"].readout.value == "0.9"
    assert controls.values["momentum"] == 0.9
    message = controls.message.value
    assert "momentum" in message and "0.0" in message and "nesterov" in message
    assert "color:#D55E00" in message  # red (Okabe-Ito vermillion)
    assert len(controller.calls) == 1  # the revert itself called nothing
    controls.by_name["depth"].value = 3  # the next good change clears the message
    assert controls.message.value == ""


def test_any_valueerror_is_shown_with_field_value_and_allowed():
    def refuse(changes):
        name, value = next(iter(changes.items()))
        raise HParamsError(name, value, "something smaller")

    controls = HParamControls(HParams(), refuse)
    controls.by_name["batch_size"].value = 4096
    assert controls.by_name["batch_size"].value == 32
    assert "batch size: 4096 is not allowed; allowed: something smaller" in controls.message.value


def test_set_values_does_not_call_on_change():
    controller = FakeController()
    controls = HParamControls(controller.hp, controller.update)
    loaded = HParams(lr=0.3, depth=5, dataset="spiral", weight_decay=3e-4, batch_size=100,
                     batch_norm=True)
    controls.set_values(loaded)
    assert controller.calls == []
    for name in ("lr", "depth", "dataset", "weight_decay", "batch_size", "batch_norm"):
        assert controls.by_name[name].value == getattr(loaded, name)
    # a value off the slider's grid: the readout says it, the slider sits at the nearest
    batch_size = controls.by_name["batch_size"]
    assert batch_size.readout.value == "100"
    assert batch_size.positions[batch_size.slider.value] == 128
    weight_decay = controls.by_name["weight_decay"]
    assert weight_decay.readout.value == "0.0003"
    assert weight_decay.positions[weight_decay.slider.value] == 2e-4
    assert controls.values == loaded.to_dict()


# --- typing into a readout -------------------------------------------------------------------
@pytest.mark.parametrize(("name", "text", "value"), [
    ("batch_size", "100", 100),  # between the slider's powers of two
    ("batch_size", " 64 ", 64),
    ("batch_size", "1e2", 100),
    ("batch_size", "128.0", 128),
    ("weight_decay", "3e-4", 3e-4),
    ("weight_decay", "off", 0.0),
    ("weight_decay", "OFF", 0.0),
    ("l1", "0", 0.0),
    ("lr", "0.003", 0.003),
    ("lr", "10", 10.0),
    ("dropout", "0.123", 0.123),  # typed exactly, not rounded to the slider's step
    ("depth", "0", 0),
    ("seed", "2147483647", 2**31 - 1),
])
def test_parse_typed_reads_what_a_person_types(name, text, value):
    parsed = parse_typed(name, SPECS[name], text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(("name", "text"), [
    ("batch_size", "abc"), ("batch_size", "-3"), ("batch_size", "100.5"), ("batch_size", ""),
    ("batch_size", "off"),  # no off position: a batch needs examples
    ("lr", "1e9"), ("lr", "-3"), ("lr", "0"), ("lr", "nan"), ("lr", "inf"),
    ("weight_decay", "5e-7"),  # under log_low: 0 (off) or at least 1e-6
    ("weight_decay", "2"), ("depth", "3.5"), ("seed", "-3"), ("dropout", "0,5"),
])
def test_parse_typed_refuses_with_field_text_and_allowed(name, text):
    with pytest.raises(HParamsError) as caught:
        parse_typed(name, SPECS[name], text)
    assert caught.value.field == name and caught.value.value == text.strip()
    message = describe_error(caught.value)
    assert message.startswith(f"{SPECS[name].label}: {text.strip()!r} is not allowed; allowed: ")
    assert SPECS[name].allowed() in message


def test_format_value_reads_back_as_the_same_value():
    assert format_value(SPECS["weight_decay"], 0.0) == "off"
    assert format_value(SPECS["lr"], 1e-5) == "1e-05"
    assert format_value(SPECS["weight_decay"], 3e-4) == "0.0003"
    assert format_value(SPECS["batch_size"], 100) == "100"
    assert format_value(SPECS["depth"], 0) == "0"  # no off position: 0 is a number
    for name, value in [("lr", 0.0126), ("weight_decay", 0.0), ("momentum", 0.999)]:
        assert parse_typed(name, SPECS[name], format_value(SPECS[name], value)) == value


def test_nearest_position_snaps_on_a_log_axis():
    powers = [2**k for k in range(13)]
    assert nearest_position(powers, 64) == 6
    assert powers[nearest_position(powers, 100)] == 128  # log2(100) = 6.64
    assert powers[nearest_position(powers, 90)] == 64  # log2(90) = 6.49
    assert powers[nearest_position(powers, 3)] == 4
    off = [0.0, 1e-6, 2e-6, 5e-6, 1e-5]
    assert nearest_position(off, 0.0) == 0  # only 0 sits at "off"
    assert off[nearest_position(off, 1.2e-6)] == 1e-6
    assert off[nearest_position(off, 3.5e-6)] == 5e-6  # 3.16e-6 is halfway on a log axis
    assert nearest_position(off, 1.0) == len(off) - 1


def test_typing_sends_the_typed_value_and_snaps_the_slider():
    controller = FakeController()
    controls = HParamControls(controller.hp, controller.update)
    batch_size, weight_decay = controls.by_name["batch_size"], controls.by_name["weight_decay"]
    batch_size.readout.value = "100"
    weight_decay.readout.value = "3e-4"
    weight_decay.readout.value = "off"
    controls.by_name["lr"].readout.value = "0.00123"
    assert controller.calls == [("update", {"batch_size": 100}),
                                ("update", {"weight_decay": 3e-4}),
                                ("update", {"weight_decay": 0.0}),
                                ("update", {"lr": 0.00123})]  # as typed, not to 3 digits
    assert controller.hp.batch_size == 100 and controls.values["batch_size"] == 100
    assert batch_size.value == 100 and batch_size.readout.value == "100"
    assert batch_size.positions[batch_size.slider.value] == 128
    assert weight_decay.slider.value == 0 and weight_decay.readout.value == "off"
    batch_size.readout.value = "1e2"  # the same value: nothing to send, the readout tidied
    assert len(controller.calls) == 4 and batch_size.readout.value == "100"
    batch_size.slider.value = 8  # dragging still works, from the typed value
    assert controller.calls[-1] == ("update", {"batch_size": 256})
    assert batch_size.readout.value == "256"


@pytest.mark.parametrize("text", ["abc", "-3", "1e9", "", "100.5"])
def test_bad_text_restores_the_readout_and_says_why(text):
    controller = FakeController()
    controls = HParamControls(controller.hp, controller.update)
    batch_size = controls.by_name["batch_size"]
    batch_size.readout.value = "100"
    batch_size.readout.value = text
    assert controller.calls == [("update", {"batch_size": 100})]  # nothing more was sent
    assert batch_size.value == 100 and batch_size.readout.value == "100"  # never blank
    assert batch_size.positions[batch_size.slider.value] == 128
    message = controls.message.value
    assert f"batch size: &#x27;{text}&#x27; is not allowed" in message
    assert "a whole number 1 to 4096" in message and "color:#D55E00" in message
    controls.by_name["lr"].readout.value = "0.02"  # the next good change clears it
    assert controls.message.value == ""


def test_a_typed_value_the_controller_refuses_reverts():
    controller = FakeController(HParams(optimizer="nesterov", momentum=0.9))
    controls = HParamControls(controller.hp, controller.update)
    momentum = controls.by_name["momentum"]
    momentum.readout.value = "0"  # in range, but nesterov needs momentum above 0
    assert controller.calls == [("update", {"momentum": 0})]
    assert momentum.value == 0.9 and momentum.readout.value == "0.9"
    assert momentum.slider.value == 0.9
    assert "momentum" in controls.message.value and "nesterov" in controls.message.value


def test_number_control_alone_reports_bad_text_to_on_error():
    errors = []
    control = NumberControl("l1", SPECS["l1"], 1e-5, on_error=errors.append)
    assert control.description == "L1" and control.readout.value == "1e-05"
    control.readout.value = "lots"
    assert control.value == 1e-5 and control.readout.value == "1e-05"
    assert [(e.field, e.value) for e in errors] == [("l1", "lots")]
    control.readout.value = "OFF"
    assert control.value == 0.0 and control.readout.value == "off"


def test_hidden_fields_are_not_displayed():
    hidden = {"seed", "init", "l1"}
    controls = HParamControls(HParams(), lambda changes: None, hidden=hidden)
    assert set(controls.by_name) == set(SPECS) - hidden
    descriptions = {getattr(w, "description", None) for w in displayed(controls.widget)}
    assert {"seed", "initialisation", "L1"}.isdisjoint(descriptions)
    controls.set_values(HParams(seed=7))  # a hidden field still takes loaded values
    assert controls.values["seed"] == 7
    with pytest.raises(ValueError, match="no_such_field"):
        HParamControls(HParams(), lambda changes: None, hidden={"no_such_field"})


def test_labels_readable_and_theme_large():
    controls = HParamControls(HParams(), lambda changes: None)
    described = [getattr(w, "described", w) for w in controls.by_name.values()]
    assert all(w.style.description_width == DESCRIPTION_WIDTH for w in described)  # aligned
    assert "pg-root" in controls.widget._dom_classes
    css = theme_css().value
    assert css.startswith("<style>") and "--jp-widgets-font-size: 16px" in css
    assert "--jp-widgets-font-size: 15px" in theme_css(12).value  # never below 15px


# --- toolbar and status ---------------------------------------------------------------------
def test_toolbar_buttons_call_the_controller():
    controller = FakeController()
    toolbar = Toolbar(controller)
    assert list(toolbar.buttons) == ["Start", "Pause", "Step", "Stop", "Reset"]
    toolbar.update({"status": "paused"})  # every button but Pause is enabled
    for label in ("Start", "Step", "Stop", "Reset"):
        toolbar.buttons[label].click()
    toolbar.update({"status": "running"})
    toolbar.buttons["Pause"].click()
    assert [call[0] for call in controller.calls] == ["start", "step", "stop", "reset", "pause"]


def enabled(toolbar: Toolbar) -> set[str]:
    return {label for label, button in toolbar.buttons.items() if not button.disabled}


def test_toolbar_enables_buttons_by_status():
    toolbar = Toolbar(FakeController())
    assert enabled(toolbar) == {"Start", "Step"}  # idle
    toolbar.update({"status": "running", "run": "r1", "step": 10})
    assert enabled(toolbar) == {"Pause", "Step", "Stop", "Reset"}
    assert "r1" in toolbar.status_line.value
    toolbar.update({"status": "paused"})
    assert enabled(toolbar) == {"Start", "Step", "Stop", "Reset"}
    assert button_states("diverged") == {"Start": True, "Pause": False, "Step": True,
                                         "Stop": False, "Reset": True}


def test_toolbar_buttons_follow_a_click_before_the_next_status():
    toolbar = Toolbar(FakeController())
    toolbar.buttons["Start"].click()
    assert enabled(toolbar) == {"Pause", "Step", "Stop", "Reset"}
    toolbar.buttons["Stop"].click()
    assert enabled(toolbar) == {"Start", "Step", "Reset"}


def test_toolbar_with_a_shared_status_line():
    """The app may place the status line itself; its updates still set the buttons."""
    line = StatusLine()
    toolbar = Toolbar(FakeController(), status_line=line)
    assert toolbar.status_line is line
    assert line.widget not in displayed(toolbar.widget)
    line.update({"run": "r3", "status": "running", "step": 3})
    assert enabled(toolbar) == {"Pause", "Step", "Stop", "Reset"}
    assert "r3" in line.value


def test_a_failing_button_shows_the_error():
    toolbar = Toolbar(FakeController(fail="start"))
    toolbar.buttons["Start"].click()
    assert "start broke" in toolbar.status_line.value
    assert "#D55E00" in toolbar.status_line.value


def test_format_status_running():
    text = format_status({"run": "20250101-abc", "status": "running", "epoch": 3, "epochs": 20,
                          "step": 1200, "steps_per_second": 153.6, "device": "cuda",
                          "error": None})
    for part in ("20250101-abc", "running", "epoch 3/20", "step 1200", "154 steps/s", "cuda"):
        assert part in text
    assert "#D55E00" not in text  # nothing in red


def test_format_status_names_a_background_job_and_where_it_is_ended():
    text = format_status({"status": "idle", "job": "a race"})
    assert "no run yet" in text and "a race running" in text and "End search" in text
    assert "running" not in format_status({"status": "idle", "job": None})


def test_format_status_diverged_shows_step_and_one_line_error_in_red():
    text = format_status({"run": "r2", "status": "diverged", "epoch": 1, "step": 87,
                          "steps_per_second": 99.0, "device": "cpu",
                          "error": "loss is nan\nTraceback (most recent call last): ..."})
    assert '<span class="pg-error" style="color:#D55E00' in text
    assert "diverged at step 87: loss is nan" in text
    assert "Traceback" not in text
    assert "steps/s" not in text  # a stopped run has no speed
    failed = format_status({"status": "failed", "error": "FileNotFoundError: <mnist>"})
    assert "failed: FileNotFoundError: &lt;mnist&gt;" in failed  # escaped
    trainer_said = format_status({"status": "diverged", "step": 90, "error":
                                  "diverged at step 88: loss became inf; the learning rate"})
    assert trainer_said.count("diverged at step") == 1 and "step 88" in trainer_said


def test_format_status_idle_and_status_line():
    assert "no run yet" in format_status({})
    line = StatusLine()
    line.update({"run": "r9", "status": "paused", "step": 5})
    assert "r9" in line.widget.value and "paused" in line.widget.value


# --- runs table -----------------------------------------------------------------------------
def run_row(run_id: str, **overrides) -> dict:
    row = {"id": run_id, "name": f"run {run_id}", "status": "finished", "color": "#0072B2",
           "visible": True, "val_loss": 0.1234567, "val_accuracy": 0.9512, "steps": 400,
           "legend": "lr=0.01"}
    return {**row, **overrides}


def test_runs_table_shows_rows_and_reuses_widgets():
    table = RunsTable(FakeController())
    table.set_runs([run_row("a"), run_row("b", val_accuracy=None, status="running")])
    assert table.run_ids == ("a", "b")
    a_row = table.rows["a"]
    texts = " ".join(w.value for w in a_row.widget.children if isinstance(w, widgets.HTML))
    for part in ("0.1235", "95.1%", "400", "lr=0.01", "finished", "#0072B2"):
        assert part in texts
    assert "–" in table.rows["b"].accuracy.value
    assert table.rows["a"].name.value == "run a"

    table.set_runs([run_row("b", steps=500), run_row("a"), run_row("c")])
    assert table.rows["a"] is a_row  # same widgets, not rebuilt
    assert table.run_ids == ("b", "a", "c")
    assert [r.widget for r in (table.rows["b"], a_row, table.rows["c"])] == list(
        table.body.children)
    assert table.rows["b"].steps.value == "500"
    table.set_runs([run_row("c")])
    assert set(table.rows) == {"c"} and len(table.body.children) == 1


def test_runs_table_calls_the_controller():
    controller = FakeController()
    table = RunsTable(controller)
    table.set_runs([run_row("a"), run_row("b")])
    assert controller.calls == []  # filling the table calls nothing
    table.rows["a"].name.value = "baseline"
    table.rows["a"].show.value = False
    table.rows["b"].export.click()
    table.rows["b"].delete.click()
    assert controller.calls[-1] == ("export_run", "b", "csv")  # Delete asks first
    assert table.rows["b"].delete.description == "Really delete?"
    table.rows["b"].delete.click()
    assert controller.calls == [("rename_run", "a", "baseline"),
                                ("set_run_visible", "a", False),
                                ("export_run", "b", "csv"), ("delete_run", "b")]
    assert table.run_ids == ("a",)  # the deleted row is gone at once
    table.set_runs([run_row("a", name="baseline", visible=False)])
    assert len(controller.calls) == 4  # refreshing with the new values calls nothing


def test_runs_table_export_is_a_download_in_the_browser():
    import base64
    import re

    table = RunsTable(FakeController())
    table.set_runs([run_row("a")])
    table.rows["a"].export.click()
    link = table.rows["a"].file.value
    assert 'download="a.csv"' in link and "/tmp" not in link
    (data,) = re.findall(r'href="data:text/csv;base64,([^"]+)"', link)
    assert base64.b64decode(data).decode() == "step,loss\n1,0.5\n"


def test_a_delete_press_elsewhere_takes_back_the_question():
    controller = FakeController()
    table = RunsTable(controller)
    table.set_runs([run_row("a"), run_row("b")])
    table.rows["a"].delete.click()
    table.rows["b"].delete.click()
    assert table.rows["a"].delete.description == "Delete"
    assert table.rows["b"].delete.description == "Really delete?"
    assert not any(call[0] == "delete_run" for call in controller.calls)


def test_runs_table_reverts_a_refused_rename():
    controller = FakeController(fail="rename_run")
    table = RunsTable(controller)
    table.set_runs([run_row("a")])
    table.rows["a"].name.value = "new name"
    assert table.rows["a"].name.value == "run a"
    assert "rename_run broke" in table.message.value
    assert len(controller.calls) == 1


# --- layering -------------------------------------------------------------------------------
def test_importing_ui_loads_no_torch_and_no_engine():
    code = ("import sys, playground.ui; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
            "or m.startswith('playground.engine')]; print(bad); "
            "sys.exit(1 if bad or 'ipywidgets' not in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the status line's epoch: runs with no end, stale totals ---------------------------------
def test_format_status_of_a_run_with_no_end_shows_until_stop():
    text = format_status({"run": "r", "status": "running", "epoch": 12, "epochs": 0})
    assert "epoch 12 · until Stop" in text and "/0" not in text
    paused = format_status({"run": "r", "status": "paused", "epoch": 12, "epochs": 0})
    assert "epoch 12 · until Stop" in paused
    stopped = format_status({"run": "r", "status": "stopped", "epoch": 12, "epochs": 0})
    assert "epoch 12" in stopped and "until Stop" not in stopped


@pytest.mark.parametrize("epoch, epochs, shown", [(20, 15, "epoch 20 · step 7"),
                                                  (15, 15, "epoch 15/15 · step 7"),
                                                  (3, None, "epoch 3 · step 7"),
                                                  (3, "?", "epoch 3 · step 7")])
def test_format_status_never_shows_an_epoch_past_the_total(epoch, epochs, shown):
    text = format_status({"run": "r", "status": "running", "epoch": epoch, "epochs": epochs,
                          "step": 7})
    assert shown in text and "20/15" not in text
