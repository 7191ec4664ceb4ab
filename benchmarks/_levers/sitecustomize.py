"""Levers for the page-while-streaming benchmark (`python -m benchmarks.responsiveness
--levers ...`), applied in the app's kernel at start.

A folder on PYTHONPATH of `playground serve` (and so of the kernels Voilà starts): Python
imports this module at start-up. PLAYGROUND_BENCH_LEVERS names the changes, ";"-separated:
"webgl" (curve figures drawn with Bokeh's WebGL backend), "webgl_all" (every figure),
"pump_hz=5" (the plots' pump rate), "max_points=1000" (points a line keeps), "no_warm_up"
(the app starts no background warm-up: what an idle tab holds without torch._dynamo; used by
the workshop benchmark), "no_surface" (the app without its three loss-surface figures).
Nothing is changed without it.
"""

import os

LEVERS = [lever for lever in os.environ.get("PLAYGROUND_BENCH_LEVERS", "").split(";") if lever]


def _apply(lever: str) -> None:
    name, _, value = lever.partition("=")
    if name in ("webgl", "webgl_all"):
        from playground.plots import _base

        new_figure, curves = _base.new_figure, ("loss", "loss_log", "accuracy", "lr")

        def webgl_figure(fig_name, *args, **kwargs):
            if name == "webgl_all" or fig_name in curves:
                kwargs.setdefault("output_backend", "webgl")
            return new_figure(fig_name, *args, **kwargs)

        _base.new_figure = webgl_figure  # before the plots import it by name
    elif name == "pump_hz":
        from playground.plots.pump import Pump

        Pump.__init__.__defaults__ = (float(value), *Pump.__init__.__defaults__[1:])
    elif name == "max_points":
        from playground.plots.dashboard import Plots

        Plots.__init__.__defaults__ = (int(value), *Plots.__init__.__defaults__[1:])
    elif name == "no_surface":
        from playground.plots import dashboard

        # Plots reads FIGURES when it is made; rows of the channels left go unrouted
        dashboard.FIGURES = tuple(fig for fig in dashboard.FIGURES
                                  if not {"surface", "surface_2d"} & set(fig.channels))
    elif name == "no_warm_up":
        from playground.engine import warmup

        warmup.warm_up_in_background = lambda: None  # before the app imports it by name
    else:
        raise ValueError(f"PLAYGROUND_BENCH_LEVERS: unknown lever {lever!r}")


for _lever in sorted(LEVERS, key=lambda lever: not lever.startswith("webgl")):
    _apply(_lever)  # webgl first: it must patch new_figure before the plots import it
