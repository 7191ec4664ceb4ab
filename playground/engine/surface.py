"""The loss surface around a run's weights: the loss along lines and over a plane through them.

Three 1-D slices, each the loss on a fixed subset of the training set:
- "random": along filter-normalised random directions (Li et al., 2018, "Visualizing the Loss
  Landscape of Neural Nets") through the weights now, averaged over a few directions; a
  distance of 1 moves every filter by its own size. A sharp minimum rises fast, a flat one
  slowly.
- "step": along the last update, in steps: -1 is where the weights were one step ago, 0 now.
  A learning rate that is too high jumps across the valley: the lowest point lies between.
- "start": along the line from the initial weights (0) to the weights now (1).
And the 2-D grid over two filter-normalised random directions, asked for on demand.

Weights are moved in place and put back bit for bit; no global random numbers are drawn, so
a run with the probe trains exactly as one without.
"""

from __future__ import annotations

import copy
import math
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple

import torch
from torch import nn

from playground.engine.events import Callback
from playground.engine.trainer import Trainer
from playground.status import TROUBLE, Status

SUBSET = 256  # training examples the loss is measured on (the same ones for every slice)
DIRECTIONS = 6  # random directions a "random" slice averages over (3 left seeds apart)
SURFACE_SEED = 2018  # random directions are drawn from this seed (the year of Li et al.)
RANDOM_ALPHAS = tuple(-0.5 + k / 20 for k in range(21))  # -0.5 .. 0.5, filter-normalised
STEP_ALPHAS = tuple(-1.5 + k / 8 for k in range(17))  # -1.5 .. 0.5 in steps; -1, 0 on it
START_ALPHAS = tuple(-0.25 + k / 16 for k in range(25))  # -0.25 .. 1.25; 0 and 1 are on it
GRID_ALPHAS = tuple(-1.0 + k / 12 for k in range(25))  # the 2-D grid, each axis
SHARP_AT = 0.2  # sharpness: the mean rise of the loss this far out, both ways
BUSY_SHARE = 0.01  # the probe waits at least 100 times as long as its last slices took
# The three slices hold up training while they run: on a model where they would take longer
# than this (the small CNN took 4 s on 256 images here), they use fewer examples.
SLICES_BUDGET_S = 0.5
FEWEST_EXAMPLES = 32
KINDS = ("random", "step", "start")


