"""Learning-rate range test (Leslie Smith 2015; fastai's lr_find), on a copy of nothing.

One short run whose rate grows exponentially from `start_lr` to `end_lr`; the loss is
recorded against the rate. Early on the rate is too small to move anything, then the loss
falls faster and faster, then it blows up. The suggestion is the rate at the lowest
(smoothed) loss divided by ten: still on the steep falling part, safely short of the blow-up.
The steepest point of the fall is given too. The model's weights, the optimizer's state and
the random number generators are put back afterwards, so the run can go on as if the test
had never happened.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from playground.config import HParams
from playground.engine.device import choose_device
from playground.engine.trainer import Trainer
from playground.own import Own

START_LR = 1e-5
END_LR = 10.0
STEPS = 100
SMOOTHING = 0.9  # weight of the past in the loss's moving average
BLOW_UP = 4.0  # stop once the smoothed loss is this many times its lowest


@dataclass(frozen=True)
class LrRangeResult:
    """The curve of one range test and the rates it points at."""

    lrs: tuple[float, ...]  # the rate of each step, growing exponentially
    losses: tuple[float, ...]  # smoothed training loss after each step
    raw_losses: tuple[float, ...]  # the batch losses themselves
    suggestion: float  # min_loss_lr / 10, within the swept range
    min_loss_lr: float  # the rate where the smoothed loss is lowest
    steepest_lr: float  # the rate where the smoothed loss falls fastest (per log-rate)
    start_lr: float
    end_lr: float
    stopped_early: bool  # the loss blew up before end_lr was reached
    rule: str = "the rate at the lowest smoothed loss, divided by ten"

    def to_dict(self) -> dict:
        return {"lrs": list(self.lrs), "losses": list(self.losses),
                "raw_losses": list(self.raw_losses), "suggestion": self.suggestion,
                "min_loss_lr": self.min_loss_lr, "steepest_lr": self.steepest_lr,
                "start_lr": self.start_lr, "end_lr": self.end_lr,
                "stopped_early": self.stopped_early, "rule": self.rule}


def lr_range_test(trainer: Trainer, *, start_lr: float = START_LR, end_lr: float = END_LR,
                  steps: int = STEPS) -> LrRangeResult:
    """Sweep the rate over `steps` updates of the trainer's model, then restore everything.

    Batches are drawn with a generator of their own, so the trainer's batch order is left
    alone; the global RNG (dropout) is forked and comes back unchanged.
    """
    _check(start_lr, end_lr, steps)
    model, optimizer = trainer.model, trainer.optimizer
    saved_model = copy.deepcopy(model.state_dict())  # state_dict holds live tensors: copy them
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            lrs, raw, smoothed = _sweep(trainer, start_lr, end_lr, steps)
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        model.train(was_training)
    return _result(lrs, raw, smoothed, start_lr, end_lr, steps)


def find_lr(hp: HParams, device: str | None = "cpu", own: Own | None = None,
            **kwargs: float) -> LrRangeResult:
    """The range test on a fresh model built from `hp` (what the app's button runs), or
    from your own model and data (`own`). It is `steps` updates long whatever `hp.epochs`
    says, so settings that train until Stop (epochs 0) end too."""
    chosen = choose_device(device)
    own = own or Own()
    trainer = Trainer(hp, own.load(hp, chosen), chosen, model=own.network(hp))
    return lr_range_test(trainer, **kwargs)


def _check(start_lr: float, end_lr: float, steps: int) -> None:
    if not (math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"start_lr: {start_lr!r} is not allowed; allowed: above 0")
    if not (math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"end_lr: {end_lr!r} is not allowed; allowed: above start_lr "
                         f"({start_lr:g})")
    if not (isinstance(steps, int) and steps >= 5):
        raise ValueError(f"steps: {steps!r} is not allowed; allowed: a whole number, at least 5")


def _sweep(trainer: Trainer, start_lr: float, end_lr: float,
           steps: int) -> tuple[list[float], list[float], list[float]]:
    hp, data, model, optimizer = trainer.hp, trainer.data, trainer.model, trainer.optimizer
    generator = torch.Generator().manual_seed(hp.seed + 2)  # not the trainer's batch order
    size = min(hp.batch_size, data.n_train)
    lrs, raw, smoothed = [], [], []
    best, average = math.inf, 0.0
    model.train()
    for i in range(steps):
        lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        index = torch.randint(data.n_train, (size,), generator=generator).to(trainer.device)
        loss = trainer.loss_fn(model(data.x_train[index]), data.y_train[index])
        objective = loss + hp.l1 * trainer._l1_norm() if hp.l1 else loss
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):  # blown up: the curve ends at the last finite loss
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        lrs.append(lr)
        raw.append(value)
        smoothed.append(average / (1 - SMOOTHING ** (i + 1)))  # bias-corrected, like Adam's
        best = min(best, smoothed[-1])
        if smoothed[-1] > BLOW_UP * best:
            break
    optimizer.zero_grad(set_to_none=True)
    if not lrs:
        raise ValueError(f"start_lr: {start_lr:g} is not allowed; allowed: a rate whose first "
                         "step gives a finite loss")
    return lrs, raw, smoothed


def _result(lrs: list[float], raw: list[float], losses: list[float], start_lr: float,
            end_lr: float, steps: int) -> LrRangeResult:
    lowest = min(range(len(losses)), key=losses.__getitem__)
    # steepest fall per unit of log-rate, looked for only up to the lowest point
    slopes = [(losses[i + 1] - losses[i]) / math.log(lrs[i + 1] / lrs[i])
              for i in range(max(lowest, 1)) if i + 1 < len(losses)]
    steepest = min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    min_loss_lr = lrs[lowest]
    return LrRangeResult(
        lrs=tuple(lrs), losses=tuple(losses), raw_losses=tuple(raw),
        suggestion=min(max(min_loss_lr / 10, start_lr), end_lr), min_loss_lr=min_loss_lr,
        steepest_lr=lrs[steepest], start_lr=start_lr, end_lr=end_lr,
        stopped_early=len(lrs) < steps)
