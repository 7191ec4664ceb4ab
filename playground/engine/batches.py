"""The batch order and the validation cadence of a run, shared by the Trainer and the race.

A race trains several configurations as one stacked model; its members must see the same
batches in the same order, and be validated at the same steps, as the runs they stand for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

# Steps between validation passes inside an epoch, at the least. A quarter epoch of the small
# sets is 6 steps (moons: 800 rows in batches of 32), and validating that often cost 7% of the
# training time; every 25 steps it is under 2%, still about 40 points a second on a CPU.
MIN_EVAL_GAP = 25
# Numbers of input a forward pass takes when evaluating. A pass must stay small enough for its
# activations to stay in the cache: the small CNN's first layer makes 16 channels of each
# image, and one pass over 2,000 MNIST images took 2.6 times as long here as 24 passes of 83.
# An MLP on tables takes its examples a thousand or more at a time.
EVAL_VALUES = 2 ** 16


class BatchOrder:
    """Index batches over `n` rows: a fresh permutation from `generator` each epoch, batches of
    `size` taken in turn, and a remainder smaller than a batch dropped."""

    def __init__(self, n: int, generator: torch.Generator, device: torch.device | str):
        self.n, self.generator, self.device = n, generator, device
        self._order = self._shuffled()
        self.position = 0  # 0 between the last batch of an epoch and the first of the next

    def next(self, size: int) -> torch.Tensor:
        """The indices of the next batch (at most `n` of them)."""
        size = min(size, self.n)
        index = self._order[self.position:self.position + size]
        self.position += size
        if self.position + size > self.n:
            self._order, self.position = self._shuffled(), 0
        return index

    def _shuffled(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator).to(self.device)


def eval_every(steps_per_epoch: int) -> int:
    """Steps between validation passes within an epoch (every epoch also ends with one)."""
    return max(MIN_EVAL_GAP, steps_per_epoch // 4)


def eval_chunk(example_shape: Sequence[int], models: int = 1) -> int:
    """Examples per forward pass when evaluating examples of `example_shape` on `models`
    models at once (a race's stacked members)."""
    return max(1, EVAL_VALUES // (math.prod(example_shape) * models))
