"""3. Races: K configurations trained together as stacked weights against the same K trained
one after another with the Trainer, for K = 4, 8, 16, 32; the figure is the speed-up.

Both sides train the default MLP on moons with the same batches; members differ only in
learning rate. The race also saves every member as a run in the store, the separate runs
do not: the comparison is, if anything, unfair to the race. One more figure races a small
model of the user's own (an nn.Module stacked by torch.func) the same way, K = 8.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._common import Config, Figure, median

ITEM = "3 races"
LR_RANGE = (0.001, 0.05)  # members differ in learning rate only, none so high it diverges


def members(k: int, epochs: int) -> list[Any]:
    """K configurations of the default MLP on moons, learning rates spread log-evenly."""
    from playground.config import HParams

    low, high = LR_RANGE
    rates = [low * (high / low) ** (i / max(k - 1, 1)) for i in range(k)]
    return [HParams(lr=round(lr, 6), epochs=epochs) for lr in rates]


def own_model() -> Any:
    """A small model as a person would write it: two hidden layers of 32, named."""
    from torch import nn

    class Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
            self.out = nn.Linear(32, 2)

        def forward(self, x: Any) -> Any:
            return self.out(self.hidden(x))

    return Small()


def separate_seconds(configs: list[Any], data: Any, device: str, model: Any = None) -> float:
    """The baseline: each configuration trained on its own by the Trainer, one after another
    (no store, no callbacks: the cheapest way the engine trains one run)."""
    import copy

    from playground.engine.trainer import Trainer

    start = time.perf_counter()
    for hp in configs:
        Trainer(hp, data, device, model=copy.deepcopy(model)).fit()
    return time.perf_counter() - start


def race_seconds(configs: list[Any], data: Any, device: str, model: Any = None) -> float:
    """The same configurations as one race (stacked weights), saving every member as a run,
    as `playground sweep`'s race does."""
    from playground.store import RunStore
    from playground.sweeps.race import Race

    start = time.perf_counter()
    race = Race(configs, data=data, device=device, store=RunStore(), network=model)
    statuses = race.fit()
    seconds = time.perf_counter() - start
    if any(status != "finished" for status in statuses):
        raise RuntimeError(f"race members did not all finish: {statuses}")
    return seconds


def run(config: Config) -> list[Figure]:
    from playground.data import load_dataset

    ks, epochs, repeats = config.pick(((4, 16), 1, 1), ((4, 8, 16, 32), 5, 3))
    data = load_dataset(members(1, epochs)[0], config.device)
    race_seconds(members(2, 1), data, config.device)  # warm: first optimizer, first store
    figures, curve = [], {}
    for k in ks:
        configs = members(k, epochs)
        alone, together = [], []
        for _ in range(repeats):  # interleaved, so a busier machine hits both alike
            alone.append(separate_seconds(configs, data, config.device))
            together.append(race_seconds(configs, data, config.device))
        speedup = median(alone) / median(together)
        curve[k] = speedup
        figures.append(Figure(
            ITEM, f"K={k}: K separate runs / one race of K, time", speedup,
            target=">= 6" if k == 16 else "", ok=speedup >= 6 if k == 16 else None,
            raw={"separate_s": median(alone), "race_s": median(together), "epochs": epochs,
                 "repeats": repeats, "steps_per_run": epochs * (data.n_train // 32)}))
    figures[-1].raw["speedup_by_k"] = curve  # the curve, in the JSON
    figures.append(own_model_race(config, data, epochs, repeats))
    return figures


def own_model_race(config: Config, data: Any, epochs: int, repeats: int) -> Figure:
    """K = 8 copies of a person's own small model: torch.func's stacked race against 8 runs."""
    k, model = 8, own_model()
    configs = members(k, epochs)
    race_seconds(members(2, 1), data, config.device, model)  # warm: vmap's first trace
    alone, together = [], []
    for _ in range(repeats):
        alone.append(separate_seconds(configs, data, config.device, model))
        together.append(race_seconds(configs, data, config.device, model))
    speedup = median(alone) / median(together)
    return Figure(ITEM, f"K={k}, your own model (torch.func): K separate runs / one race, time",
                  speedup, raw={"separate_s": median(alone), "race_s": median(together),
                                "epochs": epochs, "repeats": repeats})