def filter_normalised(direction: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`direction` scaled so each filter (a row of a linear layer, a kernel of a convolution)
    has the size of the same filter in `weights`; biases and other 1-D parameters get 0 (Li
    et al. leave them out)."""
    if weights.dim() <= 1:
        return torch.zeros_like(weights)
    dims = tuple(range(1, weights.dim()))
    scale = (torch.linalg.vector_norm(weights, dim=dims, keepdim=True)
             / torch.linalg.vector_norm(direction, dim=dims, keepdim=True))
    return direction * torch.nan_to_num(scale, nan=0.0, posinf=0.0)


def random_direction(params: Sequence[torch.Tensor], generator: torch.Generator
                     ) -> list[torch.Tensor]:
    """A filter-normalised random direction for `params` (drawn on the CPU from `generator`)."""
    return [filter_normalised(torch.randn(p.shape, generator=generator).to(p), p.detach())
            for p in params]


def random_directions(params: Sequence[torch.Tensor], count: int,
                      seed: int = SURFACE_SEED) -> list[list[torch.Tensor]]:
    """`count` directions, the same ones for the same seed and shapes."""
    generator = torch.Generator().manual_seed(seed)
    return [random_direction(params, generator) for _ in range(count)]


def weights_of(model: nn.Module) -> list[torch.Tensor]:
    """A copy of the model's parameters."""
    return [p.detach().clone() for p in model.parameters()]


class Probing(NamedTuple):
    """What the loss is measured with: the model, its loss and a fixed set of examples."""

    model: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    x: torch.Tensor
    y: torch.Tensor
    step: int = 0  # the run's step when the weights were taken


class SurfaceCancelled(Exception):
    """The 2-D grid was cancelled (the job runner's one way to stop) before it was done."""


@torch.no_grad()
def plane_losses(probing: Probing, origin: Sequence[torch.Tensor],
                 first: Sequence[torch.Tensor], second: Sequence[torch.Tensor] | None,
                 alphas: Sequence[float], betas: Sequence[float] = (0.0,),
                 stop: Callable[[], bool] | None = None) -> list[list[float]]:
    """loss[i][j] at origin + alphas[j] * first + betas[i] * second (rows: betas), in eval
    mode; the parameters are put back to what they were, exactly. `stop()` is asked before
    each row: true raises SurfaceCancelled."""
    model = probing.model
    params = list(model.parameters())
    kept = [p.detach().clone() for p in params]
    was_training = model.training
    model.eval()
    losses: list[list[float]] = []
    try:
        for beta in betas:
            if stop is not None and stop():
                raise SurfaceCancelled("the loss surface was cancelled")
            row = []
            for alpha in alphas:
                for p, o, d1, d2 in zip(params, origin, first, second or first):
                    p.copy_(o + alpha * d1 + beta * d2 if second is not None else o + alpha * d1)
                row.append(float(probing.loss_fn(model(probing.x), probing.y)))
            losses.append(row)
    finally:
        for p, k in zip(params, kept):
            p.copy_(k)
        model.train(was_training)
    return losses


def line_losses(probing: Probing, origin: Sequence[torch.Tensor],
                direction: Sequence[torch.Tensor], alphas: Sequence[float]) -> list[float]:
    """The loss at origin + alpha * direction for each alpha."""
    return plane_losses(probing, origin, direction, None, alphas)[0]


def random_slice(probing: Probing, directions: Sequence[Sequence[torch.Tensor]],
                 alphas: Sequence[float] = RANDOM_ALPHAS) -> list[float]:
    """The loss along each random direction through the weights now, averaged."""
    origin = weights_of(probing.model)
    lines = [line_losses(probing, origin, d, alphas) for d in directions]
    return [sum(values) / len(values) for values in zip(*lines)]


def sharpness(alphas: Sequence[float], losses: Sequence[float], at: float = SHARP_AT
              ) -> float | None:
    """How much the loss rises `at` away from 0, both ways on average (from a "random" row)."""
    found = {round(a, 6): loss for a, loss in zip(alphas, losses)}
    centre, left, right = found.get(0.0), found.get(round(-at, 6)), found.get(round(at, 6))
    if None in (centre, left, right) or not all(map(math.isfinite, (centre, left, right))):
        return None
    return (left + right) / 2 - centre


def overshoot(alphas: Sequence[float], losses: Sequence[float]) -> float | None:
    """Where the lowest loss along the last step lies (from a "step" row), as a share of the
    step: 0 means the step landed at the bottom or short of it; 0.5, it jumped to the other
    wall at the height it left (the bottom half-way back); 1, the bottom is where it was."""
    finite = [(loss, a) for a, loss in zip(alphas, losses) if math.isfinite(loss)]
    if not finite:
        return None
    lowest = min(finite)[1]
    return min(max(-lowest, 0.0), 1.0)


def subset(x: torch.Tensor, y: torch.Tensor, size: int = SUBSET, seed: int = SURFACE_SEED
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same `size` examples each time (a private generator: no global random numbers)."""
    if len(x) <= size:
        return x, y
    index = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:size]
    index = index.to(x.device)
    return x[index], y[index]


def surface_grid(probing: Probing, alphas: Sequence[float] = GRID_ALPHAS,
                 seed: int = SURFACE_SEED, stop: Callable[[], bool] | None = None
                 ) -> dict[str, Any]:
    """The 2-D grid: the loss over two filter-normalised random directions (a row for the
    "surface_2d" channel: step, alpha, beta and loss[beta][alpha])."""
    params = list(probing.model.parameters())
    first, second = random_directions(params, 2, seed)
    losses = plane_losses(probing, weights_of(probing.model), first, second, alphas, alphas,
                          stop)
    return {"step": probing.step, "alpha": list(alphas), "beta": list(alphas),
            "loss": losses}


class SurfaceProbe(Callback):
    """Takes the three 1-D slices of a run now and then, and at its end; hands out a copy of
    the model at a step boundary for the 2-D grid (`model_copy`).

    `every`: seconds between slices while training (None: only at the end). `captures`: in
    a run with an end, slices at this many evenly spaced steps instead (the lessons: the same
    steps every time). Slices wait at least 1/BUSY_SHARE times as long as the last ones took,
    so a large model is sliced less often, not slowed down.
    """

    def __init__(self, every: float | None = 10.0, captures: int | None = None,
                 size: int = SUBSET, directions: int = DIRECTIONS) -> None:
        self.every, self.captures = every, captures
        self.size, self.directions_count = size, directions
        self._trainer: Trainer | None = None
        self._requests: list[Future] = []
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, trainer: Trainer | None) -> None:
        self._trainer = trainer
        self._initial: list[torch.Tensor] | None = None
        self._probing: Probing | None = None
        self._armed = False  # slice after the next step
        self._before: list[torch.Tensor] | None = None  # weights before that step
        self._next = 0.0  # monotonic time of the next slice
        self._capture_steps: set[int] = set()
        self._planned_for: Any = None  # the settings _plan last read
        self._sliced_at = -1  # the step of the last slices

    # --- hooks -----------------------------------------------------------------------------
    def before_fit(self, trainer: Trainer) -> None:
        if trainer is not self._trainer:  # a new run (a resume keeps what it has)
            self._reset(trainer)
            self._initial = weights_of(trainer.model)
            self._next = time.monotonic() + (self.every or 0.0)
        self._plan(trainer)

    def _plan(self, trainer: Trainer) -> None:
        """The steps to slice after: the last one of a run with an end (its final picture
        has the last step), and with `captures`, that many spread evenly over the run."""
        self._capture_steps = set()
        if trainer.hp.until_stopped:
            return
        total = trainer.hp.epochs * trainer.steps_per_epoch  # as long as the batch size holds
        self._capture_steps.add(total)
        if self.captures:
            self._capture_steps.update(round(total * (k + 1) / self.captures)
                                       for k in range(self.captures))

    def on_points(self, trainer: Trainer, rows: list[dict]) -> None:
        if trainer.hp is not self._planned_for:  # epochs or the batch size may have changed
            self._planned_for = trainer.hp
            self._plan(trainer)
        if self.every is not None and not self.captures and time.monotonic() >= self._next:
            self._armed = True

    def before_step(self, trainer: Trainer) -> None:
        if self._requests:
            self._hand_out(trainer)
        if self._armed or trainer.step + 1 in self._capture_steps:
            self._armed = False
            self._before = weights_of(trainer.model)

    def after_step(self, trainer: Trainer) -> None:
        if self._before is not None:
            before, self._before = self._before, None
            # with `captures`, only the last step's slices are whole: the others serve the
            # step measure alone (a lesson's run pays for 8 step slices, not 8 of each)
            whole = not self.captures or trainer.step == max(self._capture_steps, default=0)
            self._slices(trainer, before, whole)

    def after_fit(self, trainer: Trainer) -> None:
        self._hand_out(trainer)
        # a diverged run's weights are no place to look; a paused one slices when it ends
        if trainer.status not in TROUBLE and trainer.status != Status.PAUSED \
                and self._sliced_at != trainer.step:
            self._slices(trainer, None)

    # --- slices ----------------------------------------------------------------------------
    def _setup(self, trainer: Trainer) -> Probing:
        if self._probing is None or self._probing.model is not trainer.model:
            x, y = subset(trainer.data.x_train, trainer.data.y_train, self.size)
            probing = Probing(trainer.model, trainer.loss_fn, x, y)
            passes = (self.directions_count * len(RANDOM_ALPHAS) + len(STEP_ALPHAS)
                      + len(START_ALPHAS))
            expected = passes * _forward_seconds(probing)
            if expected > SLICES_BUDGET_S:
                size = max(FEWEST_EXAMPLES, int(len(x) * SLICES_BUDGET_S / expected))
                x, y = subset(trainer.data.x_train, trainer.data.y_train, size)
                probing = Probing(trainer.model, trainer.loss_fn, x, y)
            self._probing = probing
        return self._probing

    def _slices(self, trainer: Trainer, before: list[torch.Tensor] | None,
                whole: bool = True) -> None:
        """The slices through the weights now: along the step only with `before`, the
        others unless not `whole`."""
        started = time.monotonic()
        probing = self._setup(trainer)
        now = weights_of(trainer.model)
        rows = []
        if whole:
            # the same draws each time, scaled to the filters as they are now (as Li et al.)
            directions = random_directions(now, self.directions_count)
            rows.append(("random", RANDOM_ALPHAS, random_slice(probing, directions)))
        if before is not None:
            step = [a - b for a, b in zip(now, before)]
            rows.append(("step", STEP_ALPHAS, line_losses(probing, now, step, STEP_ALPHAS)))
        if whole and self._initial is not None:
            path = [a - b for a, b in zip(now, self._initial)]
            rows.append(("start", START_ALPHAS,
                         line_losses(probing, self._initial, path, START_ALPHAS)))
        for kind, alphas, losses in rows:
            trainer.publish("surface", {"kind": kind, "alpha": list(alphas),
                                        "loss": [_finite(loss) for loss in losses]})
        self._sliced_at = trainer.step
        took = time.monotonic() - started
        self._next = time.monotonic() + max(self.every or 0.0, took / BUSY_SHARE)

    # --- the model for the 2-D grid --------------------------------------------------------
    def model_copy(self, timeout: float = 30.0) -> Probing:
        """A copy of the current run's model with the loss and the subset, taken at a step
        boundary (now, if the run is not training). LookupError: no run yet."""
        trainer = self._trainer
        if trainer is None:
            raise LookupError("no run to measure yet: press Start first")
        future: Future = Future()
        with self._lock:
            fitting = trainer._fitting
            if fitting:
                self._requests.append(future)
        if not fitting:
            return self._copy(trainer)
        return future.result(timeout)

    def _hand_out(self, trainer: Trainer) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for future in requests:
            try:
                future.set_result(self._copy(trainer))
            except Exception as error:  # noqa: BLE001 - the waiting job reports it
                future.set_exception(error)

    def _copy(self, trainer: Trainer) -> Probing:
        x, y = subset(trainer.data.x_train, trainer.data.y_train, self.size)
        return Probing(copy.deepcopy(trainer.model), trainer.loss_fn, x, y, trainer.step)


@torch.no_grad()
def _forward_seconds(probing: Probing) -> float:
    """Seconds one loss on the probing examples takes (the second of two: the first warms up)."""
    model, was_training = probing.model, probing.model.training
    model.eval()
    try:
        for _ in range(2):
            started = time.perf_counter()
            float(probing.loss_fn(model(probing.x), probing.y))
    finally:
        model.train(was_training)
    return time.perf_counter() - started


def _finite(value: float) -> float:
    """A loss as a number JSON and the plots take: an overflow is nan (not drawn)."""
    return value if math.isfinite(value) else math.nan


def surface_measures(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """What a run's slices say, for a lesson's claim: `sharpness`, the rise of the loss
    SHARP_AT out along random directions at its last slices; `overshoot`, the median of
    `overshoot()` over the slices along a step in the second half of the run (0.5: each
    step jumps across the valley, 0: each goes downhill)."""
    randoms = [row for row in rows if row.get("kind") == "random"]
    steps = [row for row in rows if row.get("kind") == "step"]
    last = max(randoms, key=lambda row: row.get("step", 0), default=None)
    end = max((row.get("step", 0) for row in steps), default=0)
    late = [overshoot(row["alpha"], row["loss"]) for row in steps
            if row.get("step", 0) > end / 2]
    late = [value for value in late if value is not None]
    return {"sharpness": sharpness(last["alpha"], last["loss"]) if last else None,
            "overshoot": statistics.median(late) if late else None}
