"""playground.plots: the pure data layer, the figures' streaming contract, the pump.

No browser and no torch: figures are checked through their Bokeh models and the document
events they emit, which are what the browser would receive.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import subprocess
import sys
import threading
import time

import pytest
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsStreamedEvent,
    ModelChangedEvent,
)
from bokeh.models import ColumnDataSource, HoverTool, Legend, NumeralTickFormatter
from hypothesis import given
from hypothesis import strategies as st

from playground.plots import (
    PALETTE,
    AccuracyPlot,
    BoundaryPlot,
    ColorCycle,
    Figure,
    GradNormPlot,
    LossPlot,
    LrPlot,
    Plots,
    Pump,
    SamplesGrid,
    WeightHistogram,
    boundary_info,
    change_markers,
    color_at,
    curve_columns,
    dashboard,
    decimate,
    histogram_columns,
    samples_info,
    to_rgba,
)
from playground.plots._base import (
    ACTIVE_LINE_WIDTH,
    DIM_ALPHA,
    FRAME_HEIGHT,
    LINE_WIDTH,
    RunPlot,
    SnapshotPlot,
    new_figure,
)
from playground.plots.curves import DIM_TRAIN_ALPHA, SETTING_JS, TRAIN_ALPHA
from playground.plots.series import (
    MAX_LABEL,
    Thinning,
    differences,
    exit_point,
    explodes,
    finite_max,
    legend_columns,
    run_label,
)

# --- row builders --------------------------------------------------------------------------


def point(run, step, split="train", loss=1.0, accuracy=0.5, lr=0.01):
    return {"run": run, "step": step, "epoch": step // 10, "split": split, "loss": loss,
            "accuracy": accuracy, "lr": lr, "seconds": step * 0.01}


def points(run, steps, splits=("train", "val"), **kwargs):
    return [point(run, step, split, **kwargs) for step in steps for split in splits]


def change(run, step, field="lr", old=0.01, new=0.1, message=None):
    return {"run": run, "step": step, "seconds": 0.0, "kind": "change", "field": field,
            "old": old, "new": new, "message": message if message is not None else ""}


def lengths(plot, run):
    return {split: len(source.data["step"]) for split, source in plot.sources(run).items()}


class Events:
    """Collects the document change events of a model: what would go to the browser."""

    def __init__(self, model):
        self.doc = Document()
        self.doc.add_root(model)
        self.seen = []
        self.doc.on_change(self.seen.append)

    def of(self, kind, source=None):
        return [e for e in self.seen if isinstance(e, kind)
                and (source is None or e.model is source)]


# --- series: colours, legends, decimation, columns ------------------------------------------


def _linear(hex_color):
    channels = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]


def _lab(hex_color):
    """CIELAB (D65) of an sRGB colour: distances in it track how different colours look."""
    r, g, b = _linear(hex_color)
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g
           + 0.0722 * b, (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _on_white(hex_color, alpha):
    """The colour a line of `hex_color` at `alpha` shows on the white plot."""
    return "#" + "".join(f"{round(alpha * int(hex_color[i:i + 2], 16) + (1 - alpha) * 255):02X}"
                         for i in (1, 3, 5))


def _closest_pair(colors):
    return min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(colors, 2))


def test_colors_cycle_through_a_palette_readable_on_a_projector():
    assert color_at(0) == "#0072B2"
    assert color_at(len(PALETTE)) == color_at(0)
    # ten runs drawn at once repeat no colour
    assert len({color_at(i) for i in range(10)}) == 10
    # a lesson's six runs: no two closer than vermillion and orange (Delta E 33); the old
    # order put blue and sky blue (26, one blur on a projector) among them
    assert _closest_pair(PALETTE[:6]) > 30
    assert _closest_pair(PALETTE) > 25
    # and as a dimmed run is drawn, see-through on white (old order: 16; now 23)
    dimmed = [_on_white(color, DIM_ALPHA) for color in PALETTE[:6]]
    assert _closest_pair(dimmed) > 20
    # every colour stands out from the white plot: WCAG's contrast ratio, 2:1 at least
    for color in PALETTE:
        luminance = sum(w * c for w, c in zip((0.2126, 0.7152, 0.0722), _linear(color)))
        assert 1.05 / (luminance + 0.05) >= 2, color


def test_run_label_is_the_name_or_a_short_id_cut_to_a_fixed_length():
    assert run_label("lr=5 (too high)", "20250101-120000-abcdef12") == "lr=5 (too high)"
    assert run_label(None, "20250101-120000-abcdef12") == "abcdef12"
    assert run_label("  ", "r1") == "r1" and run_label("", "", 2) == "run 3"
    long = run_label("one-cycle (warm-up, then anneal)", "x")
    assert len(long) == MAX_LABEL <= 20 and long == "one-cycle (warm-up,…"
    assert run_label("lr=0.1 (about right)", "x") == "lr=0.1 (about right)"  # a lesson's
    assert run_label("two\nlines", "x") == "two lines"


def test_differences_name_what_sets_each_run_apart_without_an_id_fallback():
    configs = {"a": {"lr": 5.0, "depth": 4}, "b": {"lr": 0.1, "depth": 4}}
    assert differences(configs) == {"a": "learning rate=5", "b": "learning rate=0.1"}
    assert differences({"a": {"lr": 0.1}}) == {"a": ""}
    assert differences({"a": {"lr": 0.1}, "b": {"lr": 0.1}}) == {"a": "", "b": ""}


def test_legend_columns_fit_ten_cut_names_under_a_narrow_figure():
    names = [run_label(f"a long lesson run name {i}", str(i)) for i in range(10)]
    assert legend_columns(names) == 1  # 20 characters: one a row in ~310 px
    assert legend_columns([f"lr=0.00{i}375" for i in range(10)]) == 2  # 11 characters
    assert legend_columns(["layer1", "layer2", "layer3"]) >= 3
    assert legend_columns(["x" * 200]) == 1 and legend_columns([]) >= 1


def test_explodes_is_the_trainers_divergence_test():
    assert not explodes([0.7, 0.5, 2.0, 6000.0], first=0.7)
    assert explodes([0.7, 8000.0], first=0.7)  # over 1e4 times the first
    assert explodes([0.7, math.nan], first=0.7)  # inf and nan reach the plot as nan
    assert explodes([11.0], first=0.0)  # a first loss of 0 counts as 1e-3


def test_exit_point_is_the_last_point_under_the_other_runs_top():
    steps, ys = [0, 10, 20, 30], [0.7, 0.9, 50.0, 1e5]
    assert exit_point(steps, ys, top=1.0) == (10, 0.9)
    assert exit_point(steps, [0.7, math.nan, 0.5], top=1.0) == (0, 0.7)  # left as nan
    assert exit_point(steps, [3.0, 1e5], top=1.0) == (0, 1.0)  # above from the start
    assert exit_point(steps, ys, top=None) == (30, 1e5)  # no other run: its last point
    assert exit_point(steps[:2], [0.7, 0.8], top=1.0) == (10, 0.8)  # never left
    assert exit_point([], [], top=1.0) is None
    assert finite_max([[0.5, math.nan], [2.0], []]) == 2.0 and finite_max([[math.nan]]) is None


@pytest.mark.parametrize("length, max_points", [(0, 5), (3, 5), (5, 5), (6, 5), (1001, 10),
                                                (100_000, 5000), (7, 2)])
def test_decimate_bounds_length_and_keeps_both_ends(length, max_points):
    xs = list(range(length))
    ys = [x * 2.0 for x in xs]
    dx, dy = decimate(xs, ys, max_points)
    assert len(dx) == len(dy) == min(length, max_points)
    assert dx == sorted(set(dx))  # increasing, no duplicates
    assert dy == [x * 2.0 for x in dx]  # pairs stay together
    if length:
        assert (dx[0], dx[-1]) == (0, length - 1)


def test_decimate_rejects_too_few_points_and_unequal_lengths():
    with pytest.raises(ValueError, match="max_points"):
        decimate([1, 2, 3], [1, 2, 3], 1)
    with pytest.raises(ValueError, match="length"):
        decimate([1, 2], [1], 5)


def test_curve_columns_split_train_and_val_and_skip_missing_values():
    rows = [point("a", 0), point("a", 0, "val"), point("a", 1),
            point("b", 0, accuracy=None), point("a", 2, loss=math.inf)]
    loss = curve_columns(rows, "loss")
    assert loss["a"]["train"]["step"] == [0, 1, 2]
    assert loss["a"]["val"]["step"] == [0]
    assert math.isnan(loss["a"]["train"]["y"][2])  # inf -> nan: a gap, not a broken axis
    accuracy = curve_columns(rows, "accuracy")
    assert "b" not in accuracy


def test_change_markers_only_for_change_events_with_readable_text():
    events = [change("a", 120), {"run": "a", "step": 5, "kind": "status", "message": "paused"},
              change("b", 7, field="batch_size", old=32, new=64, message="bigger batches")]
    markers = change_markers(events)
    assert [m.step for m in markers["a"]] == [120]
    assert markers["a"][0].message == "learning rate: 0.01 → 0.1"
    assert markers["b"][0].message == "bigger batches"


def test_histogram_columns_give_shares_per_layer():
    columns = histogram_columns({"layer1": {"edges": [0, 1, 2], "counts": [1, 3]},
                                 "layer2": {"edges": [-1, 0], "counts": [10]}})
    assert columns["left"] == [0.0, 1.0, -1.0]
    assert columns["top"] == [0.25, 0.75, 1.0]
    assert columns["layer"] == ["layer1", "layer1", "layer2"]
    with pytest.raises(ValueError, match="edges"):
        histogram_columns({"bad": {"edges": [0, 1], "counts": [1, 2]}})


def test_boundary_info_keeps_0_to_1_and_spans_a_regression_surface():
    row = {"run": "a", "step": 1, "x0": -1, "y0": -2, "dw": 2, "dh": 4,
           "z": [[0.0, 0.5], [0.25, 1.0]]}
    info = boundary_info(row)
    assert (info.low, info.high) == (0.0, 1.0)
    assert info.image.shape == (2, 2) and (info.x, info.y, info.dw, info.dh) == (-1, -2, 2, 4)
    info = boundary_info({**row, "z": [[-3.0, 0.0], [1.0, 5.0]]})
    assert (info.low, info.high) == (-3.0, 5.0)


def test_samples_info_lays_out_images_and_colours_captions():
    row = {"run": "a", "step": 3, "images": [[[0.0, 1.0], [1.0, 0.0]]] * 3,
           "pred": [0, 1, 2], "true": [0, 2, 2], "class_names": ["zero", "one", "two"]}
    info = samples_info(row, columns=2)
    assert len(info.images["image"]) == 3
    assert info.captions["text"] == ["✓ zero / zero", "✗ one / two", "✓ two / two"]
    assert info.captions["correct"] == [True, False, True]
    colors = info.captions["color"]
    assert colors[0] == colors[2] != colors[1]
    # first image on the top row, third wraps to the second row below it
    assert info.images["y"][0] == info.images["y"][1] > info.images["y"][2]


def test_to_rgba_flips_rows_and_handles_colour_images():
    gray = to_rgba([[1.0, 1.0], [0.0, 0.0]])  # white top row
    assert gray.shape == (2, 2)
    bottom, top = gray[0].view("u1").reshape(2, 4), gray[1].view("u1").reshape(2, 4)
    assert list(top[0]) == [255, 255, 255, 255] and list(bottom[0]) == [0, 0, 0, 255]
    red = to_rgba([[[1.0, 0.0, 0.0]]])
    assert list(red.view("u1").reshape(4)) == [255, 0, 0, 255]


# --- figures -------------------------------------------------------------------------------


def test_figure_names_follow_the_contract():
    plots = Plots()
    names = {name: plot.figure.name for name, plot in plots.plots.items()}
    assert names == {"loss": "loss", "accuracy": "accuracy", "lr": "lr",
                     "grad_norms": "grad_norms", "weights": "weights", "boundary": "boundary",
                     "samples": "samples", "loss_surface": "loss_surface",
                     "loss_grid": "loss_grid"}
    doc = Document()
    for figure in plots.figures().values():  # the app shows each in a widget of its own
        doc.add_root(figure)
    assert doc.get_model_by_name("loss") is plots.loss.figure
    assert doc.get_model_by_name("accuracy") is plots.accuracy.figure


def test_figures_are_projector_friendly():
    plot = LossPlot()
    plot.add_run("a")
    fig = plot.figure
    assert fig.sizing_mode == "stretch_width"
    assert int(fig.xaxis[0].axis_label_text_font_size.rstrip("pt")) >= 14
    assert int(fig.yaxis[0].major_label_text_font_size.rstrip("pt")) >= 12
    assert all(line.glyph.line_width == 3 for line in plot._lines["a"])


def test_pushing_points_streams_train_and_val_into_the_right_run():
    plot = LossPlot()
    plot.add_run("a", {"lr": 0.1})
    plot.add_run("b", {"lr": 0.01})
    events = Events(plot.layout)
    plot.push(points("a", range(5)) + points("b", range(2), splits=("train",)))
    assert lengths(plot, "a") == {"train": 5, "val": 5}
    assert lengths(plot, "b") == {"train": 2, "val": 0}
    source = plot.sources("a")["train"]
    plot.push(points("a", range(5, 8)))
    assert lengths(plot, "a") == {"train": 8, "val": 8}
    assert source.data["step"] == list(range(8))  # appended, not replaced
    # One stream per source per push; data never re-sent whole.
    assert len(events.of(ColumnsStreamedEvent, source)) == 2
    assert events.of(ColumnDataChangedEvent) == []
    assert [e.rollover for e in events.of(ColumnsStreamedEvent, source)] == [5000, 5000]


def run_renderers(plot, fig=None):
    """A curve figure's renderers but the diverged-run marks it is made with."""
    fig = fig or plot.figure
    fixed = {r for part in plot._parts for r in part.exits}
    return [r for r in fig.renderers if r not in fixed]


