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
