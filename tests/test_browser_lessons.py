"""Every lesson played once in a real browser, as an instructor would, judged by its main figure.

Each lesson names the figure that shows its claim (`Lesson.figure`). After Play, with nothing
else pressed, that figure must be readable at 1366x768 and at 1920x1080: most of its width
shows data, its axis range is finite, it holds data, and the data in view is not squeezed
into a sliver by one run that ran away. On every figure shown, no two y tick labels run
together. What is read is BokehJS's own views in the page, not what the kernel sent. A
screenshot of each lesson goes to artifacts/browser/.
"""

import math
import re

import pytest
from pages import FIGURES_SEEN, MIN_TICK_GAP_PX, wait_until
from test_workshop import ARTIFACTS, MIN_DATA_SHARE, open_app, play

from playground.lessons import LESSONS
from playground.store import RunStore

SIZES = ((1366, 768), (1920, 1080))
MIN_SPREAD = 0.25  # of the axis range that the data in view spans (log axes: in decades)
# An image (the decision boundary) keeps its aspect and has a colour bar beside it, which
# legends and curves do not: at 1366x768 its square frame is 64% of the figure's width.
MIN_IMAGE_SHARE = 0.60

# Each visible figure's frame, y range and y axis type, and for each visible glyph with data
# its kind and the finite y values it draws (lines and scatters: the y column; an image: its
# pixel count).
FIGURE_DATA = """(name) => {
  const columns = (d, key) => (d instanceof Map ? d.get(key) : d[key]) || [];
  const kind = (model) => model.type ?? model.constructor.__name__;
  const view = [...Bokeh.index.query(v => v.frame != null && v.model.name === name
    && v.el.getBoundingClientRect().width > 0)][0];
  if (!view) return null;
  const element = view.el.getBoundingClientRect();
  const canvas = view.canvas_view.el.getBoundingClientRect();
  const frame = view.frame.bbox;
  const left = Math.max(canvas.left + frame.left, element.left, 0);
  const right = Math.min(canvas.left + frame.left + frame.width, element.right,
                         window.innerWidth);
  const glyphs = view.model.renderers.filter(r => r.visible && r.data_source && r.glyph)
    .map(r => {
      const glyph = kind(r.glyph);
      const data = r.data_source.data;
      if (glyph === 'Image') {
        const images = columns(data, 'image');
        return {kind: glyph, name: r.name, ys: [], pixels: images.length
          ? (images[0].length ?? 0) : 0};
      }
      const field = r.glyph.y && r.glyph.y.field;
      const ys = field ? Array.from(columns(data, field)).filter(Number.isFinite) : [];
      return {kind: glyph, name: r.name, ys: ys, pixels: 0};
    }).filter(g => g.ys.length > 0 || g.pixels > 0);
  return {element_width: element.width, data_width: Math.max(0, right - left),
          y_start: view.model.y_range.start, y_end: view.model.y_range.end,
          log: kind(view.model.y_scale) === 'LogScale', glyphs: glyphs};
}"""


SCROLL_TO = """(name) => {
  const named = (v) => v.model.name === name || v.model.name === name + '_log';
  const view = [...Bokeh.index.query(v => v.frame != null && named(v)
    && v.el.getBoundingClientRect().width > 0)][0];
  if (view) view.el.scrollIntoView({block: 'center'});
}"""


def figure_data(page, name):
    """The lesson figure as the page shows it (its log twin when that one is shown)."""
    return page.evaluate(FIGURE_DATA, name) or page.evaluate(FIGURE_DATA, f"{name}_log")


def unreadable(figure):
    """Why a person could not read `figure` (a list of reasons; empty when it is readable)."""
    if figure is None:
        return ["the figure is not on the page"]
    problems = []
    share = figure["data_width"] / figure["element_width"]
    image = any(glyph["pixels"] for glyph in figure["glyphs"])
    if share < (MIN_IMAGE_SHARE if image else MIN_DATA_SHARE):
        problems.append(f"only {share:.0%} of its width shows data")
    start, end = figure["y_start"], figure["y_end"]
    if not (math.isfinite(start) and math.isfinite(end) and end > start):
        return [*problems, f"y range {start}..{end} is not a range"]
    if not figure["glyphs"]:
        return [*problems, "no data drawn"]
    if image:
        return problems  # an image fills its frame: its colours are its data
    scale = (lambda y: math.log10(y)) if figure["log"] else (lambda y: y)
    if figure["log"] and start <= 0:
        return [*problems, f"log axis starts at {start}"]
    low, high = scale(start), scale(end)
    in_view = [scale(y) for glyph in figure["glyphs"] for y in glyph["ys"]
               if start <= y <= end and (y > 0 or not figure["log"])]
    if not in_view:
        return [*problems, f"no data inside the y range {start:.3g}..{end:.3g}"]
    spread = (max(in_view) - min(in_view)) / (high - low)
    if spread < MIN_SPREAD:
        problems.append(f"the data in view spans {spread:.0%} of the axis ({start:.3g}.."
                        f"{end:.3g}): squeezed flat")
    return problems


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(1500)  # eleven lessons, each trained in the page
def test_every_lesson_plays_and_its_main_figure_reads_clearly(server, browser):
    page = open_app(browser, server())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for lesson in LESSONS.values():
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        play(page, lesson.name)
        statuses = {run.name: run.status for run in reversed(RunStore().list_runs())
                    if run.name in lesson.labels}  # the newest of a label last: this play's
        wait_until(lambda name=lesson.figure: (figure_data(page, name) or {}).get("glyphs"),
                   timeout=60)
        # the lesson's words are on the page beside its plots
        first_words = re.sub(r"<[^>]+>", "", lesson.explanation)[:60]
        if first_words not in page.inner_text("body"):
            problems.setdefault(lesson.name, []).append("its explanation is not shown")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(800)  # Bokeh lays out again after a resize
            figure = figure_data(page, lesson.figure)
            for reason in unreadable(figure):
                problems.setdefault(lesson.name, []).append(
                    f"{lesson.figure} at {width}x{height}: {reason} (runs: {statuses})")
            for name, seen in page.evaluate(FIGURES_SEEN).items():
                gap = seen["y_tick_gap_px"]
                if gap is not None and gap < MIN_TICK_GAP_PX:
                    problems.setdefault(lesson.name, []).append(
                        f"{name} at {width}x{height}: y tick labels {gap:.0f} px apart")
            page.evaluate(SCROLL_TO, lesson.figure)  # the screenshot shows the figure
            page.screenshot(path=str(ARTIFACTS / f"lesson-{lesson.name}-{width}.png"))
    assert problems == {}, problems
