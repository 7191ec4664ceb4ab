"""What browser tests share: Chromium's launch settings and reading the page's Bokeh data."""

import socket
import time

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The figure named "loss" in the page (each figure is a Bokeh document of its own).
FIND_LOSS = """const loss = Bokeh.documents.map(d => d.get_model_by_name('loss')).find(f => f);"""
# Points of the longest line on the figure named "loss", as the browser holds them.
LOSS_POINTS = """() => {
  """ + FIND_LOSS + """
  if (!loss) return 0;
  const steps = (d) => (d instanceof Map ? d.get('step') : d.step) || [];
  return Math.max(0, ...loss.renderers.map(r => steps(r.data_source.data).length));
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout):
    """Poll `condition` until it holds; fail after `timeout` seconds (a bound, not a speed test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.25)

# What a person sees of each figure, read from BokehJS's own views: where the data area (the
# frame) lands on screen, clipped to the figure's element and the window, its y range, and
# how many visible lines hold data, and how far past the element's right edge (or the
# window's) a legend's entries reach: cut off there. A canvas can grow wider than its element
# (legends did that), so frame.bbox.width alone overstates what shows.
# Between two tick labels of a y axis, at the least: a 13pt label is about 17 px high, and
# the gradient-norm axis's 0.6 and 0.7 once stood 7 px apart, one over the other.
MIN_TICK_GAP_PX = 17
FIGURES_SEEN = """() => {
  const columns = (d, key) => (d instanceof Map ? d.get(key) : d[key]) || [];
  const kind = (model) => model.type ?? model.constructor.__name__;
  const seen = {};
  for (const view of Bokeh.index.query(v => v.frame != null && v.model.name)) {
    const element = view.el.getBoundingClientRect();
    if (element.width === 0 || element.height === 0) continue;  // a hidden figure
    const canvas = view.canvas_view.el.getBoundingClientRect();
    const frame = view.frame.bbox;
    const left = Math.max(canvas.left + frame.left, element.left, 0);
    const right = Math.min(canvas.left + frame.left + frame.width, element.right,
                           window.innerWidth);
    const lines = view.model.renderers.filter(r => r.visible && r.data_source != null
      && r.glyph && kind(r.glyph) === 'Line'
      && columns(r.data_source.data, r.glyph.y?.field ?? 'y').length > 1);
    const plot = view.model;
    const legends = [...plot.center, ...plot.below, ...plot.right, ...plot.left, ...plot.above]
      .filter(m => kind(m) === 'Legend');
    const legend_right = Math.max(canvas.left, ...view.computed_renderer_views
      .filter(v => kind(v.model) === 'Legend' && v.model.visible && v.bbox)
      .map(v => canvas.left + v.bbox.right));
    // the closest two major tick labels of a vertical axis come, in pixels (null: fewer than two)
    const tick_gaps = view.computed_renderer_views
      .filter(v => v.model.visible && v.panel != null && v.panel.is_vertical && 'tick_coords' in v)
      .map(v => v.scoords(v.tick_coords.major)[1].slice().sort((a, b) => a - b))
      .flatMap(ys => ys.slice(1).map((y, i) => y - ys[i]));
    seen[view.model.name] = {
      element_width: element.width, data_width: Math.max(0, right - left),
      legend_cut_px: Math.max(0, legend_right - Math.min(element.right, window.innerWidth)),
      y_tick_gap_px: tick_gaps.length ? Math.min(...tick_gaps) : null,
      y_end: view.model.y_range.end, y_start: view.model.y_range.start,
      lines: lines.length, line_names: lines.map(r => r.name),
      legend: legends.flatMap(legend => legend.visible ? legend.items : [])
        .filter(i => i.visible !== false && i.renderers.some(r => r.visible))
        .map(i => i.label && (i.label.value ?? i.label)),
    };
  }
  return seen;
}"""
