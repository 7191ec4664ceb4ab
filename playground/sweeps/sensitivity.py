"""One-at-a-time sensitivity curves: vary one field, hold the rest, train, and read the metric.

Fields a race can vary train together as one batched race; the others train one run after
another, like a sweep's trials. Loads torch (it trains); importance over the runs is in
`sweeps.importance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from playground.config import RACE_FIELDS, HParams, HParamsError, with_an_end
from playground.engine.device import choose_device
from playground.engine.events import Callback
from playground.own import Own
from playground.store import RunStore
from playground.sweeps._base import METRICS
from playground.sweeps._stacked import unstackable
from playground.sweeps._trial import DataCache, RunCallbacks, train_trial
from playground.sweeps.race import race


class SensitivityRow(NamedTuple):
    value: Any  # of the field varied
    metric: float | None  # the final metric; None when the run failed
    run_id: str | None
    status: str
    note: str | None = None  # said when the curve changed the settings (epochs 0 -> default)


def one_at_a_time(base: HParams, field: str, values: Sequence[Any], *,
                  metric: str = "val_loss", device: str = "cpu", store: RunStore | None = None,
                  callbacks: Sequence[Callback] = (), batched: bool = True,
                  own: Own | None = None, source: str | None = None,
                  run_callbacks: RunCallbacks | None = None) -> list[SensitivityRow]:
    """Vary one field over `values`, holding the rest at `base`: a sensitivity curve.

    Fields a race can vary train together as one batched race (see config.RACE_FIELDS);
    others train one run after another. Every run is saved in the store. A curve must end:
    a base that trains until Stop (epochs 0) trains the default length instead, and each
    row's note says so; a curve over epochs itself cannot include 0. `own`: your own model
    and data (playground/own.py); a model that cannot be stacked (batch norm) trains its
    values one after another. `source` and `run_callbacks` as for a sweep's trials.
    """
    if metric not in METRICS:
        raise HParamsError("metric", metric, "one of " + ", ".join(METRICS))
    if field == "epochs" and any(value == 0 for value in values):
        spec = HParams.specs()["epochs"]
        raise HParamsError("epochs", list(values), f"whole numbers 1 to {spec.high:g} for a "
                           f"curve (0, {spec.zero}, never ends)")
    base, note = with_an_end(base, "a curve")
    configs = [base.replace(**{field: value}) for value in values]  # checks every value
    own = own or Own()
    network = own.network(base)
    stacks = network is None or unstackable(network) is None
    if batched and field in RACE_FIELDS and len(configs) > 1 and stacks:
        data = own.load(base, choose_device(device)) if own.data is not None else None
        result = race(base, field, list(values), device=device, store=store,
                      callbacks=callbacks, data=data, network=network)
        return [SensitivityRow(member.value, member.summary.get(metric), member.run_id,
                               member.status, note) for member in result.members]
    store = store if store is not None else RunStore()
    device = choose_device(device)
    cache = DataCache(device, own)
    rows = []
    for value, hp in zip(values, configs):
        outcome = train_trial(hp, list(callbacks), f"{field}={value}", store=store,
                              device=device, source=source or f"sensitivity:{field}",
                              data=cache.get, network=own.network, run_callbacks=run_callbacks)
        rows.append(SensitivityRow(getattr(hp, field), outcome.summary.get(metric),
                                   outcome.run_id, outcome.status, note))
    return rows
