"""Log axes: ticks that stay readable over any number of decades, labels that say the tick.

The tick and label code is JavaScript that BokehJS runs (`CustomJSTicker`,
`CustomJSTickFormatter`); it is run here in Chromium as BokehJS calls it.
"""

import math

import pytest

from playground.plots._base import new_figure
from playground.plots._log_axis import LOG_LABEL_JS, LOG_MAJOR_JS, LOG_MINOR_JS
from playground.plots.gradnorms import GradNormPlot

RUN = """([major, minor, label, start, end]) => {
  const cb_data = {start, end};
  const ticks = new Function("cb_data", major)(cb_data);
  const format = new Function("tick", "index", "ticks", label);
  return {major: ticks, minor: new Function("cb_data", minor)({...cb_data, major_ticks: ticks}),
          labels: ticks.map((tick, index) => format(tick, index, ticks))};
}"""


@pytest.fixture
def ticks(browser):
    page = browser.new_page()

    def run(start, end):
        return page.evaluate(RUN, [LOG_MAJOR_JS, LOG_MINOR_JS, LOG_LABEL_JS, start, end])

    yield run
    page.close()


def test_a_log_figure_uses_the_readable_ticks():
    for fig in (new_figure("x", "x", "step", "y", y_axis_type="log"), GradNormPlot().figure):
        axis = fig.yaxis[0]
        assert axis.ticker.major_code == LOG_MAJOR_JS
        assert axis.formatter.code == LOG_LABEL_JS
    assert not hasattr(new_figure("x", "x", "step", "y").yaxis[0].ticker, "major_code")


@pytest.mark.browser
@pytest.mark.parametrize("start, end, major, labels", [
    # a gradient-norm axis over 1.5 decades: BokehJS's own ticks were 0.1 ... 0.5 in tenths
    (0.02, 0.55, [0.02, 0.05, 0.1, 0.2, 0.5], ["0.02", "0.05", "0.1", "0.2", "0.5"]),
    (0.3, 0.85, [0.3, 0.4, 0.5, 0.6, 0.8], ["0.3", "0.4", "0.5", "0.6", "0.8"]),
    (0.45, 0.55, [0.5], ["0.5"]),  # one tick: its value, not 10⁰
    (2e-5, 3, [1e-4, 1e-3, 1e-2, 0.1, 1], ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]),
    (0.01, 100, [0.01, 0.1, 1, 10, 100], ["0.01", "0.1", "1", "10", "100"]),
    (1e-3, 1e3, [1e-2, 1, 100], ["0.01", "1", "100"]),  # seven powers: every other one
    (1e-12, 1e3, [1e-12, 1e-9, 1e-6, 1e-3, 1, 1e3],  # 15 decades: every third power
     ["10⁻¹²", "10⁻⁹", "10⁻⁶", "10⁻³", "10⁰", "10³"]),
    (3, 0.3, [0.3, 0.5, 1, 2, 3], ["0.3", "0.5", "1", "2", "3"]),  # a flipped range
])
def test_log_ticks_are_few_spaced_and_labelled_with_their_value(ticks, start, end, major, labels):
    drawn = ticks(start, end)
    assert drawn["major"] == pytest.approx(major)
    assert drawn["labels"] == labels
    low, high = sorted((start, end))
    assert all(low <= tick <= high for tick in drawn["major"] + drawn["minor"])
    gaps = [math.log10(b / a) for a, b in zip(drawn["major"], drawn["major"][1:])]
    decades = math.log10(high / low)
    # on a 230 px axis, about 30 px between labels at the least (a 13pt label is 17 px high)
    assert all(gap / decades * 230 >= 25 for gap in gaps), gaps


@pytest.mark.browser
def test_a_log_axis_without_a_positive_range_has_no_ticks(ticks):
    assert ticks(0, 1)["major"] == [] and ticks(-1, 1)["minor"] == []
