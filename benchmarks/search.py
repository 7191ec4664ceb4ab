"""6. Search: what Optuna costs next to the training it steers.

- TPE's ask/tell per trial over a 4-parameter space (objective free), against one trial's
  own training (a short Trainer run on moons);
- PED-ANOVA importance of a synthetic 1,000-trial study, against fANOVA on the same study.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from benchmarks._common import Config, Figure, median, repeat

ITEM = "6 search"


def space() -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {"lr": FloatDistribution(1e-4, 1.0, log=True),
            "batch_size": IntDistribution(8, 256, log=True),
            "dropout": FloatDistribution(0.0, 0.5),
            "depth": IntDistribution(1, 4)}


def _objective(params: dict[str, Any]) -> float:
    """Cheap and smooth, with one parameter that matters most (lr) and one that does not."""
    import math

    return (math.log10(params["lr"]) + 2) ** 2 + 0.3 * params["dropout"] + 0.1 * params["depth"]


def ask_tell_seconds(trials: int) -> list[float]:
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    distributions, times = space(), []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask(distributions)
        study.tell(trial, _objective(trial.params))
        times.append(time.perf_counter() - start)
    return times


def trial_seconds(epochs: int, repeats: int, device: str) -> list[float]:
    """A short training run as one trial does it: build the model, fit."""
    from playground.config import HParams
    from playground.data import load_dataset
    from playground.engine.trainer import Trainer

    hp = HParams(dataset="moons", epochs=epochs)
    data = load_dataset(hp, device)
    Trainer(hp.replace(epochs=1), data, device).fit()  # warm: the first optimizer imports a lot
    return repeat(lambda: Trainer(hp, data, device).fit(), repeats)


def synthetic_study(trials: int) -> Any:
    import numpy as np
    import optuna

    rng, distributions = np.random.default_rng(0), space()
    study = optuna.create_study()
    for _ in range(trials):
        params = {"lr": float(10 ** rng.uniform(-4, 0)),
                  "batch_size": int(round(2 ** rng.uniform(3, 8))),
                  "dropout": float(rng.uniform(0, 0.5)), "depth": int(rng.integers(1, 5))}
        value = _objective(params) + float(rng.normal(0, 0.1))
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                  value=value))
    return study


def importance_seconds(study: Any, evaluator: Any) -> tuple[float, dict[str, float]]:
    import optuna

    start = time.perf_counter()
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return time.perf_counter() - start, importances


def run(config: Config) -> list[Figure]:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    trials, epochs, repeats, study_size = config.pick((30, 1, 1, 100), (200, 5, 5, 1000))

    overhead = ask_tell_seconds(trials)
    training = trial_seconds(epochs, repeats, config.device)
    per_trial = median(overhead)
    late = median(overhead[-max(trials // 5, 1):])  # TPE's cost grows with the history
    ratio = per_trial / median(training)

    study = synthetic_study(study_size)
    ped, ped_importances = importance_seconds(study, PedAnovaImportanceEvaluator())
    fanova, fanova_importances = importance_seconds(study, FanovaImportanceEvaluator(seed=0))
    return [
        Figure(ITEM, "TPE ask+tell / one trial's training (moons), time", ratio,
               raw={"ask_tell_ms_median": 1000 * per_trial, "ask_tell_ms_late": 1000 * late,
                    "trial_ms": 1000 * median(training), "trials": trials,
                    "trial_epochs": epochs}),
        Figure(ITEM, f"fANOVA / PED-ANOVA importance at {study_size:,} trials, time",
               fanova / ped,
               raw={"ped_anova_s": ped, "fanova_s": fanova, "trial_s": median(training),
                    "ped_anova_top": max(ped_importances, key=ped_importances.get),
                    "fanova_top": max(fanova_importances, key=fanova_importances.get)}),
    ]
