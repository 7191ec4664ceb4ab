"""4. Responsiveness: how soon the app does what it was asked.

- learning-rate change (Runner.update) to its first use, in steps (from the recorded rows)
  and in ms (polling the optimizer), against the time of one step in the same run;
- Runner.stop() to the end of the training thread, against stopping a bare loop thread
  (an Event checked between steps) in the same run;
- Start clicked in the browser (Voilà app, Chromium) to the first point drawn, against the
  engine alone (Runner.start to the first recorded point) in the same run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from benchmarks._common import ROOT, Config, Figure, median, wait_until

ITEM = "4 responsiveness"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def _running_runner(device: str, **changes: Any) -> Any:
    from playground.config import HParams
    from playground.engine.runner import Runner

    runner = Runner(HParams(epochs=1000, **changes), device=device)
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step >= 20, 120,
               "run started")
    return runner


def lr_change(config: Config) -> Figure:
    changes = config.pick(5, 20)
    runner = _running_runner(config.device)
    reader = runner.record.reader()
    steps, latencies = [], []
    try:
        trainer = runner.trainer
        step0, start = trainer.step, time.perf_counter()
        for i in range(changes):
            time.sleep(0.05)
            lr = 0.02 if i % 2 == 0 else 0.01
            before = trainer.step
            asked = time.perf_counter()
            runner.update(lr=lr)
            wait_until(lambda lr=lr: trainer.optimizer.param_groups[0]["lr"] == lr, 30,
                       "new learning rate in the optimizer", poll=0.0001)
            latencies.append(time.perf_counter() - asked)
            first = _first_row(reader, lambda row, lr=lr, before=before:
                               row["split"] == "train" and row["step"] > before and row["lr"] == lr)
            steps.append(first - before)  # 1: the very next update used it
        step_s = (time.perf_counter() - start) / max(trainer.step - step0, 1)
    finally:
        runner.stop()
    ms = 1000 * median(latencies)
    return Figure(ITEM, "lr change to first use / one step, time", ms / (1000 * step_s),
                  target="steps_max <= 2 (next step)", ok=max(steps) <= 2,
                  raw={"steps_median": median(steps), "steps_max": max(steps), "ms_median": ms,
                       "ms_max": 1000 * max(latencies), "step_ms": 1000 * step_s,
                       "changes": changes},
                  note="steps = first update with the new rate - updates done when asked: "
                       "1-2 is the next step (the one in flight keeps the old rate)")


def _first_row(reader: Any, matches: Any, timeout: float = 30) -> int:
    """Step of the first recorded point row that matches (rows arrive every 10 steps)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        for row in reader.fetch().get("points", []):
            if matches(row):
                return row["step"]
        time.sleep(0.005)
    raise TimeoutError("no recorded row with the new learning rate")


def stop(config: Config) -> Figure:
    repeats = config.pick(3, 10)
    ours, bare = [], []
    for _ in range(repeats):
        runner = _running_runner(config.device)
        start = time.perf_counter()
        runner.stop()
        ours.append(time.perf_counter() - start)
        if runner.active:
            raise RuntimeError("Runner.stop returned with the thread still alive")
        bare.append(_bare_stop_seconds(runner.trainer.data, config.device))
    ms = 1000 * median(ours)
    return Figure(ITEM, "Runner.stop to thread end / bare loop thread stop, time",
                  median(ours) / median(bare), target="ms_median < 100", ok=ms < 100,
                  raw={"ms_median": ms, "ms_max": 1000 * max(ours),
                       "bare_ms_median": 1000 * median(bare), "repeats": repeats})


def _bare_stop_seconds(data: Any, device: str) -> float:
    """Stop a hand-written training thread that checks an Event between steps."""
    from benchmarks.app_overhead import BareLoop
    from playground.config import HParams

    loop, stop_event = BareLoop(data, HParams(), device), threading.Event()

    def train() -> None:
        while not stop_event.is_set():
            loop.step()

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    time.sleep(0.2)
    start = time.perf_counter()
    stop_event.set()
    thread.join()
    return time.perf_counter() - start


def engine_first_point(config: Config) -> list[float]:
    """Seconds from Runner.start to the first recorded point, a few times (warm)."""
    from playground.config import HParams
    from playground.engine.runner import Runner
    from playground.engine.warmup import warm_up

    warm_up()
    times = []
    for _ in range(3):
        runner = Runner(HParams(), device=config.device)
        reader = runner.record.reader()
        start = time.perf_counter()
        runner.start()
        wait_until(lambda reader=reader: reader.fetch().get("points"), 60, "first point")
        times.append(time.perf_counter() - start)
        runner.stop()
    return times


def app_first_point(config: Config) -> list[float]:
    """Seconds from Playground.start (in this process, no browser) to the first point in the
    loss figure's data sources, twice: the kernel side of the browser figure."""
    from playground.app import Playground
    from playground.store import RunStore

    home = tempfile.mkdtemp(prefix="home-", dir=os.environ.get("PLAYGROUND_HOME"))
    app = Playground(device=config.device, store=RunStore(os.path.join(home, "runs.sqlite")))

    def points() -> int:
        return sum(len(r.data_source.data.get("step", [])) for r in app.plots.loss.figure.renderers)

    times = []
    try:
        for _ in range(2):
            before, start = points(), time.perf_counter()
            app.start()
            wait_until(lambda before=before: points() > before, 60, "first point in the app")
            times.append(time.perf_counter() - start)
            app.stop()
    finally:
        app.close()
    return times


