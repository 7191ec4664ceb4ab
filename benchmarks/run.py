"""`python -m benchmarks`: run the benchmarks of issue 6, write a JSON report, print a table.

    python -m benchmarks --quick          # CI: every item for a few seconds, numbers not judged
    python -m benchmarks                  # full: the numbers for the README table,
                                          # written to benchmarks/RESULTS.md as well
    python -m benchmarks --only app_overhead vs_usual --device cuda

Runs and data go to a temporary PLAYGROUND_HOME, removed at the end. The exit code is 1
when an item failed to run (a target missed is reported, not an error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import _common
from benchmarks._common import RESULTS, Config, Figure

MARKDOWN = Path(__file__).resolve().parent / "RESULTS.md"  # written by a whole full run
ITEMS = ("app_overhead", "vs_usual", "races", "responsiveness", "long_runs", "search",
         "workshop")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds per item, to keep the harness working (CI)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--browser", action="store_true",
                        help="in --quick mode, also time Start to the first point in Chromium")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in every process (default 1; 0: torch's default)")
    parser.add_argument("--only", nargs="+", choices=ITEMS, metavar="ITEM",
                        help="run only these items: " + ", ".join(ITEMS))
    parser.add_argument("--out", type=Path,
                        help="report path (default benchmarks/results/latest.json, "
                             "or quick.json with --quick)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    config = Config(quick=args.quick, device=args.device, browser=args.browser,
                    threads=args.threads)
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")
    home = tempfile.mkdtemp(prefix="playground-bench-")
    os.environ["PLAYGROUND_HOME"] = home  # children (kernels, Voilà) inherit it
    _common.set_threads(config.threads)
    import torch

    # Asked for a GPU on a machine without one: every item says so, nothing is measured on
    # the CPU in its place (those figures are the CPU run's), and the run does not fail.
    no_gpu = config.device.startswith("cuda") and not torch.cuda.is_available()
    if no_gpu:
        print(f"benchmarks: no CUDA device here (torch {torch.__version__}): the GPU figures "
              f"for --device {config.device} are skipped", file=sys.stderr)

    machine = _common.machine_info(config)
    figures: list[Figure] = []
    failed = False
    start = time.perf_counter()
    try:
        for name in args.only or ITEMS:
            item_start = time.perf_counter()
            print(f"[{name}] ...", flush=True)
            try:
                module = importlib.import_module(f"benchmarks.{name}")
                found = ([Figure(getattr(module, "ITEM", name), f"GPU figures ({config.device})",
                                 None, note="skipped: no CUDA device on this machine")]
                         if no_gpu else module.run(config))
            except Exception as error:  # reported in the table; the other items still run
                traceback.print_exc()
                failed = True
                found = [Figure(name, "failed", None, ok=False,
                                note=f"{type(error).__name__}: {error}"[:300])]
            figures += found
            print(f"[{name}] {time.perf_counter() - item_start:.1f} s", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    machine["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    seconds = time.perf_counter() - start
    _common.write_report(out, config, machine, figures, seconds)
    if not config.quick and not args.only and args.out is None and not no_gpu:  # the table
        MARKDOWN.write_text(_common.markdown(config, machine, figures, seconds, out))
    print()
    print(f"{'quick' if config.quick else 'full'} run, {seconds:.0f} s; {machine['cpu']}, "
          f"{machine['usable_cores']} cores, torch {machine['torch']} "
          f"({machine['torch_threads']} threads), {config.device}; load average "
          f"{machine['load_average'][0]:.1f} -> {machine['load_average_end'][0]:.1f}")
    print(_common.table(figures))
    print(f"\nreport: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
