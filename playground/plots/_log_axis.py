"""Log axes that read clearly: few ticks, spaced apart, each labelled with its value.

The ticks and labels are JavaScript that BokehJS runs as it draws (CustomJSTicker and
CustomJSTickFormatter, public Bokeh models); tests/test_log_axis.py runs it in Chromium.
"""

from __future__ import annotations

from bokeh.models import Axis, CustomJSTicker, CustomJSTickFormatter

# Major ticks of a log axis: the mantissas of the densest of these sets that puts at most six
# ticks in view (0.02, 0.05, 0.1, 0.2, 0.5 over 1.5 decades), else every k-th power of ten.
# With six at most, labels stand about 30 px apart or more on a 230 px axis.
LOG_MAJOR_JS = """
const low = Math.min(cb_data.start, cb_data.end), high = Math.max(cb_data.start, cb_data.end);
if (!(low > 0) || !Number.isFinite(high)) return [];
const sets = [[1, 2, 3, 4, 5, 6, 8], [1, 2, 3, 5], [1, 2, 5], [1]];
const first = Math.floor(Math.log10(low)), last = Math.ceil(Math.log10(high));
const ticks = (mantissas, every) => {
  const found = [];
  for (let power = first; power <= last; power++) {
    if (power % every !== 0) continue;
    for (const mantissa of mantissas) {
      const tick = Number((mantissa * 10 ** power).toPrecision(6));
      if (tick >= low && tick <= high) found.push(tick);
    }
  }
  return found;
};
for (const mantissas of sets) {
  const found = ticks(mantissas, 1);
  if (found.length <= 6) return found;
}
for (let every = 2; ; every++) {
  const found = ticks([1], every);
  if (found.length <= 6) return found;
}
"""
# A tick's label: 10 to a power (superscript) when every tick is a power of ten and one is
# 1,000 or 0.001 or beyond; else the number itself (0.02, 0.5, 20, 5e-7).
LOG_LABEL_JS = """
const power = (t) => Math.log10(t);
const exact = ticks.every((t) => Math.abs(power(t) - Math.round(power(t))) < 1e-9);
if (exact && ticks.some((t) => Math.abs(Math.round(power(t))) >= 3)) {
  const digits = {"-": "\u207b", 0: "\u2070", 1: "\u00b9", 2: "\u00b2", 3: "\u00b3",
                  4: "\u2074", 5: "\u2075", 6: "\u2076", 7: "\u2077", 8: "\u2078",
                  9: "\u2079"};
  return "10" + [...String(Math.round(power(tick)))].map((c) => digits[c]).join("");
}
return String(Number(tick.toPrecision(3)));
"""
# Minor ticks: 2 to 9 times each power of ten in view, over at most six decades.
LOG_MINOR_JS = """
const low = Math.min(cb_data.start, cb_data.end), high = Math.max(cb_data.start, cb_data.end);
if (!(low > 0) || !Number.isFinite(high) || Math.log10(high / low) > 6) return [];
const minor = [];
for (let power = Math.floor(Math.log10(low)); power <= Math.ceil(Math.log10(high)); power++) {
  for (let mantissa = 2; mantissa <= 9; mantissa++) {
    const tick = mantissa * 10 ** power;
    if (tick >= low && tick <= high) minor.push(tick);
  }
}
return minor;
"""


def log_ticks(axis: Axis) -> None:
    """Ticks for a log axis that stay readable however few decades it spans (LOG_MAJOR_JS).
    BokehJS ticks a log axis spanning under two decades as a linear one, in tenths: on a
    gradient-norm axis 0.1 to 0.5 bunched at the top, their labels 7 to 16 px apart at
    1366x768, and nothing marked the decade below."""
    axis.ticker = CustomJSTicker(major_code=LOG_MAJOR_JS, minor_code=LOG_MINOR_JS)
    # BokehJS's LogTickFormatter writes a lone 0.5 as 10^0 (it rounds each tick's exponent)
    axis.formatter = CustomJSTickFormatter(code=LOG_LABEL_JS)
