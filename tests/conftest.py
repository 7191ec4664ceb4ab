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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so a fixture can tell that the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "report_" + report.when, report)


@pytest.fixture
def server(playground_home, tmp_path, request):
    """`start(*flags)` runs `playground serve` on a free port and returns its URL. When the
    test fails, the server's log is printed with it."""
    started = []
    log_path = tmp_path / "serve.log"
    log = log_path.open("ab")

    def start(*flags):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "playground.cli", "serve", "--no-browser", "--port", str(port),
             *flags], env=os.environ.copy(), start_new_session=True,
            stdout=log, stderr=subprocess.STDOUT)
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
    log.close()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(f"--- playground serve log ({log_path}), last 60 lines ---")
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-60:]))


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright (Playwright cannot download its own here)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium missing: `make browser` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