def test_a_push_makes_glyphs_only_for_a_new_run():
    plot = LossPlot()
    fixed = len(plot.figure.renderers)  # the marks of diverged runs, made with the figure
    plot.push(points("a", range(3)))
    count = len(plot.figure.renderers)
    plot.push(points("a", range(3, 6)))
    assert len(plot.figure.renderers) == count  # streaming adds no glyph
    plot.push(points("b", range(3)))
    assert len(plot.figure.renderers) - fixed == 2 * (count - fixed)  # a new run: once
    assert plot.runs == ["a", "b"]


def test_the_validation_line_is_drawn_opaque_over_a_see_through_train_line():
    plot = LossPlot()
    plot.push(points("a", range(3)))
    train, val = plot._lines["a"][:2]  # the linear figure's; its log twin has the same
    assert train.glyph.line_alpha < val.glyph.line_alpha == 1.0
    renderers = plot.figure.renderers
    assert renderers.index(val) > renderers.index(train)  # drawn after, so on top
    lr = LrPlot()
    lr.push(points("a", range(3)))
    assert {line.glyph.line_alpha for line in lr._lines["a"]} == {1.0}  # alone: opaque


def test_rollover_bounds_every_line():
    plot = AccuracyPlot(max_points=50)
    plot.push(points("a", range(30)))
    plot.push(points("a", range(30, 130)))
    assert lengths(plot, "a") == {"train": 50, "val": 50}
    assert plot.sources("a")["train"].data["step"] == list(range(80, 130))  # newest kept


