"""The score in a run's "accuracy" slot: accuracy for classes, R² for regression targets.

R² (the coefficient of determination, scikit-learn's `r2_score` and a regressor's `score`)
is 1 - SS_res / SS_tot: 1 for a perfect fit, 0 for predicting the targets' mean, below 0 for
worse than that. Unlike a loss it has no units, so runs trained with different losses (MSE,
L1, Huber) compare on one axis. Targets are shaped (..., rows, outputs): the leading
dimensions (steps, race members) are scored separately.
"""

from __future__ import annotations

import math

import torch

# Targets whose squared spread about their mean is below this share of their squared size
# are all equal up to float rounding (a batch of one, a constant column): R² is undefined.
NO_SPREAD = 1e-10


def squared_residuals(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SS_res: the squared errors summed over rows and outputs (the leading dims kept)."""
    return (output - target).pow(2).flatten(-2).sum(-1)


def r2(ss_res: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """R² of predictions whose squared errors on `target` sum to `ss_res`; SS_tot is taken
    about the mean of all of `target`'s rows (pass every row scored, not a chunk of them).
    NaN where the targets have no spread (see `values`)."""
    centred = target - target.mean(-2, keepdim=True)
    ss_tot = centred.pow(2).flatten(-2).sum(-1)
    size = target.pow(2).flatten(-2).sum(-1)
    return torch.where(ss_tot > NO_SPREAD * size, 1 - ss_res / ss_tot,
                       torch.full_like(ss_tot, math.nan))


def values(scores: list[float]) -> list[float | None]:
    """Scores read back from the device with NaN (no spread: no R²) as None."""
    return [None if score != score else score for score in scores]
