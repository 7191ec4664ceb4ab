"""5. Long runs stay bounded.

- Browser side: 100,000 steps of rows pushed through `Plots.push` in pump-sized batches;
  the longest line a data source holds, against `max_points`, the first step still drawn
  (lines are thinned, so a long run's start stays in view), and the time of a late push
  against an early one.
- Kernel side: resident memory of a fresh process training 100,000 steps with the Runner,
  its RunRecord, the app's probes and Plots fed by the pump, against after 10,000 steps.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._common import Config, Figure, median, rss_mb, run_child, wait_until
from playground.engine.trainer import LOG_EVERY  # steps between layer-norm samples

ITEM = "5 long runs"
STEPS_PER_BATCH = 200  # rows per pump tick: 2,000 steps/s at 10 Hz
VAL_EVERY = 25  # the trainer validates at the end of each epoch of moons: 25 steps
LAYERS = 3


def _batch(run: str, first: int, last: int) -> dict[str, list[dict[str, Any]]]:
    """The rows the trainer logs for steps first..last-1, as the pump hands them on."""
    points, norms = [], []
    for step in range(first, last):
        row = {"run": run, "step": step, "epoch": step // 25, "lr": 0.01, "seconds": step / 2000}
        points.append({**row, "split": "train", "loss": 1 / (1 + step), "accuracy": 0.9})
        if step % VAL_EVERY == 0:
            points.append({**row, "split": "val", "loss": 1 / (1 + step), "accuracy": 0.9})
        if step % LOG_EVERY == 0:
            norms += [{"run": run, "step": step, "layer": f"layer{i + 1}", "grad_norm": 0.1,
                       "weight_norm": 1.0} for i in range(LAYERS)]
    return {"points": points, "layer_norms": norms}


def points_per_line(config: Config) -> Figure:
    from bokeh.models import ColumnDataSource

    from playground.plots import Plots
    from playground.plots.widget import FigureGrid

    steps = config.pick(10_000, 100_000)
    plots = Plots()
    view = FigureGrid(plots.figures())  # streamed patches are serialised, as in the app
    plots.add_run("long", {})
    push_s = []
    for first in range(0, steps, STEPS_PER_BATCH):
        batch = _batch("long", first, first + STEPS_PER_BATCH)
        start = time.perf_counter()
        plots.push(batch)
        push_s.append(time.perf_counter() - start)
    lengths = [len(next(iter(source.data.values()), [])) for source in
               {model for figure in plots.figures().values()
                for model in figure.references()} if isinstance(source, ColumnDataSource)]
    del view  # closing it here as well makes its __del__ fail (jupyter_bokeh closes twice)
    tenth = max(len(push_s) // 10, 1)
    early, late, longest = median(push_s[:tenth]), median(push_s[-tenth:]), max(lengths)
    first_step = plots.loss.sources("long")["train"].data["step"][0]
    return Figure(ITEM, "longest line in the browser / max points per line, points",
                  longest / plots.max_points, target="<= 1", ok=longest <= plots.max_points,
                  raw={"steps_pushed": steps, "longest_line": longest,
                       "first_step_in_view": first_step,
                       "max_points": plots.max_points, "points_held": sum(lengths),
                       "push_ms_early": 1000 * early, "push_ms_late": 1000 * late,
                       "late_over_early_push": late / early})


def memory(small: int, large: int, device: str, wait_s: float) -> dict[str, Any]:
    """In a fresh process: RSS after `small` and after `large` training steps of the app's
    engine side (Runner, record, probes, Plots through the pump)."""
    from playground.config import HParams
    from playground.engine.probes import default_probes
    from playground.engine.runner import Runner
    from playground.plots import Plots, Pump
    from playground.plots.widget import FigureGrid

    # 4,000 training points: 125 steps an epoch, so 1,000 epochs outlast 100,000 steps
    runner = Runner(HParams(samples=5000, epochs=1000), device=device,
                    callbacks=default_probes())
    plots = Plots()
    view = FigureGrid(plots.figures())
    pump = Pump(runner.record.reader().fetch, plots.push)
    pump.start()
    runner.start()
    start, result = time.perf_counter(), {}
    try:
        for name, steps in (("small", small), ("large", large)):
            wait_until(lambda steps=steps: runner.trainer is not None
                       and runner.trainer.step >= steps, wait_s, f"{steps} steps", poll=0.05)
            result[f"rss_mb_{name}"] = rss_mb()
            result[f"steps_{name}"] = runner.trainer.step
            result[f"seconds_{name}"] = time.perf_counter() - start
        held = runner.record._rows  # rows per channel, and their size (the newest row's x rows)
        result["record_rows"] = {channel: len(rows) for channel, rows in held.items()}
        result["record_mb"] = {channel: len(rows) * _deep_size(rows[-1]) / 2**20
                               for channel, rows in held.items() if rows}
    finally:
        pump.stop()
        runner.stop()
        del view  # closing it here as well makes its __del__ fail (jupyter_bokeh closes twice)
    return result


def _deep_size(obj: Any) -> int:
    """Bytes of a row of plain dicts, lists, strings and numbers."""
    import sys

    if isinstance(obj, dict):
        return sys.getsizeof(obj) + sum(_deep_size(k) + _deep_size(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return sys.getsizeof(obj) + sum(_deep_size(item) for item in obj)
    return sys.getsizeof(obj)


def kernel_memory(config: Config) -> Figure:
    small, large = config.pick((200, 1_000), (10_000, 100_000))
    wait_s = config.pick(60, 1800)
    result = run_child("benchmarks.long_runs.memory", wait_s + 120, small=small, large=large,
                       device=config.device, wait_s=wait_s)
    ratio = result["rss_mb_large"] / result["rss_mb_small"]
    return Figure(ITEM, f"RSS after {large:,} steps / after {small:,}", ratio,
                  target="<= 1.25", ok=ratio <= 1.25,
                  raw=result, note="rows and MiB the live record holds per channel: in the JSON")


def run(config: Config) -> list[Figure]:
    return [points_per_line(config), kernel_memory(config)]