def test_thin_mode_keeps_a_long_runs_whole_history_evenly_spaced():
    plot = LossPlot(max_points=20, thin=True)
    events = Events(plot.layout)
    for start in range(0, 200, 10):
        plot.push(points("a", range(start, start + 10)))
    source = plot.sources("a")["train"]
    steps = source.data["step"]
    assert 10 <= len(steps) <= 20
    every = steps[1] - steps[0]
    assert steps == list(range(0, steps[-1] + 1, every))  # from the start, evenly spaced
    assert steps[-1] > 199 - every  # the newest kept point is at most one stride behind
    assert source.data["y"] == [1.0] * len(steps)  # columns thinned together
    # re-sent whole only when full: once per doubling of the stride, 200 / 20 -> 4 times
    assert every == 16 and len(events.of(ColumnDataChangedEvent, source)) == 4
    streamed = [len(e.data["step"]) for e in events.of(ColumnsStreamedEvent, source)]
    assert streamed[:2] == [10, 10] and max(streamed[-3:]) <= 1  # ever fewer points sent


@given(st.lists(st.integers(0, 60), max_size=40), st.integers(2, 30))
def test_thinning_keeps_every_stride_th_point_from_the_first_within_the_bound(counts,
                                                                              max_points):
    thinning, line, offered = Thinning(max_points), [], 0
    for count in counts:
        thin, keep = thinning.take(len(line), count)
        line = line[::thin] + list(range(offered, offered + count))[keep]
        offered += count
        assert len(line) <= max_points
        assert line == list(range(0, offered, thinning.every))  # all of them, no gaps


def test_accuracy_skips_rows_without_accuracy():
    plot = AccuracyPlot()
    plot.push(points("reg", range(4), accuracy=None) + points("cls", range(4)))
    assert lengths(plot, "cls") == {"train": 4, "val": 4}
    assert "reg" not in plot.runs


def test_change_events_become_markers_on_the_curve():
    plot = LossPlot()
    plot.push(points("a", range(0, 200, 10), loss=2.0) + points("a", range(200, 300, 10),
                                                               loss=1.0))
    plot.push([], [change("a", 120, message="lr 0.01 -> 0.1"), change("a", 250)])
    markers = plot.marker_source("a").data
    assert markers["step"] == [120, 250]
    assert markers["y"] == [2.0, 1.0]  # sits on the train curve at that step
    assert markers["message"][0] == "lr 0.01 -> 0.1"
    assert len(run_renderers(plot)) == 3  # train, val, markers: no glyph per event


def test_a_change_before_any_point_waits_for_the_curve():
    plot = LossPlot()
    plot.push([], [change("a", 0)])
    assert plot.marker_source("a").data["step"] == []
    plot.push(points("a", range(3), loss=0.7))
    assert plot.marker_source("a").data["step"] == [0]
    assert plot.marker_source("a").data["y"] == [0.7]


