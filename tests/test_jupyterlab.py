"""The app in a real JupyterLab 4, judged by what a person sees in Chromium at 1366x768.

A notebook runs `Playground()`; Start streams lines into the loss figure. Then what people do
in Lab: save and reload the page with the kernel still running, open "Create New View for Cell
Output", run the cell again, save. Every view of the app must stream (read from BokehJS's views
in the page), the kernel must keep one pump, and the saved notebook must stay small.
Screenshots (light and dark theme) go to artifacts/browser/lab-*.png.
"""

import json
import os
from pathlib import Path

import pytest
from lab import CELL_OUTPUT, KERNEL_IDLE, jupyter_lab, lab_command, notebook, open_notebook
from pages import FIGURES_SEEN, wait_until

ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", "artifacts")) / "browser"
THREADS = "import threading\nprint(sorted(t.name for t in threading.enumerate()))"
# Points of all lines in each view of the figure named "loss", one number per view.
LOSS_VIEWS = """() => [...Bokeh.index.query(v => v.model.name === 'loss' && v.frame != null)]
  .map(v => v.model.renderers.map(r => r.data_source && r.data_source.data)
    .map(d => (d instanceof Map ? d.get('step') : d && d.step) || [])
    .reduce((total, steps) => total + steps.length, 0))"""
SAVED = "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
MAX_NOTEBOOK_BYTES = 1_000_000
MIN_FIGURE_PX = 400  # a figure's width in Lab's default layout: titles and legends whole
MIN_LR_SLIDER_PX = 240  # six decades of learning rate, 40 px a decade
LR_SLIDER = """() => {
  const control = [...document.querySelectorAll('.pg-number')]
    .find(e => e.querySelector('label')?.innerText === 'learning rate');
  return control.querySelector('.slider-container').getBoundingClientRect().width;
}"""


def streaming(page, views=1, timeout=60):
    """Wait until `views` views of the loss figure hold points and all of them grow."""
    page.wait_for_function("() => window.Bokeh && Bokeh.index", timeout=timeout * 1000)
    wait_until(lambda: len(page.evaluate(LOSS_VIEWS)) >= views
               and min(page.evaluate(LOSS_VIEWS)) > 0, timeout)
    before = page.evaluate(LOSS_VIEWS)
    wait_until(lambda: all(now > then for now, then in zip(page.evaluate(LOSS_VIEWS), before)),
               timeout)


def save(page):
    lab_command(page, "docmanager:save")
    page.wait_for_function(SAVED, timeout=30_000)


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lab-{name}.png"))


@pytest.mark.browser
@pytest.mark.slow
def test_every_view_streams_a_rerun_replaces_the_app_and_the_notebook_stays_small(
        browser, tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    path = notebook(root / "app.ipynb", "from playground import Playground\nPlayground()",
                    THREADS)
    with jupyter_lab(root) as url:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        open_notebook(page, url, "app.ipynb")
        lab_command(page, "notebook:run-all-cells")
        start = page.locator(".widget-button", has_text="Start").first
        start.wait_for(timeout=180_000)
        start.click()
        streaming(page)
        # A second run: its lines are made now, after the figures were first sent.
        page.locator(".widget-button", has_text="Stop").first.click()
        wait_until(lambda: "stopped" in page.evaluate(CELL_OUTPUT, 0), timeout=60)
        start.click()
        streaming(page)
        wait_until(lambda: page.evaluate(FIGURES_SEEN)["loss"]["lines"] >= 2, timeout=60)
        figures = page.evaluate(FIGURES_SEEN)
        # Lab's default width (file browser open) at 1366 px: room for titles, ticks, slider.
        for name, seen in figures.items():
            assert seen["element_width"] >= MIN_FIGURE_PX, (name, seen)
            if name in ("loss", "accuracy", "lr", "grad_norms"):  # curves (boundary: square)
                assert seen["data_width"] >= 0.7 * seen["element_width"], (name, seen)
        assert page.evaluate(LR_SLIDER) >= MIN_LR_SLIDER_PX
        page.locator(".bk-Figure").first.scroll_into_view_if_needed()
        shot(page, "light")

        # Saved and reloaded, the kernel still running: the new page's views stream too.
        save(page)
        page.reload(timeout=120_000)
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        streaming(page)
        wait_until(lambda: page.evaluate(FIGURES_SEEN)["loss"]["lines"] >= 2, timeout=60)

        # A second view of the cell's output, in the same page: both stream.
        lab_command(page, "notebook:create-output-view")
        streaming(page, views=2)
        shot(page, "two-views")
        lab_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_timeout(1500)
        shot(page, "dark")
        lab_command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})

        # The cell run again: the previous app is closed, one pump is left in the kernel.
        lab_command(page, "notebook:run-all-cells")
        wait_until(lambda: "playground-plots-pump" in page.evaluate(CELL_OUTPUT, 1)
                   and "Start" in page.evaluate(CELL_OUTPUT, 0), timeout=120)
        threads = page.evaluate(CELL_OUTPUT, 1)
        assert threads.count("playground-plots-pump") == 1, threads

        # Saved with the app run: small, and no BokehJS in it.
        save(page)
        saved = path.read_text()
        assert len(saved.encode()) < MAX_NOTEBOOK_BYTES, len(saved)
        assert "bokeh.min.js" not in saved
        assert json.loads(saved)["cells"][0]["outputs"]  # the app's output was saved