CLICK_AND_WAIT = """async (button) => {
    const figures = () => Bokeh.documents.map(d => d.get_model_by_name('loss')).filter(f => f);
    const lines = () => figures().reduce(
        (n, f) => n + f.renderers.filter(r => r.visible).length, 0);
    const points = () => figures().reduce((n, f) => n + f.renderers.reduce(
        (m, r) => m + (r.data_source.get_length() || 0), 0), 0);
    const [linesBefore, pointsBefore] = [lines(), points()];  // saved runs may be drawn
    const start = performance.now();
    let linesMs = -1;
    button.click();
    while (points() <= pointsBefore) {
        if (linesMs < 0 && lines() > linesBefore) linesMs = performance.now() - start;
        if (performance.now() - start > 60000) return [linesMs, -1];
        await new Promise(resolve => setTimeout(resolve, 5));
    }
    const pointMs = performance.now() - start;
    return [linesMs < 0 ? pointMs : linesMs, pointMs];  // the lines may come with the points
}"""


STOP = "button[title^='End the run']"  # the toolbar's Stop (the search panel has another)
START = "button[title^='Start a new run']"
BROWSER_MEASURE = "Start to first point in the browser{} / engine alone, time"


def browser(config: Config) -> list[Figure]:
    """Three clicks per tab, each timed to the first new point of the loss figure:
    'cold', Start as soon as the page shows (one tab: the kernel's background warm-up
    imports are still running); 'settled', Start once the page has been open `settle`
    seconds, as a person reading it would (judged); 'again', Start after Stop in that tab."""
    if config.quick and not config.browser:
        return [Figure(ITEM, BROWSER_MEASURE.format(""), None, target="settled_ms < 1500",
                       note="skipped in --quick (add --browser to run it)")]
    from playwright.sync_api import sync_playwright

    tabs, settle = config.pick((1, 2.0), (3, 10.0))
    port = _free_port()
    home = tempfile.mkdtemp(prefix="home-", dir=os.environ.get("PLAYGROUND_HOME"))
    server = subprocess.Popen(
        [sys.executable, "-m", "playground.cli", "serve", "--no-browser", "--port", str(port)]
        + (["--threads", str(config.threads)] if config.threads > 0 else []),
        cwd=ROOT, env={**os.environ, "PLAYGROUND_HOME": home},  # no saved runs on the plots
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    clicks: dict[str, list[float]] = {"cold": [], "settled": [], "again": []}
    lines, loads = [], []
    try:
        wait_until(lambda: _listening(port), 120, "voila listening", poll=0.1)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                  args=BROWSER_ARGS)
            try:
                for tab in range(tabs + 1):  # a new tab each time: a new kernel, a new app
                    page = chromium.new_page()
                    loads.append(_open(page, port))
                    first = "cold" if tab == 0 else "settled"
                    if first == "settled":
                        time.sleep(settle)
                    new_lines, first_point = _click_start(page)
                    lines.append(new_lines)
                    clicks[first].append(first_point)
                    _stop(page)
                    clicks["again"].append(_click_start(page)[1])
                    _stop(page)  # a closed tab's kernel lives on for a grace period: idle
                    page.close()
            finally:
                chromium.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # Voilà and the kernels it started
        server.wait(30)
    if min(min(times) for times in clicks.values()) < 0:
        raise TimeoutError("no point reached the browser within 60 s of Start")
    engine, app = median(engine_first_point(config)), median(app_first_point(config))
    raw = {"engine_ms": 1000 * engine, "app_in_process_ms": 1000 * app,
           "page_load_s": median(loads), "tabs": tabs + 1, "settle_s": settle}
    settled, cold, again = (median(clicks[key]) for key in ("settled", "cold", "again"))
    each = {f"{key}_each_ms": [round(1000 * t) for t in times] for key, times in clicks.items()}
    return [
        Figure(ITEM, BROWSER_MEASURE.format(f" (page open {settle:g} s)"), settled / engine,
               target="settled_ms < 1500", ok=settled < 1.5,
               raw={"settled_ms": 1000 * settled, "new_lines_ms": 1000 * median(lines), **raw,
                    **each}),
        Figure(ITEM, BROWSER_MEASURE.format(" (Start as soon as the page shows)"),
               cold / engine, raw={"cold_ms": 1000 * cold, "engine_ms": 1000 * engine},
               note="the kernel's background warm-up imports (torch._dynamo, scikit-learn) "
                    "are still running"),
        Figure(ITEM, BROWSER_MEASURE.format(" (Start again after Stop)"), again / engine,
               target="again_ms < 1500", ok=again < 1.5,
               raw={"again_ms": 1000 * again, "engine_ms": 1000 * engine}),
    ]


def _open(page: Any, port: int) -> float:
    """Load the app in `page` until its Start button and loss figure are there; seconds."""
    start = time.perf_counter()
    page.goto(f"http://127.0.0.1:{port}/", timeout=180_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.some("
                           "d => d.get_model_by_name('loss'))", timeout=180_000)
    return time.perf_counter() - start


def _stop(page: Any) -> None:
    """Click the toolbar's Stop once it is enabled; wait until Start is enabled again."""
    enabled = "s => { const b = document.querySelector(s); return b && !b.disabled; }"
    page.wait_for_function(enabled, arg=STOP, timeout=60_000)
    page.evaluate("s => document.querySelector(s).click()", STOP)
    page.wait_for_function(enabled, arg=START, timeout=60_000)
    time.sleep(1.0)  # the stopped run's last rows are drawn by now


def _click_start(page: Any) -> tuple[float, float]:
    """Click Start; seconds until the loss figure has a new line, and a new point."""
    button = page.get_by_role("button", name="Start").element_handle()
    new_lines, first_point = page.evaluate(CLICK_AND_WAIT, button)
    return new_lines / 1000, first_point / 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(config: Config) -> list[Figure]:
    return [lr_change(config), stop(config), *browser(config)]