def test_a_prepared_run_is_shown_by_changing_properties_not_by_adding_models():
    plot = LossPlot()
    events = Events(plot.figure)
    plot.prepare()
    models = set(events.doc.models)
    renderers = list(plot.figure.renderers)
    assert not any(r.visible for r in run_renderers(plot))  # made ahead, hidden
    assert not any(item.visible for item in plot._parts[0].legend.items)
    plot.add_run("a", {"lr": 0.1}, name="warm-up")
    assert set(events.doc.models) == models and plot.figure.renderers == renderers
    assert all(r.visible for r in plot._lines["a"] + plot._markers["a"])
    assert {r.glyph.line_color for r in plot._lines["a"]} == {plot.color("a")}
    assert {r.glyph.fill_color for r in plot._markers["a"]} == {plot.color("a")}
    assert [(i.label.value, i.visible) for i in plot._parts[0].legend.items] == [
        ("warm-up", True)]
    per_run = len(run_renderers(plot))
    plot.add_run("b", {"lr": 0.2})  # nothing prepared: made on the spot, as before
    assert len(run_renderers(plot)) == 2 * per_run
    assert [i.label.value for i in plot._parts[0].legend.items] == ["warm-up", "b"]


def test_plots_prepare_the_next_run_in_the_round_after_one_was_added():
    plots = Plots()
    plots.prepare()
    plots.add_run("a", {})
    plots.push({"points": points("a", range(3))})  # the run's first round: nothing made
    assert not plots.loss.prepared
    plots.push({"points": points("a", range(3, 6))})
    assert plots.loss.prepared and plots.accuracy.prepared and plots.lr.prepared


def legend_texts(plot, part=0):
    return [item.label.value for item in plot._parts[part].legend.items if item.visible]


def test_legend_names_runs_and_hover_names_what_differs():
    plot = LossPlot()
    plot.add_run("a", {"lr": 0.1, "depth": 2}, name="shallow")
    assert legend_texts(plot) == ["shallow"]
    assert plot._parts[0].curve_hover.tooltips[:2] == [("run", "$name"), ("step", "@step")]
    plot.add_run("b", {"lr": 0.2, "depth": 4, "dropout": 0.5})
    assert legend_texts(plot) == legend_texts(plot, 1) == ["shallow", "b"]  # not the configs
    assert plot.differences == {"a": "depth=2, learning rate=0.1, dropout=0",
                                "b": "depth=4, learning rate=0.2, dropout=0.5"}
    for part in plot._parts:  # linear and log figure: a row per field, read from the line
        assert part.curve_hover.tooltips[:4] == [("run", "$name"), ("depth", "$name{depth}"),
                                                 ("dropout", "$name{dropout}"), ("step", "@step")]
        assert part.curve_hover.formatters["$name"].code == SETTING_JS
    assert {str(line.tags) for line in plot._lines["b"]} == {
        str([{"depth": "4", "lr": "0.2", "dropout": "0.5"}])}
    plot.remove_run("b")
    assert legend_texts(plot) == ["shallow"] and plot.differences == {"a": ""}
    assert plot._parts[0].curve_hover.tooltips[1] == ("step", "@step")
    assert all(line.tags == [] for line in plot._lines["a"])


def alphas(plot, run):
    """Split -> the line alphas of a run's lines in every figure of the plot."""
    found = {}
    for i, line in enumerate(plot._lines[run]):
        found.setdefault(plot.splits[i % len(plot.splits)], set()).add(line.glyph.line_alpha)
    return found


def test_active_run_dims_the_others_and_visibility_hides_a_run():
    plot = LossPlot()
    plot.push(points("a", range(3)) + points("b", range(3)))
    plot.set_active("b")
    assert alphas(plot, "a") == {"train": {DIM_TRAIN_ALPHA}, "val": {DIM_ALPHA}}
    assert alphas(plot, "b") == {"train": {TRAIN_ALPHA}, "val": {1.0}}
    assert {line.glyph.line_width for line in plot._lines["b"]} == {ACTIVE_LINE_WIDTH}
    assert {line.glyph.line_width for line in plot._lines["a"]} == {LINE_WIDTH}
    plot.set_active(None)
    assert alphas(plot, "a") == {"train": {TRAIN_ALPHA}, "val": {1.0}}
    assert {line.glyph.line_width for line in plot._lines["b"]} == {LINE_WIDTH}
    plot.set_visible("a", False)
    assert not any(r.visible for r in plot._lines["a"] + plot._markers["a"])
    assert all(r.visible for r in plot._lines["b"])


def test_log_toggle_swaps_in_a_log_twin_sharing_the_sources():
    plot = LossPlot()
    plot.push(points("a", range(3)))
    assert plot.log_figure is not None and plot.log_figure.y_scale.__class__.__name__ == "LogScale"
    shared = {r.data_source for r in plot.log_figure.renderers}
    assert set(plot.sources("a").values()) <= shared
    doc = Document()
    doc.add_root(plot.layout)
    plot.set_log(True)
    assert plot.layout.children == [plot.log_figure] and plot.shown_figure is plot.log_figure
    assert doc.get_model_by_name("loss_log") is plot.log_figure
    plot.push(points("a", range(3, 6)))  # the twin shows streamed rows too
    assert len(plot.sources("a")["train"].data["step"]) == 6
    plot.set_log(False)
    assert plot.layout.children == [plot.figure]
    assert doc.get_model_by_name("loss") is plot.figure
    with pytest.raises(ValueError):
        AccuracyPlot().set_log(True)


def test_remove_run_and_clear_take_glyphs_and_sources_away():
    plot = LossPlot()
    plot.push(points("a", range(3)) + points("b", range(3)), [change("a", 1)])
    per_run = len(run_renderers(plot)) // 2
    plot.remove_run("a")
    assert len(run_renderers(plot)) == per_run and plot.runs == ["b"]
    assert len(plot.figure.select(type=HoverTool)) == 1 + 1  # b's, and the change markers'
    plot.clear()
    assert run_renderers(plot) == [] and plot.runs == []


def test_lr_plot_draws_one_line_per_run_on_a_log_axis():
    plot = LrPlot()
    plot.push(points("a", range(4), lr=0.1))
    assert lengths(plot, "a") == {"train": 4}
    assert plot.sources("a")["train"].data["y"] == [0.1] * 4
    assert plot.figure.y_scale.__class__.__name__ == "LogScale"


