"""Which hyperparameters matter: importance over a study or over saved runs.

Importance is Optuna's: PED-ANOVA by default (fast, fine with few trials), fANOVA on request
(a random forest; slower, smoother). Saved runs become a study of their own, built with
create_trial/add_trials over only the fields that vary between them. Optuna (and, for
fANOVA, scikit-learn) load when importance is first computed, not with this module.
One-at-a-time sensitivity curves, which train, are in `sweeps.sensitivity`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from playground.config import HParams, HParamsError
from playground.status import Status
from playground.sweeps._base import METRICS

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from playground.store import RunInfo

EVALUATORS = ("ped_anova", "fanova")


def make_evaluator(name: str, n_trials: int = 100) -> optuna.importance.BaseImportanceEvaluator:
    """PED-ANOVA compares the top trials against all; with few trials its top quantile is
    widened so that it holds at least two."""
    import optuna

    if name == "ped_anova":
        quantile = min(0.5, max(0.1, 2.0 / max(n_trials, 1)))
        return optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
    if name == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    raise HParamsError("importance", name, "one of " + ", ".join(EVALUATORS))


def importances(study: optuna.Study, evaluator: str = "ped_anova",
                params: list[str] | None = None) -> dict[str, float]:
    """Field -> importance (they sum to 1), most important first; {} with fewer than two
    COMPLETE trials or nothing that varies."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    varying = {name for trial in done for name in trial.params
               if len({_key(t.params.get(name)) for t in done}) > 1}
    names = [name for name in (params or sorted(varying)) if name in varying]
    if len(done) < 2 or not names:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental and "too few trials" notices
        values = optuna.importance.get_param_importances(
            study, evaluator=make_evaluator(evaluator, len(done)), params=names)
    return {name: float(value) for name, value in sorted(values.items(), key=lambda item: -item[1])}


def _key(value: Any) -> Any:
    return repr(value)


def study_from_runs(runs: Iterable[RunInfo], metric: str = "val_loss",
                    fields: Sequence[str] | None = None,
                    statuses: Sequence[str] = (Status.FINISHED,)) -> optuna.Study:
    """An in-memory study with one COMPLETE trial per saved run that has a finite `metric`.

    Its params are the HParams fields that vary between those runs (or `fields`); each
    field's distribution spans the values seen (log where the field is log and above 0).
    """
    import optuna

    if metric not in METRICS:
        raise HParamsError("metric", metric, "one of " + ", ".join(METRICS))
    kept = [(run.config, run.summary.get(metric)) for run in runs if run.status in statuses]
    kept = [(config, float(value)) for config, value in kept
            if isinstance(value, (int, float)) and math.isfinite(value)]
    specs = HParams.specs()
    if fields is None:
        fields = [name for name in specs
                  if len({_key(config.get(name)) for config, _ in kept}) > 1]
    space = {name: _observed(name, [config.get(name) for config, _ in kept]) for name in fields
             if name in specs}
    study = optuna.create_study(direction=METRICS[metric])
    study.add_trials([optuna.trial.create_trial(
        params={name: config[name] for name in space}, distributions=space, value=value)
        for config, value in kept if all(name in config for name in space)])
    return study


def _observed(name: str, values: list[Any]) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    spec = HParams.specs()[name]
    values = [value for value in values if value is not None]
    if spec.kind in ("choice", "bool") or len(set(values)) < 2:
        return CategoricalDistribution(tuple(sorted(set(values), key=str)) or (None,))
    low, high = min(values), max(values)
    log = spec.scale == "log" and low > 0
    if spec.kind == "int":
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def importance_from_runs(runs: Iterable[RunInfo], metric: str = "val_loss",
                         evaluator: str = "ped_anova") -> dict[str, float]:
    """Importance of the fields that vary between saved runs (a sweep's, say)."""
    return importances(study_from_runs(runs, metric), evaluator)
