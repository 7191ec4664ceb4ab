"""Your own model in the page: notebooks/your_own_model.ipynb served by Voilà, in Chromium.

What a person sees: the line saying which controls are hidden and why, no slider for what
the model sets itself, and the loss curves of their model drawn after Start.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pages import FIGURES_SEEN, free_port, wait_until

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "your_own_model.ipynb"
ARTIFACTS = Path(os.environ.get("PLAYGROUND_ARTIFACTS", "artifacts")) / "browser"


@pytest.fixture
def own_model_page(playground_home, tmp_path):
    port = free_port()
    log = (tmp_path / "voila.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--Voila.token=", "--VoilaExecutor.iopub_timeout=120"],
        env=os.environ.copy(), start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "voila/static/", timeout=2)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.3)
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)
    log.close()


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_your_model_trains_in_the_page_and_hidden_controls_are_explained(
        own_model_page, browser, size):
    width, height = size
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(own_model_page, timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    text = page.inner_text("body")
    assert ("dataset, noise, outliers, samples, train fraction, classes, labels / class: "
            "hidden, your own data") in text
    assert "depth, activation, initialisation, batch norm: hidden, your function does not " \
        "read it" in text
    labels = page.locator(".pg-number label").all_inner_texts()
    assert "width" in labels and "dropout" in labels and "depth" not in labels
    page.get_by_role("button", name="Start").click()

    def loss_lines():
        loss = page.evaluate(FIGURES_SEEN).get("loss")
        return loss if loss and loss["lines"] >= 2 else None  # train and validation

    wait_until(loss_lines, timeout=60)
    loss = loss_lines()
    assert loss["data_width"] >= 0.7 * loss["element_width"]  # the plot keeps room for data
    assert loss["legend"] == ["run 1"]
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"own-model-{width}.png"))
    page.get_by_role("button", name="Stop").click()
