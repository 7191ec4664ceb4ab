import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from pages import CHROMIUM, CHROMIUM_ARGS, free_port

# Tests train tiny models: one thread is as fast, and several test processes (or agents)
# sharing two cores do not slow each other down by oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def playground_home(tmp_path, monkeypatch):
    """Every test gets its own PLAYGROUND_HOME, so runs and data never touch the user's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def forget_custom_table():
    """A table given to dataset "custom" lives for the process: drop it after each test."""
    yield
    from playground import data
    data.use_table(None)


@pytest.fixture
def server(playground_home):
    """`start(*flags)` runs `playground serve` on a free port and returns its URL."""
    started = []

    def start(*flags):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "playground.cli", "serve", "--no-browser", "--port", str(port),
             *flags], env=os.environ.copy(), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        start.pid = process.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/", timeout=2)
            except urllib.error.HTTPError:
                return f"http://127.0.0.1:{port}/"  # it answers
            except OSError:
                time.sleep(0.3)
                continue
            return f"http://127.0.0.1:{port}/"
        raise AssertionError("playground serve did not answer within 60 s")

    yield start
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright (Playwright cannot download its own here)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium missing: `make browser` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
