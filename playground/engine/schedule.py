"""Learning-rate schedules from torch.optim.lr_scheduler, as a multiplier of the base rate.

The scheduler drives a private one-parameter optimizer whose rate starts at 1.0, so its rate
is the factor. The real rate is `hp.lr * factor`, which lets the learning-rate slider move
while a schedule runs; a changed schedule is rebuilt and fast-forwarded to the current step.

A run with no end (epochs 0, until Stop) has no length to plan over. Step and exponential
decay need none: they go on dropping for as long as the run trains. Cosine and one-cycle
are planned over OPEN_HORIZON epochs (after the warm-up, for cosine) and then hold their
last value, as a finished schedule does; a warm-up is its own length.
"""

from __future__ import annotations

import warnings

import torch
from torch.optim import lr_scheduler

from playground.config import DEFAULT_EPOCHS, HParams

SCHEDULE_FIELDS = ("schedule", "step_every", "gamma", "warmup_epochs", "epochs")
OPEN_HORIZON = DEFAULT_EPOCHS  # epochs a cosine or one-cycle schedule spans in a run with no end
ENDLESS = ("step", "exponential")  # schedules that need no horizon: they go on in an open run


def planned_epochs(hp: HParams) -> int:
    """The epochs a schedule is planned over: the run's, or for a run with no end (epochs
    0) the warm-up and then OPEN_HORIZON (one-cycle has its own warm-up)."""
    if not hp.until_stopped:
        return hp.epochs
    return OPEN_HORIZON + (0 if hp.schedule == "onecycle" else hp.warmup_epochs)


class LrSchedule:
    def __init__(self, hp: HParams, steps_per_epoch: int):
        self.total_steps = max(1, planned_epochs(hp) * steps_per_epoch)
        self._optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        self._optimizer.step()  # no gradient, so a no-op; keeps the scheduler from warning
        self._scheduler = _build(self._optimizer, hp, steps_per_epoch, self.total_steps)
        self._index = 0
        # Nothing to step through: the rate is the slider's (stepping cost 3% of a small step).
        self._constant = isinstance(self._scheduler, lr_scheduler.ConstantLR)
        # Past the planned steps the factor holds, except for a decay in a run with no end.
        self._holds = not (hp.until_stopped and hp.schedule in ENDLESS)

    def factor(self, step: int) -> float:
        """The multiplier at this step; past the planned steps it stays at its last value
        (step and exponential decay in a run with no end go on instead)."""
        if self._constant:
            return 1.0
        target = min(step, self.total_steps - 1) if self._holds else step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SequentialLR warns about its own internals
            while self._index < target:
                self._scheduler.step()
                self._index += 1
        return self._optimizer.param_groups[0]["lr"]


def _build(optimizer: torch.optim.Optimizer, hp: HParams, steps_per_epoch: int,
           total: int) -> lr_scheduler.LRScheduler:
    if hp.schedule == "onecycle":  # has its own warm-up
        return lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=total,
                                       cycle_momentum=False)
    warmup = min(hp.warmup_epochs * steps_per_epoch, total - 1)
    main_steps = max(1, total - warmup)
    if hp.schedule == "step":
        main = lr_scheduler.StepLR(optimizer, step_size=hp.step_every * steps_per_epoch,
                                   gamma=hp.gamma)
    elif hp.schedule == "exponential":
        main = lr_scheduler.ExponentialLR(optimizer, gamma=hp.gamma ** (1 / steps_per_epoch))
    elif hp.schedule == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=main_steps)
    else:
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if warmup <= 0:
        return main
    ramp = lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [ramp, main], milestones=[warmup])
