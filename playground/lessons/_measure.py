"""What a lesson's claim is measured by: one callback that watches a run and sums it up.

Every run gets every measure (they are cheap), so the CLI table and the tests read the same
numbers: loss at the start, how far it fell, step-to-step noise, the train/validation gap,
first- and last-layer gradient norms, near-zero weights and identical hidden units.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from typing import Any

import torch

from playground.engine.events import Callback
from playground.engine.surface import SurfaceProbe, surface_measures  # noqa: F401 - _run.py
from playground.engine.trainer import Trainer

NEAR_ZERO = 1e-3  # a weight smaller than this in size counts as switched off
SAME_UNIT = 1e-6  # hidden units whose weights differ by less than this (relative) are copies


class Measure(Callback):
    """Collects curves and gradient norms of one run; `measures()` turns them into numbers."""

    def __init__(self) -> None:
        self.train: list[tuple[int, float]] = []  # (step, loss) of each training batch
        self.val: list[tuple[int, float]] = []  # (step, loss) of each validation point
        self.val_accuracy: list[float] = []  # accuracy of each validation point (R²: regression)
        self.grads: dict[str, list[float]] = {}  # layer -> grad norms, in step order
        self.initial_digest: str | None = None  # fingerprint of the weights it started from
        self.final: dict[str, float] = {}  # measures of the final weights
        self.surface: list[dict[str, Any]] = []  # loss-surface slices (a SurfaceProbe's)

    def before_fit(self, trainer: Trainer) -> None:
        if self.initial_digest is None and trainer.step == 0:
            self.initial_digest = weights_digest(trainer.model)

    def on_points(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            pairs = self.train if row["split"] == "train" else self.val
            pairs.append((row["step"], row["loss"]))
            if row["split"] == "val" and row.get("accuracy") is not None:
                self.val_accuracy.append(row["accuracy"])

    def on_snapshot(self, trainer: Trainer, channel: str, row: dict[str, Any]) -> None:
        if channel == "surface":
            self.surface.append(row)

    def on_layer_norms(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.grads.setdefault(row["layer"], []).append(row["grad_norm"])

    def after_fit(self, trainer: Trainer) -> None:
        with torch.no_grad():
            self.final = {"near_zero": near_zero_fraction(trainer.layers),
                          "weight_size": mean_abs_weight(trainer.layers),
                          "distinct_units": float(distinct_units(trainer.layers)),
                          **regression_errors(trainer)}

    def measures(self) -> dict[str, float | None]:
        """Numbers that describe the run; None where the run gave nothing to measure."""
        layers = list(self.grads)  # input to output, in the order the trainer logs them
        first = self.grads[layers[0]] if layers else []
        last = self.grads[layers[-1]] if layers else []
        grad_first = _median(first)
        grad_last = _median(last)
        val_losses = [loss for _, loss in self.val]
        best_val = _finite_min(val_losses)
        return {
            "start_loss": val_losses[0] if val_losses else None,  # before any update
            "best_val_loss": best_val,
            # how far the validation curve has come back up from its lowest point
            "val_loss_rise": (val_losses[-1] - best_val
                              if best_val is not None and math.isfinite(val_losses[-1])
                              else None),
            "loss_noise": loss_noise([loss for _, loss in self.train]),
            "end_noise": loss_noise([loss for _, loss in self.train], tail=0.2),
            # the validation loss wobbles at the end when the rate is too high to settle
            "val_end_noise": loss_noise(val_losses, tail=0.25),
            "grad_first": grad_first,  # median gradient norm of the first layer's weights
            "grad_last": grad_last,  # ... and of the last (output) layer's
            "grad_first_start": first[0] if first else None,  # at step 0, from the initial weights
            "grad_last_start": last[0] if last else None,
            "grad_ratio": (grad_first / grad_last if grad_first is not None and grad_last
                           else None),
            # how fast accuracy (R² for regression) came: the mean of its validation curve
            "mean_val_accuracy": (statistics.fmean(self.val_accuracy) if self.val_accuracy
                                  else None),
            **surface_measures(self.surface),  # sharpness, overshoot (None without a probe)
            **self.final,
        }


def weights_digest(model: torch.nn.Module) -> str:
    """A short fingerprint of every parameter's values: equal digests, equal weights."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def near_zero_fraction(layers: list[torch.nn.Module], threshold: float = NEAR_ZERO) -> float:
    """Share of all weights (biases aside) whose size is below `threshold`."""
    small = sum(int((layer.weight.abs() < threshold).sum()) for layer in layers)
    total = sum(layer.weight.numel() for layer in layers)
    return small / max(total, 1)


def mean_abs_weight(layers: list[torch.nn.Module]) -> float:
    """Mean size of all weights (biases aside): what L2 shrinks."""
    total = sum(float(layer.weight.abs().sum()) for layer in layers)
    return total / max(sum(layer.weight.numel() for layer in layers), 1)


def distinct_units(layers: list[torch.nn.Module]) -> int:
    """Most distinct hidden units in any hidden layer; 1 means every unit is a copy.

    A unit is its row of incoming weights and its bias. Rows equal to within SAME_UNIT of the
    layer's largest weight are the same unit: they compute the same thing and get the same
    update, so training can never tell them apart (symmetry is never broken).
    """
    hidden = [layer for layer in layers[:-1] if isinstance(layer, torch.nn.Linear)]
    most = 0
    for layer in hidden:
        rows = torch.cat([layer.weight, layer.bias[:, None]], 1).float().cpu()
        tolerance = SAME_UNIT * max(float(rows.abs().max()), 1e-12)
        close = torch.cdist(rows, rows, p=math.inf) <= tolerance  # pairs of copies
        copied = torch.zeros(len(rows), dtype=torch.bool)
        count = 0
        for i in range(len(rows)):  # each unit not yet a copy of one counted starts a group
            if not copied[i]:
                count += 1
                copied |= close[i]
        most = max(most, count)
    return most


def regression_errors(trainer: Trainer) -> dict[str, float]:
    """Squared and absolute error on the whole validation set, whatever loss trained the
    run: one yardstick for MSE, L1 and Huber runs (their losses are in different units)."""
    if trainer.data.task != "regression":
        return {}
    trainer.model.eval()
    error = trainer.model(trainer.data.x_val) - trainer.data.y_val
    return {"val_mse": float(error.pow(2).mean()), "val_mae": float(error.abs().mean())}


def loss_noise(losses: list[float], tail: float = 0.5) -> float | None:
    """Standard deviation of the point-to-point change of a loss curve over its last `tail`
    (default its second half, once the first steep fall is over)."""
    tail = [loss for loss in losses[len(losses) - math.ceil(tail * len(losses)):]
            if math.isfinite(loss)]
    changes = [b - a for a, b in zip(tail, tail[1:])]
    return statistics.pstdev(changes) if len(changes) >= 2 else None


def _median(values: list[float]) -> float | None:
    finite = [value for value in values if math.isfinite(value)]
    return statistics.median(finite) if finite else None


def _finite_min(values: list[float]) -> float | None:
    finite = [value for value in values if math.isfinite(value)]
    return min(finite) if finite else None