def test_grad_norms_show_one_line_per_layer_of_the_active_run():
    plot = GradNormPlot()
    rows = [{"run": run, "step": step, "layer": f"layer{i}", "grad_norm": 0.1 * (step + 1),
             "weight_norm": 1.0} for run in ("a", "b") for step in range(4) for i in (1, 2)]
    plot.push(rows)
    assert plot.showing == "b"  # newest run, none active
    assert {layer: len(plot.source(layer).data["step"]) for layer in ("layer1", "layer2")} \
        == {"layer1": 4, "layer2": 4}
    events = Events(plot.figure)
    plot.push([{**rows[0], "run": "b", "step": 9}])
    assert len(events.of(ColumnsStreamedEvent, plot.source("layer1"))) == 1
    plot.set_active("a")
    assert plot.source("layer1").data["step"] == [0, 1, 2, 3]  # a's history redrawn
    assert len(plot.figure.renderers) == 2


def test_snapshot_plots_draw_the_shown_runs_latest_row():
    weights, boundary, samples = WeightHistogram(), BoundaryPlot(), SamplesGrid()
    weights.push([{"run": "a", "step": 1, "layers": {"l1": {"edges": [0, 1], "counts": [4]}}},
                  {"run": "a", "step": 2, "layers": {"l1": {"edges": [0, 1, 2],
                                                            "counts": [1, 1]}}}])
    assert weights.source.data["top"] == [0.5, 0.5]
    assert "step 2" in weights.figure.title.text
    boundary.push([{"run": "a", "step": 5, "x0": 0, "y0": 0, "dw": 1, "dh": 1,
                    "z": [[0.2, 0.8]]}])
    assert boundary.image_source.data["image"][0].shape == (1, 2)
    boundary.set_points([[0, 0], [1, 1]], [0, 1], [[0.5, 0.5]], [1])
    assert boundary.train_source.data["value"] == [0.0, 1.0]
    assert len(boundary.val_source.data["x"]) == 1
    samples.push([{"run": "a", "step": 1, "images": [[[0.5]]], "pred": [1], "true": [0],
                   "class_names": []}])
    assert samples.caption_source.data["text"] == ["✗ 1 / 0"]
    samples.remove_run("a")
    assert samples.caption_source.data["text"] == []


LONG_NAMES = ["lr=5 (too high)", "lr=2 (oscillates)", "lr=0.001 (too low)",
              "lr=0.1 (about right)", "constant", "step (halved every 8 epochs)",
              "exponential (x0.85 an epoch)", "cosine", "one-cycle (warm-up, then anneal)",
              "dropout 0.5 with weight decay"]


def test_legends_of_ten_long_names_sit_under_the_plot_as_many_a_row_as_fit():
    plots = Plots()
    for i, name in enumerate(LONG_NAMES):  # configs differing in many fields, as in the issue
        plots.add_run(f"run{i}", {"lr": 0.1 * (i + 1), "batch_size": 16 + i, "depth": 2 + i % 3,
                                  "dropout": 0.05 * i, "optimizer": ["sgd", "adam"][i % 2]},
                      name=name)
    plots.push({"layer_norms": [{"run": "run9", "step": 0, "layer": f"layer{k}",
                                 "grad_norm": 1.0, "weight_norm": 1.0} for k in range(1, 7)]})
    figures = [plots.loss.figure, plots.loss.log_figure, plots.accuracy.figure, plots.lr.figure,
               plots.grad_norms.figure]
    for fig in figures:
        legends = fig.select(type=Legend)
        assert len(legends) == 1 and legends[0] in fig.below, fig.name
        assert not fig.right and not fig.left[1:], fig.name  # nothing beside the plot but its axis
        assert legends[0].orientation == "horizontal" and legends[0].visible
        assert fig.frame_height == FRAME_HEIGHT  # a legend adds height, takes none of the plot
        assert fig.toolbar_inner and fig.toolbar.autohide  # the toolbar never covers the title
    texts = legend_texts(plots.loss)
    assert texts[0] == "lr=5 (too high)" and max(len(text) for text in texts) == MAX_LABEL
    assert plots.loss._parts[0].legend.ncols == 1  # 20 characters: one a row at 1366x768
    assert plots.grad_norms._legend.ncols >= 3  # short layer names: more a row


def test_step_axes_show_few_ticks_in_thousands():
    plots = Plots()
    for fig in (plots.loss.figure, plots.loss.log_figure, plots.accuracy.figure,
                plots.lr.figure, plots.grad_norms.figure):
        axis = fig.xaxis[0]
        assert axis.ticker.desired_num_ticks <= 5
        assert isinstance(axis.formatter, NumeralTickFormatter) and "a" in axis.formatter.format


def test_renaming_a_run_changes_legends_and_hover_names_in_place():
    plots = Plots()
    plots.add_run("a", {"lr": 5.0}, name="lr=5 (too high)")
    plots.add_run("b", {"lr": 0.1})
    plots.push({"points": points("a", range(3)) + points("b", range(3)),
                "layer_norms": [{"run": "a", "step": 0, "layer": "layer1", "grad_norm": 1.0,
                                 "weight_norm": 1.0}]})
    plots.set_active("a")
    doc = Document()
    for layout in plots.figures().values():
        doc.add_root(layout)
    doc.add_root(plots.loss.log_figure)
    models, seen = set(doc.models), []
    doc.on_change(seen.append)
    plots.rename_run("a", "blown up")
    assert set(doc.models) == models  # no model made or dropped
    assert seen and all(isinstance(event, ModelChangedEvent) for event in seen)
    for plot in (plots.loss, plots.accuracy, plots.lr):
        for part in range(len(plot._parts)):
            assert legend_texts(plot, part) == ["blown up", "b"], plot.name
        assert plot._lines["a"][0].name == "blown up (train)"
    assert plots.grad_norms.subtitle.text == "run: blown up"
    plots.add_run("a", {"lr": 5.0})  # a config update without a name keeps the name
    assert legend_texts(plots.loss) == ["blown up", "b"]
    plots.rename_run("a", "a much longer name than a legend can hold")
    assert legend_texts(plots.loss)[0] == "a much longer name…"
    assert plots.loss._lines["a"][0].name == "a much longer name than a legend can hold (train)"
    plots.rename_run("a", None)
    assert legend_texts(plots.loss) == ["a", "b"]


