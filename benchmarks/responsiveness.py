"""4. Responsiveness: how soon the app does what it was asked.

- learning-rate change (Runner.update) to its first use, in steps (from the recorded rows)
  and in ms (polling the optimizer), against the time of one step in the same run;
- Runner.stop() to the end of the training thread, against stopping a bare loop thread
  (an Event checked between steps) in the same run;
- Start clicked in the browser (Voilà app, Chromium) to the first point drawn, against the
  engine alone (Runner.start to the first recorded point) in the same run;
- the page while a run streams, with 1 run and with 10 runs drawn: the share of a window the
  page's main thread spends in long tasks (PerformanceObserver "longtask", over 50 ms each),
  frames a second (requestAnimationFrame) and a Pause click until the status line says
  paused. `python -m benchmarks.responsiveness --levers base unfixed pump_hz=5` measures
  the same with changes to the app or the page (see KERNEL_LEVERS, PAGE_LEVERS), interleaved.
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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks._common import ROOT, Config, Figure, median, rounded, wait_until

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
    home = tempfile.mkdtemp(prefix="home-", dir=os.environ.get("PLAYGROUND_HOME"))
    clicks: dict[str, list[float]] = {"cold": [], "settled": [], "again": []}
    lines, loads = [], []
    with _serving(config, home) as port:  # a new home: no saved runs on the plots
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
               note="the kernel's background warm-up import (torch._dynamo) is "
                    "still running"),
        Figure(ITEM, BROWSER_MEASURE.format(" (Start again after Stop)"), again / engine,
               target="again_ms < 1500", ok=again < 1.5,
               raw={"again_ms": 1000 * again, "engine_ms": 1000 * engine}),
    ]


# --- the page while a run streams --------------------------------------------------------------

# Installed before any page script runs: every long task of the main thread (over 50 ms, from
# the start: buffered) and a count of animation frames.
PAGE_PERF = """(() => {
  const perf = window.__pgPerf = {longtasks: [], frames: 0, observing: false};
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries()) perf.longtasks.push([e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
    perf.observing = true;
  } catch (error) { perf.error = String(error); }
  const frame = () => { perf.frames += 1; requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
})();"""

# Over a window of `ms`: the time in long tasks (the part inside the window), the frames drawn,
# and how far the newest step on the loss figure moved on (the run kept streaming).
PAGE_WINDOW = """async (ms) => {
  const perf = window.__pgPerf;
  const sleep = (t) => new Promise(resolve => setTimeout(resolve, t));
  const column = (d, key) => (d instanceof Map ? d.get(key) : d[key]) || [];
  const newest = () => Math.max(0, ...Bokeh.documents.map(d => d.get_model_by_name('loss'))
    .filter(f => f).flatMap(f => f.renderers).filter(r => r.data_source)
    .map(r => { const steps = column(r.data_source.data, 'step');
                return steps.length ? steps[steps.length - 1] : 0; }));
  const [t0, f0, s0] = [performance.now(), perf.frames, newest()];
  await sleep(ms);
  const [t1, f1, s1] = [performance.now(), perf.frames, newest()];
  await sleep(200);  // a long task is reported once it has ended
  let busy = 0, count = 0, longest = 0;
  for (const [start, duration] of perf.longtasks) {
    const inside = Math.min(start + duration, t1) - Math.max(start, t0);
    if (inside > 0) { busy += inside; count += 1; longest = Math.max(longest, duration); }
  }
  return {window_ms: t1 - t0, busy_ms: busy, long_tasks: count, longest_ms: longest,
          frames: f1 - f0, steps: s1 - s0, observing: perf.observing};
}"""

# Times a real click (the browser's input queue included: event.timeStamp is when the input
# came in) until the status line says `word`.
PAGE_CLICK_WATCH = """(word) => {
  const perf = window.__pgPerf;
  perf.clickAt = null; perf.shownAt = null;
  document.addEventListener('pointerdown', e => { perf.clickAt ??= e.timeStamp; },
                            {capture: true, once: true});
  const said = () => (document.querySelector('.pg-status')?.textContent || '').includes(word);
  const observer = new MutationObserver(() => {
    if (perf.clickAt != null && said()) { perf.shownAt = performance.now(); observer.disconnect(); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

# Runs drawn on the loss figure: its legend's entries.
PAGE_RUNS_DRAWN = """() => {
  const loss = Bokeh.documents.map(d => d.get_model_by_name('loss')).find(f => f);
  if (!loss) return 0;
  const legends = [...loss.center, ...loss.below, ...loss.right, ...loss.left, ...loss.above]
    .filter(m => (m.type ?? m.constructor.__name__) === 'Legend');
  return legends.reduce((n, l) => n + l.items.filter(i => i.renderers.some(r => r.visible))
    .length, 0);
}"""

SCROLL_TO_TOP = """() => { for (const e of [document.scrollingElement, ...document.querySelectorAll(
  '*')]) if (e && e.scrollTop) e.scrollTop = 0; }"""  # Voilà's lab template scrolls a panel
PAUSE = "button[title^='Pause at the next step']"
DRAWN = (1, 10)  # runs on the plots while one streams: the new run alone, and 9 saved beside it
STREAM_MEASURE = "main thread in long tasks / window, a run streaming, {} drawn"
STREAM_TARGETS = {1: 0.25, 10: 0.50}


def streaming(config: Config, levers: str = "") -> list[Figure]:
    """A run that trains until Stop streams into the page for a window, first alone on the
    plots (a fresh tab), then with 9 saved runs ticked "show" beside it (another fresh tab).
    `levers` ("+"-joined KERNEL_LEVERS and PAGE_LEVERS) change the app or the page for an
    experiment; "" measures the app as it is."""
    measures = {n: STREAM_MEASURE.format("1 run" if n == 1 else f"{n} runs") for n in DRAWN}
    if config.quick and not config.browser:
        return [Figure(ITEM, measures[n], None, target=f"<= {STREAM_TARGETS[n]:g}",
                       note="skipped in --quick (add --browser to run it)") for n in DRAWN]
    from playwright.sync_api import sync_playwright

    window, warm = config.pick((4.0, 2.0), (10.0, 3.0))  # seconds
    home = tempfile.mkdtemp(prefix="home-", dir=os.environ.get("PLAYGROUND_HOME"))
    _saved_runs(home, max(DRAWN) - 1)
    found: dict[int, dict[str, Any]] = {}
    env, page_levers = _levers(levers)
    with _serving(config, home, env) as port, sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=BROWSER_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1366, "height": 768})
            context.add_init_script(PAGE_PERF)
            if "unfixed" in page_levers:
                context.add_init_script(PAGE_UNFIXED)
            for drawn in DRAWN:
                page = context.new_page()  # a new tab: a new kernel, a clean session
                _open(page, port)
                _show_saved(page, drawn - 1)
                _click_start(page)
                time.sleep(warm)  # past the first points: the run streams steadily
                found[drawn] = page.evaluate(PAGE_WINDOW, int(1000 * window))
                found[drawn]["runs_drawn"] = page.evaluate(PAGE_RUNS_DRAWN)
                found[drawn]["click_ms"] = _click_until_said(page, PAUSE, "paused")
                _stop(page)
                page.close()
        finally:
            chromium.close()
    figures = []
    for drawn, seen in found.items():
        if not seen["observing"]:
            raise RuntimeError("this Chromium reports no long tasks (PerformanceObserver)")
        share, seconds = seen["busy_ms"] / seen["window_ms"], seen["window_ms"] / 1000
        figures.append(Figure(
            ITEM, measures[drawn], share, target=f"<= {STREAM_TARGETS[drawn]:g}",
            ok=share <= STREAM_TARGETS[drawn],
            raw={"fps": seen["frames"] / seconds, "click_ms": seen["click_ms"],
                 "long_tasks": seen["long_tasks"], "longest_ms": seen["longest_ms"],
                 "busy_ms": seen["busy_ms"], "window_s": seconds,
                 "steps_drawn_per_s": seen["steps"] / seconds, "runs_drawn": seen["runs_drawn"]},
            note="click_ms: Pause clicked (the browser's input time) until the status line "
                 "says paused" + (" (None: not within 60 s)" if seen["click_ms"] is None else "")
                 + (f"; levers: {levers}" if levers else "")))
    return figures


# --- levers: what might make the page lighter, tried one at a time ----------------------------

# In the app's kernel (benchmarks/_levers/sitecustomize.py): "webgl" (curve figures drawn by
# Bokeh's WebGL backend), "webgl_all", "pump_hz=N" (the plots' pump rate, 2 in the app),
# "max_points=N" (points a line keeps, 5000), "no_surface" (no loss-surface figures). In the
# page: "unfixed" (BokehJS without the app's two fixes, BOKEHJS_FIXES_JS in
# playground/plots/_compat.py: the page as it was before them). The fixes began as two page
# levers here, "style" and "legend". WebGL here is SwiftShader (Chromium runs with
# --disable-gpu): slower, and it left the accuracy and lr figures blank.
KERNEL_LEVERS = ("webgl", "webgl_all", "pump_hz", "max_points", "no_surface")
PAGE_LEVERS = ("unfixed",)
LEVERS_PATH = ROOT / "benchmarks" / "_levers"
# The app fixes BokehJS once a page has it, unless it finds the fixes marked as made.
PAGE_UNFIXED = """(() => {
  let bokeh;
  const mark = (value) => { if (value) value.playground_fixes = true; return value; };
  Object.defineProperty(window, 'Bokeh', {configurable: true, enumerable: true,
                                          get() { return bokeh; },
                                          set(value) { bokeh = mark(value); }});
})();"""


def _levers(levers: str) -> tuple[dict[str, str] | None, list[str]]:
    """The server's environment and the page levers for `levers` ("pump_hz=5+unfixed")."""
    names = [lever for lever in levers.split("+") if lever and lever != "base"]
    unknown = [n for n in names if n.split("=")[0] not in KERNEL_LEVERS + PAGE_LEVERS]
    if unknown:
        raise ValueError(f"levers: {unknown} not known; known: "
                         f"{', '.join(KERNEL_LEVERS + PAGE_LEVERS)}")
    kernel = [n for n in names if n.split("=")[0] in KERNEL_LEVERS]
    env = {"PYTHONPATH": os.pathsep.join([str(LEVERS_PATH), os.environ.get("PYTHONPATH", "")]),
           "PLAYGROUND_BENCH_LEVERS": ";".join(kernel)} if kernel else None
    return env, [n for n in names if n in PAGE_LEVERS]


def compare_levers(config: Config, levers: list[str], repeats: int) -> list[dict[str, Any]]:
    """Each of `levers` measured `repeats` times, interleaved (the load drifts): a row per
    measurement with the machine's load average at its start."""
    rows = []
    for repeat in range(repeats):
        for lever in levers:
            load = os.getloadavg()[0]
            for figure in streaming(config, lever):
                rows.append({"lever": lever or "base", "repeat": repeat, "load": load,
                             "share": figure.ratio, **figure.raw})
                print(" ".join(f"{key}={value}" for key, value in rounded(rows[-1], 3).items()),
                      flush=True)
    return rows


def _saved_runs(home: str, count: int) -> None:
    """`count` finished runs in `home`'s store: a race of learning rates (a few seconds)."""
    if count < 1:
        return
    values = ",".join(f"{0.001 * 1.5 ** i:.4g}" for i in range(count))
    subprocess.run([sys.executable, "-m", "playground.cli", "race", "--field", "lr",
                    "--values", values, "--json"], cwd=ROOT, check=True, timeout=300,
                   env={**os.environ, "PLAYGROUND_HOME": home}, stdout=subprocess.DEVNULL)


def _show_saved(page: Any, count: int) -> None:
    """Tick "show" on `count` of the race's saved runs in the runs table; wait until drawn."""
    if count < 1:
        return
    rows = page.locator(".pg-runs .widget-hbox").filter(
        has=page.locator(".widget-checkbox input"))
    rows.nth(count - 1).wait_for(timeout=60_000)
    for ticked in range(count):  # one at a time: a drawn run may move in the table
        for i in range(rows.count()):  # the race's runs ("lr=..."), not an earlier tab's run
            row = rows.nth(i)
            box = row.locator(".widget-checkbox input")
            if (row.locator("input[type=text]").input_value().startswith("lr=")
                    and not box.is_checked()):
                box.check(timeout=60_000)
                break
        page.wait_for_function(f"() => ({PAGE_RUNS_DRAWN})() >= {ticked + 1}",
                               timeout=60_000)
    page.evaluate(SCROLL_TO_TOP)  # the view of a fresh tab (ticking scrolled the table in)
    time.sleep(1.0)  # their histories are drawn; the page is quiet again


def _click_until_said(page: Any, selector: str, word: str) -> float | None:
    """Click the button at `selector` with the mouse; ms until the status line says `word`
    (None: not within a minute)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate(PAGE_CLICK_WATCH, word)
    page.locator(selector).click(timeout=60_000)  # scrolled to, then a real mouse click
    try:
        page.wait_for_function("() => window.__pgPerf.shownAt != null", timeout=60_000)
    except PlaywrightTimeout:
        return None  # not within a minute: reported as such, the other numbers still stand
    return page.evaluate("() => window.__pgPerf.shownAt - window.__pgPerf.clickAt")


@contextmanager
def _serving(config: Config, home: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """`playground serve` on a free port with PLAYGROUND_HOME `home`; yields the port once
    Voilà listens, and ends Voilà and the kernels it started."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "playground.cli", "serve", "--no-browser", "--port", str(port)]
        + (["--threads", str(config.threads)] if config.threads > 0 else []),
        cwd=ROOT, env={**os.environ, "PLAYGROUND_HOME": home, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: _listening(port), 120, "voila listening", poll=0.1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # Voilà and the kernels it started
        server.wait(30)


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
    return [lr_change(config), stop(config), *browser(config), *streaming(config)]


if __name__ == "__main__":  # python -m benchmarks.responsiveness --levers base unfixed
    import argparse
    import json
    import shutil

    from benchmarks import _common

    parser = argparse.ArgumentParser(description="the page while a run streams, per lever")
    parser.add_argument("--levers", nargs="+", default=["base"],
                        help="'+'-joined levers per measurement: " + ", ".join(
                            ("base",) + KERNEL_LEVERS + PAGE_LEVERS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a 3 s window instead of 10 s")
    parser.add_argument("--out", help="also write the rows here (JSON lines)")
    args = parser.parse_args()
    _common.set_threads(1)
    os.environ["PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="playground-bench-")
    try:
        rows = compare_levers(Config(quick=args.quick, browser=True), args.levers, args.repeats)
    finally:
        shutil.rmtree(os.environ["PLAYGROUND_HOME"], ignore_errors=True)
    if args.out:
        with open(args.out, "a") as out:
            out.writelines(json.dumps(rounded(row)) + "\n" for row in rows)
