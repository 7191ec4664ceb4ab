"""The benchmark harness (benchmarks/): its report and table, and one cheap item end to end.
No timing is judged here; `python -m benchmarks --quick` in CI runs every item."""

from __future__ import annotations

import json

import pytest

from benchmarks import _common, run
from benchmarks._common import Config, Figure


def test_report_and_table_hold_every_figure(tmp_path):
    figures = [Figure("1 app overhead", "app / bare, steps/s", 0.97, ">= 0.95", True,
                      raw={"app_steps_per_s": 812.345678, "pair_ratios": [0.9, 1.0]}),
               Figure("3 races", "K=16: separate / race", None, ">= 6", note="not available")]
    machine = {"cpu": "Test CPU", "usable_cores": 2, "torch": "2.x", "torch_threads": 1,
               "python": "3.11", "load_average": (1.0, 1.0, 1.0),
               "load_average_end": (2.0, 1.0, 1.0), "commit": "abc", "dirty": False}
    out = tmp_path / "results" / "latest.json"
    _common.write_report(out, Config(), machine, figures, 12.3)
    report = json.loads(out.read_text())
    assert report["mode"] == "full" and report["machine"]["cpu"] == "Test CPU"
    assert report["figures"][0]["raw"]["app_steps_per_s"] == 812.3  # 4 significant digits
    table = _common.table(figures).splitlines()
    assert len(table) == 2 + len(figures)
    assert "| 0.97 | >= 0.95 | yes |" in table[2] and "pair_ratios" not in table[2]
    assert "| n/a |" in table[3] and "not available" in table[3]
    out_in_repo = _common.ROOT / "benchmarks" / "results" / "latest.json"
    page = _common.markdown(Config(), machine, figures, 600, out_in_repo)
    assert "Test CPU, 2 cores" in page and "not measured" in page and table[2] in page


def test_one_cheap_item_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))  # run.main moves it
    out = tmp_path / "quick.json"
    assert run.main(["--quick", "--only", "search", "--threads", "0", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())["figures"]
    assert [f["item"] for f in figures] == ["6 search", "6 search"]
    assert all(f["ratio"] > 0 for f in figures)


def test_the_page_while_streaming_is_reported_even_when_skipped():
    """--quick without --browser (CI): both figures are in the report, named, with their
    targets, and say why they were not measured."""
    from benchmarks import responsiveness

    figures = responsiveness.streaming(Config(quick=True))
    assert [f.measure for f in figures] == [
        "main thread in long tasks / window, a run streaming, 1 run drawn",
        "main thread in long tasks / window, a run streaming, 10 runs drawn"]
    assert [f.target for f in figures] == ["<= 0.25", "<= 0.5"]
    assert all(f.ratio is None and "--browser" in f.note for f in figures)


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_while_streaming_is_measured_in_chromium():
    """`--quick --browser`: a run streams into a real page, alone and beside 9 saved runs; the
    long-task share, frames a second and a Pause click's time come back as numbers."""
    from benchmarks import responsiveness

    figures = responsiveness.streaming(Config(quick=True, browser=True))
    assert [f.raw["runs_drawn"] for f in figures] == [1, 10]
    for figure in figures:
        assert 0 <= figure.ratio <= 1 and figure.ok in (True, False)
        assert figure.raw["fps"] > 0 and figure.raw["steps_drawn_per_s"] > 0  # it streamed
        assert figure.raw["click_ms"] is None or figure.raw["click_ms"] > 0