def test_plots_tell_the_runs_table_what_differs():
    plots = Plots()
    plots.add_run("a", {"lr": 5.0, "depth": 2}, name="lr=5 (too high)")
    assert plots.differences == {"a": ""}
    plots.load_history("b", {"lr": 0.1, "depth": 2}, points("b", range(3)), name="lr=0.1")
    assert plots.differences == {"a": "learning rate=5", "b": "learning rate=0.1"}
    assert plots.legend == {"a": "lr=5 (too high)", "b": "lr=0.1"}


def exploding(run, steps=range(0, 60, 10), start=0.7):
    return [point(run, step, split, loss=start * math.exp(step / 5.0))
            for step in steps for split in ("train", "val")]


def lines_of(plot, runs, figure=0):
    """The validation line of each run on one figure: what the loss range follows."""
    per, val = len(plot.splits), plot.splits.index("val")
    return [plot._lines[run][figure * per + val] for run in runs]


def test_a_diverged_run_leaves_the_loss_range_and_is_marked_where_it_left():
    plot = LossPlot()
    # up to 280: short of the trainer's test, so only its status marks it diverged
    plot.push(exploding("a", range(0, 40, 10)) + points("b", range(0, 60, 10), loss=0.9)
              + points("c", range(0, 60, 10), loss=0.4))
    padding = plot.figure.y_range.range_padding
    plot.set_diverged("b", False)  # nothing to undo: the range stays as it is
    # a train line's noisy batches never set the range, only validation lines do
    assert plot.diverged == [] and plot.figure.y_range.renderers == lines_of(plot, "abc")
    plot.set_diverged("a")
    assert plot.diverged == ["a"]
    assert plot.figure.y_range.renderers == lines_of(plot, ["b", "c"])
    assert plot.log_figure.y_range.renderers == lines_of(plot, ["b", "c"], figure=1)
    assert plot.figure.y_range.range_padding != padding  # BokehJS recomputes the range now
    assert plot.figure.y_range.range_padding == pytest.approx(padding)
    exits = plot.exit_source.data
    assert exits["step"] == [0] and exits["y"] == [0.7]  # its last point under b's 0.9
    assert exits["color"] == [plot.color("a")] and exits["text"] == ["diverged"]
    plot.push(points("b", range(60, 70), loss=6.0))  # b climbs: a stays in view longer
    assert plot.exit_source.data["step"] == [10] and plot.exit_source.data["y"][0] < 6.0
    plot.set_visible("a", False)
    assert plot.exit_source.data["step"] == []
    plot.set_visible("a", True)
    plot.set_diverged("b")
    plot.set_diverged("c")  # every run diverged: every run's line sets the range again
    assert plot.figure.y_range.renderers == lines_of(plot, "abc")
    assert plot.log_figure.y_range.renderers == lines_of(plot, "abc", figure=1)
    assert plot.exit_source.data["step"] == [30, 69, 50]  # each at its last point
    plot.set_diverged("b", False)
    plot.set_diverged("c", False)
    plot.add_run("d")  # a new run joins the lines that set the range
    assert plot.figure.y_range.renderers == lines_of(plot, ["b", "c", "d"])
    plot.remove_run("a")
    assert plot.figure.y_range.renderers == lines_of(plot, "bcd")
    assert plot.exit_source.data["step"] == []


def test_a_loss_that_explodes_or_goes_non_finite_is_marked_diverged_from_the_rows():
    plots = Plots()
    plots.push({"points": points("ok", range(5)) + points("nan", range(3))})
    assert plots.loss.diverged == []
    plots.push({"points": [point("nan", 3, loss=math.inf)]})
    assert plots.loss.diverged == ["nan"]
    plots.push({"points": points("big", range(3)) + [point("big", 3, loss=1e5)]})
    assert plots.loss.diverged == ["nan", "big"]
    assert plots.loss.figure.y_range.renderers == lines_of(plots.loss, ["ok"])
    plots.set_status("big", "finished")  # exploded in the rows: left out whatever it says
    assert plots.loss.diverged == ["nan", "big"]
    assert plots.accuracy.figure.y_range.renderers == []  # accuracy does not explode


def test_set_status_marks_a_run_diverged_on_the_loss_plot_only():
    plots = Plots()
    plots.push({"points": points("a", range(3)) + points("b", range(3))})
    plots.set_status("a", "diverged")
    assert plots.loss.diverged == ["a"]
    assert plots.loss.figure.y_range.renderers == lines_of(plots.loss, ["b"])
    for plot in (plots.accuracy, plots.lr):  # an accuracy of 0.3 must not go off the plot
        assert plot.figure.y_range.renderers == []
    # a loss axis starts at 0 (train lines under the validation lines stay in view); a log
    # axis and the other plots find their own start
    assert plots.loss.figure.y_range.start == 0
    for free in (plots.loss.log_figure, plots.accuracy.figure):
        assert math.isnan(free.y_range.start)  # Bokeh's "not set"
    plots.set_status("a", "stopped")
    assert plots.loss.diverged == []
    assert plots.loss.figure.y_range.renderers == lines_of(plots.loss, "ab")
    plots.load_history("a", {}, points("a", range(3)), status="diverged")
    assert plots.loss.diverged == ["a"]


def test_dimmed_runs_stay_visible_on_a_projector():
    assert DIM_ALPHA >= 0.55 and 0.3 <= DIM_TRAIN_ALPHA < TRAIN_ALPHA
    assert ACTIVE_LINE_WIDTH > LINE_WIDTH


def test_grad_norm_legend_forgets_the_layers_of_a_removed_run():
    plot = GradNormPlot()
    deep = [{"run": "deep", "step": 0, "layer": f"layer{i}", "grad_norm": 1.0,
             "weight_norm": 1.0} for i in range(1, 7)]
    shallow = [{**row, "run": "shallow"} for row in deep[:3]]
    plot.push(deep)
    assert plot.layers == [f"layer{i}" for i in range(1, 7)]
    plot.push(shallow)
    plot.set_active("deep")
    assert len(plot.layers) == 6
    plot.remove_run("deep")
    assert plot.showing == "shallow" and plot.layers == ["layer1", "layer2", "layer3"]
    assert [item.label.value for item in plot._legend.items if item.visible] == plot.layers
    assert [line.name for line in plot.figure.renderers if line.visible] == plot.layers
    plot.remove_run("shallow")
    assert plot.layers == [] and not plot._legend.visible
    plot.push(deep[:4])  # a new run brings its layers back, with the same lines
    assert len(plot.layers) == 4 and len(plot.figure.renderers) == 6


