"""Which fields a race can vary and which a sweep searches by default; no heavy imports, so
the app's widgets can read them before torch or optuna load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playground.config import HParams

# Fields that leave the architecture, the data and the batches alone: members that differ
# only in these share one stacked model (see race.py).
RACE_FIELDS = ("lr", "momentum", "weight_decay", "l1", "dropout", "grad_clip", "optimizer",
               "schedule", "step_every", "gamma", "warmup_epochs")
DEFAULT_SEARCH = ("lr", "dropout")  # what a sweep searches when told nothing


def with_an_end(hp: HParams, job: str) -> tuple[HParams, str | None]:
    """`hp` with a last epoch, and a line for the person when its epochs 0 (until stopped)
    was replaced by the default length: a race, a sweep or a curve must end to be compared."""
    if not hp.until_stopped:
        return hp, None
    finite = hp.with_an_end()
    return finite, (f"{job} needs an end: epochs 0 (until stopped) became {finite.epochs}, "
                    "the default")


def values_around(field: str, current: Any, points: int = 5) -> list[Any]:
    """Values for a one-at-a-time curve through `current`: every choice of a choice field;
    else `points` values around it within the field's range: by factors of 10 on a log
    scale, of 2 for whole numbers on a log scale or a wide range (batch size, width), in
    eighths of the range otherwise."""
    from playground.config import HParams

    spec = HParams.specs()[field]
    if spec.zero is not None and current == 0:  # 0 is not an amount (epochs: until stopped)
        current = getattr(HParams(), field)
    if spec.kind == "choice":
        return list(spec.choices)
    if spec.kind == "bool":
        return [False, True]
    low, high, half = spec.low, spec.high, points // 2
    if spec.scale == "log" or (spec.kind == "int" and high / max(low, 1) >= 64):
        factor = 10.0 if spec.kind == "float" else 2.0
        floor = spec.log_low or max(low, 1 if spec.zero is not None else 1e-12)
        if current == 0:  # "off": compare off with a few decades above the smallest value
            raw = [0.0, *(floor * factor ** (i + 1) for i in range(points - 1))]
        else:
            raw = [current * factor ** (i - half) for i in range(points)]
        values = [v if v == 0 else min(max(v, floor), high) for v in raw]
    else:
        step = (high - low) / 8
        values = [min(max(current + step * (i - half), low), high) for i in range(points)]
    if spec.kind == "int":
        values = [int(round(v)) for v in values]
    else:
        values = [v if v == current else float(f"{v:.3g}") for v in values]
    return sorted(set(values))
