"""The served app in a real browser: Start, a live learning-rate change, Stop, reload, show.

Reads what the page itself holds (Bokeh's data sources in the browser), not what the kernel
thinks it sent. The screenshot it takes is kept as a CI artifact and shown in the README.
"""

import os
from pathlib import Path

import pytest
from pages import FIGURES_SEEN, FIND_LOSS, LOSS_POINTS, MIN_TICK_GAP_PX, wait_until

from playground.store import RunStore

ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", "artifacts")) / "browser"
CHANGE_MARKERS = """() => {
  """ + FIND_LOSS + """
  const field = (d) => (d instanceof Map ? d.get('field') : d.field);
  return loss.renderers.flatMap(r => Array.from(field(r.data_source.data) || []));
}"""
INPUT_VALUES = "() => Array.from(document.querySelectorAll('input')).map(i => i.value)"


def slider(page, label):
    """The slider whose description is `label` (the contract in DESIGN.md), with its readout."""
    return page.locator(".pg-number", has=page.locator("label", has_text=label)).first


def set_slider(page, label, value):
    """Type into the slider's readout, as a person can; the readout sends it on Enter."""
    readout = slider(page, label).locator(".pg-readout input")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


@pytest.mark.browser
def test_start_change_the_learning_rate_stop_and_find_the_run_again(server, browser, capsys):
    url = server() + "?dataset=spiral&epochs=1000&depth=3"  # settings from the link, too
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    sent = []  # frames the page sends to the kernel
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.goto(url, timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
    assert page.evaluate(LOSS_POINTS) == 0  # nothing trains before Start

    page.get_by_role("button", name="Start").click()
    wait_until(lambda: page.evaluate(LOSS_POINTS) > 0, timeout=30)
    seen, quiet_from = page.evaluate(LOSS_POINTS), len(sent)
    wait_until(lambda: page.evaluate(LOSS_POINTS) > seen, timeout=30)  # it streams
    page.wait_for_timeout(2000)
    # The figures draw one way: no echo of the streams goes back (it was ~100 frames a second).
    assert len(sent) - quiet_from <= 3, sent[quiet_from:][:3]

    set_slider(page, "learning rate", 0.005)  # a gentler rate: the run goes on
    (run,) = RunStore().list_runs()
    assert run.config["dataset"] == "spiral" and run.config["epochs"] == 1000
    wait_until(lambda: any(e["field"] == "lr" for e in RunStore().events(run.id)), timeout=30)
    change = next(e for e in RunStore().events(run.id) if e["field"] == "lr")
    assert change["new"] == pytest.approx(0.005)
    wait_until(lambda: "lr" in page.evaluate(CHANGE_MARKERS), timeout=60)  # marker drawn

    page.get_by_role("button", name="Stop").click()
    wait_until(lambda: RunStore().get(run.id).status == "stopped", timeout=30)
    wait_until(lambda: "stopped" in page.inner_text("body"), timeout=60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "app.png"
    page.screenshot(path=str(screenshot), full_page=True)
    with capsys.disabled():  # the path goes to CI's log, where the artifact is picked up
        print(f"\nbrowser screenshot: {screenshot.resolve()}")

    page.reload(timeout=120_000)  # a new kernel: the run is listed, from the store
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    wait_until(lambda: RunStore().get(run.id).name in page.evaluate(INPUT_VALUES), timeout=60)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
    assert page.evaluate(LOSS_POINTS) == 0  # a session starts clean
    page.locator(".pg-runs .widget-checkbox input").first.check()  # "show"
    wait_until(lambda: page.evaluate(LOSS_POINTS) >= seen, timeout=30)  # its curve comes back


# Counts each redraw of the loss figure's legend entries (BokehJS's LegendView._render_items)
# and each stream into its lines.
COUNT_LEGEND_DRAWS = """() => {
  const [plot] = Bokeh.index.query(v => v.frame != null && v.model.name === 'loss');
  const view = plot.computed_renderer_views
    .find(v => (v.model.type ?? v.model.constructor.__name__) === 'Legend');
  const draw = view._render_items;
  window.legendDraws = 0;
  window.streams = 0;
  view._render_items = function () { window.legendDraws += 1; return draw.call(this); };
  for (const source of new Set(plot.model.renderers.map(r => r.data_source).filter(s => s)))
    source.streaming.connect(() => { window.streams += 1; });
}"""


@pytest.mark.browser
def test_a_stream_leaves_the_legend_alone_and_a_dimmed_run_redraws_it(server, browser):
    """Each stream redrew every legend entry, new canvases each: with ten runs drawn the page
    spent most of its time on it. The legend still follows its lines: a run dimmed when
    another is in focus."""
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(server() + "?epochs=1000", timeout=120_000)
    start = page.get_by_role("button", name="Start")
    start.wait_for(timeout=180_000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
    assert page.evaluate("() => Bokeh.playground_fixes") is True
    for _ in range(2):  # two runs on the plots; the second is in focus
        start.click()
        wait_until(lambda: "running" in page.inner_text(".pg-status"), timeout=60)
        page.get_by_role("button", name="Stop").click()
        wait_until(lambda: "stopped" in page.inner_text(".pg-status"), timeout=60)
    start.click()  # a third streams
    wait_until(lambda: page.evaluate(LOSS_POINTS) > 0, timeout=60)
    # its first seconds set up its lines (colours, widths, the others dimmed: each a redraw)
    page.wait_for_timeout(3000)
    page.evaluate(COUNT_LEGEND_DRAWS)
    wait_until(lambda: page.evaluate("() => window.streams") >= 20, timeout=60)
    assert page.evaluate("() => window.legendDraws") <= 2  # it was one a stream, or more

    focus = page.locator(".widget-dropdown", has=page.locator("label", has_text="focus"))
    focus.locator("select").select_option(index=1)  # an earlier run: the others dim
    wait_until(lambda: page.evaluate("() => window.legendDraws") > 0, timeout=30)
    page.get_by_role("button", name="Stop").click()


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1366, 768), (1920, 1080)])
def test_find_learning_rate_draws_its_curve_and_sets_the_slider(server, browser, width, height):
    """The tools' "find learning rate" tab, as a person uses it: no empty plot before a test
    (it is drawn with the first curve), then the loss against the rate on a readable log
    axis, the suggestion named, and "use it" moving the learning-rate slider to it."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(server(), timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    page.locator(".lm-TabBar-tab", has_text="find learning rate").click()
    find = page.get_by_role("button", name="find learning rate")
    find.wait_for(state="visible", timeout=30_000)
    assert "lr_range" not in page.evaluate(FIGURES_SEEN)
    find.click()
    wait_until(lambda: "suggested learning rate" in page.inner_text("body"), timeout=120)
    wait_until(lambda: page.evaluate(FIGURES_SEEN).get("lr_range", {}).get("lines") == 1,
               timeout=30)
    curve = page.evaluate(FIGURES_SEEN)["lr_range"]
    assert curve["data_width"] >= 0.9 * min(curve["element_width"], width) > 300
    assert curve["y_tick_gap_px"] is None or curve["y_tick_gap_px"] >= MIN_TICK_GAP_PX
    assert curve["y_start"] < curve["y_end"]
    message = page.locator(".widget-html", has_text="suggested learning rate").last
    suggested = float(message.locator("b").first.inner_text())
    page.get_by_role("button", name="use it").click()
    readout = slider(page, "learning rate").locator(".pg-readout input")
    wait_until(lambda: float(readout.input_value()) == pytest.approx(suggested, rel=0.01),
               timeout=30)
    page.evaluate("() => Array.from(Bokeh.index.query(v => v.frame != null && "
                  "v.model.name === 'lr_range')).pop().el.scrollIntoView({block: 'end'})")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"find-learning-rate-{width}.png"))