# --- the facade ----------------------------------------------------------------------------


def full_batch(run, steps):
    return {
        "points": points(run, steps),
        "layer_norms": [{"run": run, "step": s, "layer": "layer1", "grad_norm": 1.0,
                         "weight_norm": 2.0} for s in steps],
        "events": [change(run, steps[0])],
        "boundary": [{"run": run, "step": steps[-1], "x0": 0, "y0": 0, "dw": 1, "dh": 1,
                      "z": [[0.5]]}],
        "histogram": [{"run": run, "step": steps[-1],
                       "layers": {"layer1": {"edges": [0, 1], "counts": [3]}}}],
        "samples": [{"run": run, "step": steps[-1], "images": [[[0.0]]], "pred": [0],
                     "true": [0], "class_names": ["a"]}],
    }


def test_plots_routes_a_batch_to_every_figure():
    plots = Plots()
    plots.add_run("a", {"lr": 0.1})
    plots.push(full_batch("a", list(range(10))))
    assert lengths(plots.loss, "a") == {"train": 10, "val": 10}
    assert lengths(plots.accuracy, "a") == {"train": 10, "val": 10}
    assert lengths(plots.lr, "a") == {"train": 10}
    assert len(plots.grad_norms.source("layer1").data["step"]) == 10
    assert plots.loss.marker_source("a").data["step"] == [0]
    assert plots.weights.source.data["count"] == [3.0]
    assert len(plots.boundary.image_source.data["image"]) == 1
    assert plots.samples.caption_source.data["correct"] == [True]


def test_plots_give_a_run_one_colour_everywhere_and_ignore_removed_runs():
    plots = Plots()
    plots.push({"points": points("a", range(2)) + points("b", range(2))})
    assert plots.runs == ["a", "b"]
    colors = {plot.color("b") for plot in plots.plots.values()}
    assert colors == {color_at(1)} == {plots.color("b")}
    plots.remove_run("a")
    plots.push({"points": points("a", range(2, 4))})  # a stale run still emitting
    assert plots.runs == ["b"] and "a" not in plots.loss.runs


def test_load_history_thins_a_long_run():
    plots = Plots(max_points=100)
    rows = points("old", range(10_000))
    plots.load_history("old", {"lr": 0.3}, rows)
    train = plots.loss.sources("old")["train"].data["step"]
    assert len(train) == 100 and (train[0], train[-1]) == (0, 9999)
    plots.load_history("old", {"lr": 0.3}, {"points": rows[:20],
                                            "events": [change("old", 5)]})
    assert lengths(plots.loss, "old") == {"train": 10, "val": 10}  # replaced, not appended
    assert plots.loss.marker_source("old").data["step"] == [5]


class GaugeLines(RunPlot):
    """A test figure drawn from whole histories: it notes what it is handed."""

    name = "gauge_lines"

    def __init__(self, max_points, thin):
        super().__init__(max_points, thin)
        self.figure = self.layout = new_figure(self.name, "Gauge", "step", "value")
        self.pushed, self.loaded = [], []

    def push(self, gauges, events):
        self.pushed.append((list(gauges), list(events)))

    def load(self, run_id, gauges, events):
        self.loaded.append((run_id, list(gauges), list(events)))


class GaugeSnapshot(SnapshotPlot):
    """A test figure that shows a run's latest row: it notes what it draws."""

    name = "gauge_snapshot"

    def __init__(self):
        super().__init__()
        self.figure = self.layout = new_figure(self.name, "Gauge", "step", "value")
        self.drawn = []

    def _draw(self, run_id, row):
        self.drawn.append((run_id, row and row["step"]))


def test_a_registered_figure_gets_its_channel_in_push_and_load_history(monkeypatch, caplog):
    """FIGURES is the one registration: a figure added there is built, listed in order and
    fed its channels by push (one call a batch) and load_history (whole history for lines,
    the latest row for a snapshot)."""
    monkeypatch.setattr(dashboard, "FIGURES", (*dashboard.FIGURES,
                                               Figure(GaugeLines, ("gauge", "events")),
                                               Figure(GaugeSnapshot, ("gauge",))))
    plots = Plots()
    assert list(plots.plots)[-2:] == ["gauge_lines", "gauge_snapshot"]
    assert list(plots.figures())[-2:] == ["gauge_lines", "gauge_snapshot"]
    lines, snapshot = plots.gauge_lines, plots.gauge_snapshot

    gauges = [{"run": "a", "step": step, "value": step / 2} for step in range(3)]
    with caplog.at_level(logging.DEBUG, logger="playground.plots.dashboard"):
        plots.push({"gauge": gauges, "stray": [{"step": 0}]})
    assert lines.pushed == [(gauges, [])]  # one call, with every channel it takes
    assert snapshot.latest("a")["step"] == 2 and snapshot.drawn[-1] == ("a", 2)
    assert "ignoring batch key 'stray'" in caplog.text and "'gauge'" not in caplog.text
    assert plots.loss.sources("a")["train"].data["step"] == []  # the others got nothing
    plots.push({"points": points("a", range(2))})
    assert len(lines.pushed) == 1  # not its channel

    history = [{"step": step, "value": 1.0} for step in range(5)]  # rows without a run: its
    other = [{"run": "b", "step": 9, "value": 0.0}]
    plots.load_history("old", {}, {"gauge": history + other, "events": [change("old", 2)]})
    run_id, loaded, events = lines.loaded[-1]
    assert run_id == "old" and [r["step"] for r in loaded] == list(range(5))
    assert {r["run"] for r in loaded} == {"old"} and [e["step"] for e in events] == [2]
    assert snapshot.latest("old") == {"step": 4, "value": 1.0, "run": "old"}  # the latest only
    assert lines.pushed[-1:] == [(gauges, [])]  # loading is not pushing


