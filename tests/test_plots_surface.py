"""The loss-surface figures draw the probe's rows: a line a run in each slice figure, the
2-D grid of the shown run; and the app's refresh button fills the grid in the background."""

import time

import pytest

from playground.config import HParams
from playground.plots import Plots
from playground.plots.surface import RISE_CAP, grid_info, slice_columns

ALPHAS = [-0.5, -0.25, 0.0, 0.25, 0.5]
STEPS = [-2.0, -1.0, -0.5, 0.0, 1.0]


def surface(run, kind="random", step=10, scale=1.0):
    alphas = STEPS if kind == "step" else ALPHAS
    return {"run": run, "step": step, "kind": kind, "alpha": alphas,
            "loss": [0.1 + scale * a * a for a in alphas]}


def test_a_slice_is_drawn_as_the_rise_from_the_weights_now():
    columns = slice_columns(surface("a", scale=2.0))
    assert columns["x"] == ALPHAS and columns["y"][2] == 0.0
    assert columns["y"][0] == pytest.approx(0.5) and columns["loss"][0] == pytest.approx(0.6)
    step = slice_columns(surface("a", "step", scale=2.0))  # to its own height: top at 1
    assert max(step["y"]) == pytest.approx(1.0) and step["y"][3] == 0.0
    start = {"kind": "start", "alpha": [0.0, 1.0], "loss": [2.0, 0.5]}
    assert slice_columns(start)["y"] == [1.5, 0.0]  # from the start: 1 is now
    wild = {"kind": "random", "alpha": [-1.0, 0.0], "loss": [1e9, 0.1]}
    assert slice_columns(wild)["y"][0] == RISE_CAP  # one wild line cannot flatten the rest


def test_every_run_gets_a_line_in_each_slice_figure():
    plots = Plots()
    assert plots.loss_surface.figure.name == "loss_surface"
    assert plots.loss_surface.path_figure.name == "loss_surface_path"
    plots.push({"surface": [surface("a"), surface("a", "step"), surface("b", scale=3.0)]})
    random_a = plots.loss_surface.source("a").data
    assert random_a["x"] == ALPHAS and random_a["y"][2] == 0.0
    assert plots.loss_surface.source("b").data["y"][0] == pytest.approx(0.75)
    assert plots.loss_surface.source("a", "step").data["x"] == STEPS
    assert plots.loss_surface.source("b", "step").data["x"] == []  # none yet
    plots.push({"surface": [surface("a", step=5, scale=9.0)]})  # older: kept out
    assert plots.loss_surface.source("a").data["y"][0] == pytest.approx(0.25)
    legend = [item.label.value for item in plots.loss_surface._slices[0].legend.items]
    assert legend == [plots.legend["a"], plots.legend["b"]]


def test_the_lower_figure_switches_between_the_last_step_and_the_start():
    plots = Plots()
    start = {"run": "a", "step": 3, "kind": "start", "alpha": [0.0, 0.5, 1.0],
             "loss": [0.7, 0.3, 0.2]}
    plots.push({"surface": [surface("a", "step", step=3), start]})
    plot = plots.loss_surface
    assert plot.path_kind == "step" and plot.path_figure.title.text == "Loss along the last step"
    plot.set_path("start")
    assert plot.source("a", "start").data["y"] == pytest.approx([0.5, 0.1, 0.0])
    assert plot.path_figure.title.text == "Loss from the start to now"
    with pytest.raises(ValueError, match="allowed: step, start"):
        plot.set_path("sideways")


def test_a_diverged_or_removed_run_leaves_the_surface():
    plots = Plots()
    plots.push({"surface": [surface("a"), surface("b")]})
    plots.set_status("b", "diverged")
    assert [line.visible for line in plots.loss_surface._lines["b"]] == [False, False]
    plots.remove_run("b")
    assert plots.loss_surface.runs == ["a"] and len(
        plots.loss_surface._slices[0].legend.items) == 1


def test_the_grid_shows_the_shown_runs_latest_row():
    plots = Plots()
    assert plots.loss_grid.subtitle.text == "press refresh loss surface"
    row = {"run": "a", "step": 12, "alpha": [-1.0, 0.0, 1.0], "beta": [-1.0, 0.0, 1.0],
           "loss": [[3.0, 2.0, 3.0], [2.0, 0.5, 2.0], [3.0, 2.0, 3.0]]}
    plots.push({"surface_2d": [row]})
    info = grid_info(row)
    assert (info.x, info.dw, info.low, info.high) == (-1.5, 3.0, 0.5, 3.0)
    assert plots.loss_grid.source.data["image"][0].tolist() == row["loss"]
    assert plots.loss_grid.subtitle.text == "a, step 12"  # the run and when: not the title
    assert plots.loss_grid.figure.title.text == "Loss in 2-D"


def test_refresh_loss_surface_fills_the_grid_of_the_current_run():
    from playground.app import Playground

    app = Playground(HParams(samples=200, epochs=2), device="cpu")
    app.pump.stop()  # ticked here
    try:
        app.refresh_surface()
        assert "press Start first" in app.message.value
        app.start()
        app.runner.wait(60)
        app.refresh_surface()
        app.jobs.wait(60)
        deadline = time.monotonic() + 60
        while app.plots.loss_grid.latest(app.runner.run_id) is None:
            assert time.monotonic() < deadline
            app.pump.tick()
        assert app.plots.loss_grid.source.data["image"]
        run_id = app.runner.run_id
        assert app.plots.loss_surface.source(run_id).data["x"]  # slices of the run's end
        assert app.plots.loss_surface.source(run_id, "step").data["x"]
    finally:
        app.close()
