"""Shared helpers: settings, timing (repeat, take the median), child processes, machine info,
the JSON report and the markdown table.

Every figure is a ratio against a baseline measured in the same run, with the raw numbers
beside it: this machine is shared and noisy, and only a ratio taken side by side means much.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Config:
    """What every item is told: quick (CI, seconds per item) or full, and where to train."""

    quick: bool = False
    device: str = "cpu"
    browser: bool = False  # quick mode drives Chromium only when asked
    threads: int = 1  # torch threads in every process of the run (0: torch's default)

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Figure:
    """One line of the report: a ratio against a baseline measured in the same run."""

    item: str  # "1 app overhead"
    measure: str  # what is divided by what
    ratio: float | None  # None: not measured (the note says why)
    target: str = ""  # what the ratio (or a raw number named here) should meet
    ok: bool | None = None  # None: no target, or not measured
    raw: dict[str, Any] = field(default_factory=dict)  # the numbers behind it, units in keys
    note: str = ""


# --- timing ------------------------------------------------------------------------------------

def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def repeat(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               poll: float = 0.001) -> float:
    """Poll until condition() is true; the seconds it took. Raises TimeoutError naming `what`."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"{what}: not reached in {timeout:g} s")
        time.sleep(poll)
    return time.perf_counter() - start


def rounded(value: Any, digits: int = 4) -> Any:
    """Numbers to `digits` significant digits, recursively, for a readable report."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item, digits) for item in value]
    return value


# --- processes ---------------------------------------------------------------------------------

def set_threads(threads: int) -> None:
    """Pin torch's intra-op threads here and in every child (kernels, Voilà, subprocesses).

    On a busy 2-core box two OpenMP threads per process spin against each other and the
    default MLP trains many times slower than with one, so runs are only comparable pinned.
    """
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PLAYGROUND_THREADS"):
            os.environ[name] = str(threads)
        import torch
        torch.set_num_threads(threads)


def run_child(target: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """Call `module.function(**kwargs)` in a fresh interpreter and return its JSON result."""
    module, function = target.rsplit(".", 1)
    code = (f"import json, sys\nfrom {module} import {function} as f\n"
            "print('RESULT ' + json.dumps(f(**json.loads(sys.argv[1]))), flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{target} failed (exit {done.returncode}): {done.stderr[-2000:]}")


def rss_mb() -> float:
    """This process's resident memory now, in MiB (from /proc; peak RSS elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- report ------------------------------------------------------------------------------------

def machine_info(config: Config) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": config.device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    if config.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def write_report(path: Path, config: Config, machine: dict[str, Any], figures: list[Figure],
                 seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"mode": "quick" if config.quick else "full", "config": asdict(config),
              "machine": machine, "seconds": round(seconds, 1),
              "figures": [rounded(asdict(figure)) for figure in figures]}
    path.write_text(json.dumps(report, indent=2) + "\n")


def markdown(config: Config, machine: dict[str, Any], figures: list[Figure],
             seconds: float, report: Path) -> str:
    """RESULTS.md: the machine, the command, the table; the JSON report has every number."""
    load = machine.get("load_average") or (0, 0, 0)
    end = machine.get("load_average_end") or (0, 0, 0)
    gpu = machine.get("gpu") or "none used (GPU figures: not measured)"
    lines = [
        "# Benchmark results",
        "",
        f"`python -m benchmarks{'' if config.device == 'cpu' else ' --device ' + config.device}`"
        f" ({'quick' if config.quick else 'full'} mode, {seconds / 60:.0f} min), "
        f"commit {machine.get('commit')}{' with local changes' if machine.get('dirty') else ''}.",
        "",
        f"- CPU: {machine['cpu']}, {machine['usable_cores']} cores; torch {machine['torch']} "
        f"({machine['torch_threads']} thread per process); Python {machine['python']}",
        f"- GPU: {gpu}",
        f"- Load average (1 min) {load[0]:.1f} at the start, {end[0]:.1f} at the end: the "
        "machine was shared, so every figure is a ratio against a baseline measured "
        "side by side in the same run.",
        f"- Every number behind the table: `{report.relative_to(ROOT)}`.",
        "",
        table(figures),
        "",
    ]
    return "\n".join(lines)


def table(figures: list[Figure]) -> str:
    """A markdown table: item, measure, ratio, target, met, the raw numbers."""
    lines = ["| item | measure | ratio | target | met | raw |", "|---|---|---|---|---|---|"]
    for f in figures:
        ratio = "n/a" if f.ratio is None else f"{f.ratio:.3g}"
        met = {True: "yes", False: "**no**", None: "-"}[f.ok]
        raw = ", ".join(f"{key}={_short(value)}" for key, value in f.raw.items()
                        if not isinstance(value, (list, dict)))
        if f.note:
            raw = f"{raw}; {f.note}" if raw else f.note
        lines.append(f"| {f.item} | {f.measure} | {ratio} | {f.target or '-'} | {met} | {raw} |")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