def test_plots_lock_is_held_while_pushing():
    plots = Plots()
    entered, release = threading.Event(), threading.Event()

    def hold():
        with plots.lock:
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    pusher = threading.Thread(target=plots.push, args=({"points": points("a", range(3))},))
    pusher.start()
    pusher.join(0.2)
    assert pusher.is_alive() and plots.runs == []  # waiting for the lock
    release.set()
    pusher.join(5)
    holder.join(5)
    assert plots.runs == ["a"]


# --- the pump ------------------------------------------------------------------------------


class Feed:
    """A fetch that returns what was queued since the last call, like the run's record."""

    def __init__(self):
        self.queue: list[dict] = []
        self.lock = threading.Lock()

    def add(self, rows):
        with self.lock:
            self.queue.extend(rows)

    def __call__(self):
        with self.lock:
            rows, self.queue = self.queue, []
        return {"points": rows}


def test_pump_hands_all_rows_of_a_tick_to_the_sink_at_once():
    feed, calls = Feed(), []
    pump = Pump(feed, calls.append)
    feed.add(points("a", range(3)))
    feed.add(points("a", range(3, 5)))
    assert pump.tick() is True
    feed.add(points("a", range(5, 6)))
    assert pump.tick() is True
    assert pump.tick() is False  # nothing new: the sink is not called
    assert [len(batch["points"]) for batch in calls] == [10, 2]


def test_pump_feeds_plots_with_one_stream_per_source_per_tick():
    plots, feed = Plots(), Feed()
    plots.add_run("a")
    events = Events(plots.loss.layout)
    pump = Pump(feed, plots.push)
    for step in range(50):  # many rows logged between two ticks
        feed.add(points("a", [step]))
    pump.tick()
    source = plots.loss.sources("a")["train"]
    assert len(source.data["step"]) == 50
    assert len(events.of(ColumnsStreamedEvent, source)) == 1


def test_pump_records_a_failing_sink_and_keeps_going(caplog):
    feed, seen = Feed(), []

    def sink(batch):
        seen.append(batch)
        if len(seen) == 1:
            raise RuntimeError("plot broke")

    pump = Pump(feed, sink)
    feed.add(points("a", [0]))
    with caplog.at_level("ERROR", logger="playground.plots.pump"):
        assert pump.tick() is False
    assert pump.error_count == 1 and str(pump.last_error) == "plot broke"
    assert isinstance(pump.errors[0], RuntimeError)
    assert "plot broke" in caplog.text  # logged, not swallowed
    feed.add(points("a", [1]))
    assert pump.tick() is True
    assert len(seen) == 2 and pump.error_count == 1


def test_pump_thread_runs_batches_survives_errors_and_stops():
    feed, batches = Feed(), []
    failures = {"left": 2}

    def sink(batch):
        if failures["left"]:
            failures["left"] -= 1
            raise ValueError("flaky")
        batches.append(batch)

    pump = Pump(feed, sink, hz=100.0)
    pump.start()
    assert pump.running
    try:
        deadline = time.monotonic() + 5
        step = 0
        while len(batches) < 3 and time.monotonic() < deadline:
            feed.add(points("a", [step]))
            step += 1
            time.sleep(0.01)
    finally:
        pump.stop()
    assert not pump.running
    assert len(batches) >= 3 and pump.error_count == 2
    assert all(isinstance(e, ValueError) for e in pump.errors)
    ticks = pump.ticks
    time.sleep(0.05)
    assert pump.ticks == ticks  # stopped for good


def test_pump_rejects_a_rate_of_zero():
    with pytest.raises(ValueError, match="hz"):
        Pump(dict, print, hz=0)


# --- layering ------------------------------------------------------------------------------


def test_plots_import_neither_torch_nor_the_engine():
    code = ("import sys, playground.plots; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
            "or m.startswith('playground.engine')]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_sources_start_as_lists_so_streams_extend_in_place():
    # Bokeh streams into lists in place; numpy columns would be re-concatenated each time.
    plot = LossPlot()
    plot.add_run("a")
    assert all(isinstance(s, ColumnDataSource) and isinstance(s.data["step"], list)
               for s in plot.sources("a").values())


# A pandas whose import stops halfway until the main thread lets it finish: the state
# scikit-learn leaves pandas in while it imports in the warm-up or training thread.
HALF_IMPORTED_PANDAS = """
import builtins
builtins.pandas_may_finish.wait()
class Series: pass
class DataFrame: pass
class Index: pass
"""

STREAM_DURING_IMPORT = """
import builtins, sys, threading
builtins.pandas_may_finish = threading.Event()
from bokeh.models import ColumnDataSource, HoverTool, Legend, NumeralTickFormatter
from playground.plots.curves import LossPlot
plot = LossPlot()
plot.add_run("a")
importer = threading.Thread(target=__import__, args=("pandas",))
importer.start()
while "pandas" not in sys.modules:
    pass
threading.Timer(0.3, builtins.pandas_may_finish.set).start()
plot.push([{"run": "a", "step": 1, "split": "train", "loss": 0.5}])
assert plot.sources("a")["train"].data["step"] == [1], plot.sources("a")["train"].data
"""


def test_streams_wait_for_pandas_half_imported_by_another_thread(tmp_path):
    fake = tmp_path / "pandas"
    fake.mkdir()
    (fake / "__init__.py").write_text(HALF_IMPORTED_PANDAS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    result = subprocess.run([sys.executable, "-c", STREAM_DURING_IMPORT], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr


def test_the_pure_plot_data_builders_load_no_bokeh():
    import subprocess
    import sys

    code = ("import sys, playground.plots.series, playground.plots.snapshots; "
            "print('bokeh' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_a_new_run_takes_the_first_free_colour():
    colors = ColorCycle()
    assert [colors.get(r) for r in "abc"] == list(PALETTE[:3])
    for run in "abc":
        colors.forget(run)  # the plots were cleared
    assert colors.get("lesson 1") == PALETTE[0]  # a lesson starts from the first colour
    colors.forget("lesson 1")
    assert [colors.get(r) for r in "vwxyz"] == list(PALETTE[:5])
    assert len({colors.get(str(i)) for i in range(3)}) == 3  # distinct until the palette ends
