"""Races: K configurations of one MLP trained together as stacked weights.

Every member starts from the same initial weights and sees the same batches, in the order
the Trainer would draw them, so a race is K Trainer runs done at once; only the fields in
RACE_FIELDS may differ between members. Fields that change the architecture, the data or the
batches (depth, width, activation, init, batch norm, dataset, seed, batch size, epochs...)
raise HParamsError: sweep those instead, one run after another. A race must end: settings
that train until Stop (epochs 0) race for the default length instead, and say so (`note`,
and a change event in every member's run).

Each member is saved as a run (source "race:<id>") and its rows go to the callbacks, which
get the race where a Trainer's callbacks get the trainer; rows carry "member" and "run".
Pause and stop are the engine's CancelRun exceptions, raised by a callback in before_step.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

import torch
from torch import nn

from playground.config import RACE_FIELDS, HParams, HParamsError, with_an_end
from playground.data import Dataset, load_dataset
from playground.engine.batches import BatchOrder, eval_chunk, eval_every
from playground.engine.device import choose_device
from playground.engine.events import Callback
from playground.engine.loop import Loop, RunFailed, divergence_reason, exploded
from playground.engine.schedule import LrSchedule
from playground.engine.scores import r2, squared_residuals, values
from playground.engine.sinks import keep_weights
from playground.engine.trainer import EVAL_SAMPLES, LOG_EVERY
from playground.models import build_model
from playground.own import describe
from playground.status import Status
from playground.store import RunStore, RunWriter
from playground.sweeps._stacked import (
    StackedMLP,
    StackedModule,
    StackedOptimizer,
    member_losses,
    per_member,
    unstackable,
)

log = logging.getLogger(__name__)


class RaceMember(NamedTuple):
    value: Any  # of the raced field (race()), else the member's index
    hp: HParams
    run_id: str
    status: str
    steps: int
    summary: dict[str, Any]


class RaceResult(NamedTuple):
    race_id: str
    field: str | None
    members: list[RaceMember]
    note: str | None = None  # said when the race changed the settings (epochs 0 -> default)


class Race(Loop):
    """Train `configs` (one architecture, one data set) together; `fit()` returns statuses."""

    def __init__(self, configs: Sequence[HParams], *, data: Dataset | None = None,
                 device: str | torch.device = "cpu", store: RunStore | None = None,
                 callbacks: Sequence[Callback] = (), log_every: int = 10,
                 race_id: str | None = None, names: Sequence[str] | None = None,
                 network: nn.Module | None = None):
        """`network`: a person's own model, built for these settings, instead of the MLP
        (see playground/own.py); it must stack (sweeps/_stacked.unstackable says why not)."""
        check_raceable(list(configs))
        ended = [with_an_end(hp, "a race") for hp in configs]
        self.configs = [hp for hp, _ in ended]  # what the members train
        self.note = ended[0][1]  # None unless epochs 0 (until stopped) became the default
        self.hp = base = self.configs[0]
        self.k = len(self.configs)
        self.device = torch.device(device)
        self.data = data if data is not None else load_dataset(base, self.device)
        if network is None and len(self.data.input_shape) == 3:
            raise HParamsError("dataset", base.dataset, "a data set of points or a table: a "
                               "race trains MLPs, image sets train a CNN")
        rates = [hp.dropout for hp in self.configs]
        if network is not None and len(set(rates)) > 1:
            raise HParamsError("dropout", rates, "the same for every member of a race of your "
                               "own model (its nn.Dropout layers have one rate)")
        super().__init__(callbacks)
        self.log_every = log_every
        self.race_id = race_id or time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) \
            + secrets.token_hex(2)
        if network is not None:
            why = unstackable(network)
            if why:
                raise HParamsError("model", type(network).__name__, f"a model that stacks for a "
                                   f"race ({why}): sweep or curve it instead")
            self.model: StackedMLP | StackedModule = StackedModule(network, self.k, self.device)
        else:
            model = build_model(base, self.data.input_shape, max(self.data.n_classes, 1))
            self.model = StackedMLP(model, self.k, base.activation, self.device)
        self.optimizer = StackedOptimizer(
            self.model.parameters(), [hp.optimizer for hp in self.configs],
            self._tensor([0.0 if hp.optimizer == "sgd" else hp.momentum for hp in self.configs]),
            self._tensor([hp.weight_decay for hp in self.configs]))
        self.dropout = self._tensor([hp.dropout for hp in self.configs])
        self.l1 = self._tensor([hp.l1 for hp in self.configs])
        self.grad_clip = self._tensor([hp.grad_clip for hp in self.configs])
        self._uses = {name: any(getattr(hp, name) for hp in self.configs)
                      for name in ("dropout", "l1", "grad_clip")}
        self.schedules = [LrSchedule(hp, self.steps_per_epoch) for hp in self.configs]
        self.scheduled = any(hp.schedule != "constant" or hp.warmup_epochs
                             for hp in self.configs)
        self.generator = torch.Generator().manual_seed(base.seed + 1)  # the Trainer's order
        self.dropout_generator = torch.Generator(self.device).manual_seed(base.seed + 2)
        self.active = list(range(self.k))
        self.statuses = [Status.CREATED] * self.k
        self.member_steps = [0] * self.k
        self.lr = [hp.lr for hp in self.configs]
        self._lr = self._tensor(self.lr)
        self._batches = BatchOrder(self.data.n_train, self.generator, self.device)
        self._pending: list[tuple[int, int, list[float], torch.Tensor, Any]] = []
        self._first_loss: list[float | None] = [None] * self.k
        self.store = store if store is not None else RunStore()
        names = names or [f"race {self.race_id} #{k}" for k in range(self.k)]
        self.run_ids = [self.store.create_run(hp.to_dict(), str(self.device), name=name,
                                              source=f"race:{self.race_id}")
                        for hp, name in zip(self.configs, names)]
        self.writers: list[RunWriter] = [self.store.writer(run) for run in self.run_ids]
        for writer in self.writers:  # what a config alone cannot rebuild, as SavedRun keeps it
            if network is not None:
                writer.add_event(0, "model", describe(network))
            if self.data.name == "custom":
                writer.add_event(0, "data", self.data.info.description)

    def _tensor(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=self.device)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.data.n_train // self.hp.batch_size)

    @property
    def at_epoch_end(self) -> bool:
        return self._batches.position == 0

    @property
    def _eval_every(self) -> int:
        return eval_every(self.steps_per_epoch)

    # --- the loop (fit() is Loop's) ---------------------------------------------------------
    def fit(self) -> list[str]:  # type: ignore[override]
        """Train every member to the last epoch (members that diverge stop on their own);
        returns each member's status. Any error ends every member still racing as failed,
        with the reason (`status` and `error` say it for the race)."""
        for k in self.active:
            self.statuses[k] = Status.RUNNING
        super().fit()
        return list(self.statuses)

    def _first_points(self) -> None:
        if self.note:
            for k in self.active:
                self._event(k, "change", self.note, field="epochs", old=0, new=self.hp.epochs)
        self._evaluate_curves()

    def _more_to_do(self) -> bool:
        return self.epoch < self.hp.epochs and bool(self.active)

    def _train_step(self) -> None:
        x, y = self._next_batch()
        # each member's learning rate for this step
        if self.scheduled:
            self.lr = [hp.lr * s.factor(self.step) for hp, s in zip(self.configs, self.schedules)]
            self._lr = self._tensor(self.lr)
        # forward, backward: every member at once
        output = self.model.forward(x, self.dropout if self._uses["dropout"] else None,
                                    self.dropout_generator)
        losses, score = member_losses(output, y, self.data.task, self.hp.loss)
        objective = losses + self.l1 * self.model.l1() if self._uses["l1"] else losses
        for param in self.model.parameters():
            param.grad = None
        objective[self.active].sum().backward()
        if self.step % LOG_EVERY == 0:  # as the Trainer samples them
            self._log_layer_norms()
        # clip, step
        if self._uses["grad_clip"]:
            self._clip()
        self.optimizer.step(self._lr)
        self.step += 1
        # log: keep tensors, read them back in batches
        self._pending.append((self.step, self.epoch, list(self.lr), losses.detach(), score))
        if self.at_epoch_end:
            self.epoch += 1
        if len(self._pending) >= self.log_every or self.at_epoch_end:
            self._flush()
        if self.at_epoch_end or self.step % self._eval_every == 0:
            self._evaluate_curves()
        for k in self.active:
            self.member_steps[k] = self.step
            self.writers[k].heartbeat(self.step, self.elapsed())

    def _end_runs(self, status: str, error: str | None) -> None:
        if status == Status.PAUSED:
            for k in self.active:
                self.statuses[k] = Status.PAUSED
        elif status == Status.FAILED:
            self._fail(error or Status.FAILED)
        else:
            self._end_members(self.active, status, error)

    def _closing(self) -> None:
        if self.status == Status.PAUSED:
            for k in self.active:
                self.writers[k].heartbeat(self.step, self.seconds, status=Status.PAUSED)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._batches.next(self.hp.batch_size)  # the Trainer's batches, in its order
        return self.data.x_train[index], self.data.y_train[index]

    def _clip(self) -> None:
        """Each member's gradient norm to at most its grad_clip (0: no clipping)."""
        grads = [p.grad for p in self.model.parameters()]
        norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()
        scale = (self.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        scale = torch.where(self.grad_clip > 0, scale, torch.ones_like(scale))
        for g in grads:
            g.mul_(per_member(scale, g))

    # --- metrics ---------------------------------------------------------------------------
    def _flush(self) -> None:
        """Read pending losses back, hand each member's rows on, and stop members that
        diverged (the engine's rule: `exploded`)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        losses = torch.stack([p[3] for p in pending]).tolist()  # (steps, K)
        scores = torch.stack([p[4] for p in pending]).tolist()  # accuracy or R², (steps, K)
        seconds = self.elapsed()
        rows, diverged = [], {}
        for k in list(self.active):
            for i, (step, epoch, lrs, _, _) in enumerate(pending):
                loss = losses[i][k]
                rows.append({"step": step, "epoch": epoch, "split": "train", "loss": loss,
                             "accuracy": values([scores[i][k]])[0],
                             "lr": lrs[k], "seconds": seconds, "member": k,
                             "run": self.run_ids[k]})
                if self._first_loss[k] is None:
                    self._first_loss[k] = loss
                if exploded(self._first_loss[k], loss):
                    diverged[k] = (step, loss)
                    break
        self._emit_points(rows)
        for k, (step, loss) in diverged.items():
            self.member_steps[k] = step
            self._end_members([k], Status.DIVERGED,
                              error=divergence_reason(step, loss, self.configs[k].lr))

    def _log_layer_norms(self) -> None:
        """Each member's gradient and weight norm per layer, the Trainer's rows ("layer1",
        ...): the gradient-norm plot shows a race's members like any run."""
        weights = self.model.weights
        grads = torch.stack([w.grad.pow(2).flatten(1).sum(1) for w in weights]).sqrt().T.tolist()
        sizes = torch.stack([w.detach().pow(2).flatten(1).sum(1)
                             for w in weights]).sqrt().T.tolist()
        names = self.model.layer_names
        rows = [{"step": self.step, "layer": names[i], "grad_norm": grads[k][i],
                 "weight_norm": sizes[k][i], "member": k, "run": self.run_ids[k]}
                for k in self.active for i in range(len(weights))]
        for k in self.active:
            self.writers[k].add_layer_norms([row for row in rows if row["member"] == k])
        self._trigger("on_layer_norms", rows)

    def _emit_points(self, rows: list[dict[str, Any]]) -> None:
        for k in {row["member"] for row in rows}:
            self.writers[k].add_points([row for row in rows if row["member"] == k])
        if rows:
            self._trigger("on_points", rows)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list | None]:
        """Each member's loss and score (no dropout): accuracy for classes, R² for regression
        (None when y has no spread), as the Trainer's `evaluate`."""
        self.model.train(False)
        classifying = self.data.task == "classification"
        total = torch.zeros(self.k, device=self.device)
        correct = torch.zeros(self.k, device=self.device)  # classes: hits; regression: SS_res
        chunk = eval_chunk(x.shape[1:], models=self.k)
        for start in range(0, len(x), chunk):
            target = y[start:start + chunk]
            output = self.model.forward(x[start:start + chunk])
            losses, accuracy = member_losses(output, target, self.data.task, self.hp.loss)
            total += losses * len(target)
            correct += (accuracy * len(target) if classifying
                        else squared_residuals(output, target))
        self.model.train(True)
        n = max(len(x), 1)
        if classifying:
            return (total / n).tolist(), (correct / n).tolist()
        if not len(y):
            return (total / n).tolist(), None
        # SS_tot about the mean of all of y, not of each chunk
        return (total / n).tolist(), values(r2(correct, y).tolist())

    def _evaluate_curves(self) -> None:
        if self._last_eval_step == self.step:
            return
        self._last_eval_step = self.step
        losses, accuracies = self.evaluate(self.data.x_val[:EVAL_SAMPLES],
                                           self.data.y_val[:EVAL_SAMPLES])
        seconds = self.elapsed()
        self._emit_points([{"step": self.step, "epoch": self.epoch, "split": "val",
                            "loss": losses[k], "lr": self.lr[k], "seconds": seconds,
                            "accuracy": None if accuracies is None else accuracies[k],
                            "member": k, "run": self.run_ids[k]} for k in self.active])

    def summaries(self) -> list[dict[str, Any]]:
        """Final train/val loss and accuracy of every member, on the whole sets."""
        train = self.evaluate(self.data.x_train, self.data.y_train)
        val = self.evaluate(self.data.x_val, self.data.y_val)
        return [{"train_loss": train[0][k],
                 "train_accuracy": None if train[1] is None else train[1][k],
                 "val_loss": val[0][k], "val_accuracy": None if val[1] is None else val[1][k],
                 "task": self.data.task}
                for k in range(self.k)]

    # --- members and events ------------------------------------------------------------------
    def _end_members(self, members: Sequence[int], status: str, error: str | None = None,
                     ) -> None:
        """Members leave the race: their runs get their final state and summary."""
        members = [k for k in members if k in self.active]
        if not members:
            return
        self.active = [k for k in self.active if k not in members]
        self.optimizer.set_active(self.active)
        summaries = self.summaries()
        for k in members:
            self.statuses[k] = status
            self._keep_weights(k)
            self._event(k, "status", error or status)
            self.writers[k].finish(status, self.member_steps[k], self.elapsed(), summaries[k],
                                   error=error)

    def _keep_weights(self, k: int) -> None:
        """Member k's weights beside the store, as a Trainer's run keeps its own."""
        member = SimpleNamespace(model=self.model.member(k), hp=self.configs[k], data=self.data,
                                 step=self.member_steps[k], seconds=self.elapsed())
        keep_weights(member, self.writers[k])

    def _fail(self, reason: str) -> None:
        """Every member still in the race ends as failed, with the reason, as far as it can
        be written (the error may have come from the tensors a summary would read)."""
        members, self.active = self.active, []
        for k in members:
            self.statuses[k] = Status.FAILED
            try:
                self.writers[k].finish(Status.FAILED, self.member_steps[k], self.elapsed(), {},
                                       error=reason)
            except Exception:  # noqa: BLE001 - the others still get theirs
                log.exception("race %s: run %s could not be marked failed", self.race_id,
                              self.run_ids[k])

    def _event(self, k: int, kind: str, message: str, *, field: str | None = None,
               old: Any = None, new: Any = None) -> None:
        event = {"step": self.member_steps[k], "seconds": self.elapsed(), "kind": kind,
                 "field": field, "old": old, "new": new, "message": message, "member": k,
                 "run": self.run_ids[k]}
        self.writers[k].add_event(event["step"], kind, message, field=field, old=old, new=new,
                                  seconds=event["seconds"])
        self._trigger("on_event", event)

    def result(self, field: str | None = None, values: Sequence[Any] | None = None,
               ) -> RaceResult:
        summaries = [self.store.get(run).summary for run in self.run_ids]
        members = [RaceMember(values[k] if values is not None else k, hp, self.run_ids[k],
                              self.statuses[k], self.member_steps[k], summaries[k])
                   for k, hp in enumerate(self.configs)]
        return RaceResult(self.race_id, field, members, self.note)


def check_raceable(configs: Sequence[HParams]) -> None:
    """HParamsError unless the configs differ only in RACE_FIELDS and can share one MLP."""
    if not configs:
        raise HParamsError("race", [], "at least one configuration")
    base = configs[0]
    for hp in configs[1:]:
        fixed = sorted(set(base.diff(hp)) - set(RACE_FIELDS))
        if fixed:
            name = fixed[0]
            raise HParamsError(name, [getattr(c, name) for c in configs],
                               "the same value for every member: a race shares one "
                               "architecture, one data set and the same batches; it can vary "
                               + ", ".join(RACE_FIELDS) + " (sweep the others)")
    if base.batch_norm:
        raise HParamsError("batch_norm", True, "false in a race (members share batches, "
                           "not batch statistics)")
    if base.init_from:  # the stacked members start from their own fresh weights
        raise HParamsError("init_from", base.init_from, "empty in a race (its members start "
                           "from fresh weights); sweep a run that starts from another instead")
    if base.freeze:
        raise HParamsError("freeze", base.freeze, "0 in a race (its members train every "
                           "layer); sweep to compare frozen layers")


def race(base: HParams, field: str, values: Sequence[Any], *, device: str = "cpu",
         store: RunStore | None = None, callbacks: Sequence[Callback] = (),
         data: Dataset | None = None, log_every: int = 10,
         network: nn.Module | None = None) -> RaceResult:
    """Race one field over `values`, holding the rest at `base`; every member is saved.
    A base that trains until Stop (epochs 0) races for the default length (see the result's
    note)."""
    if field not in RACE_FIELDS:
        if field not in HParams.specs():
            raise HParamsError(field, list(values), "a field of HParams: "
                               + ", ".join(HParams.specs()))
        raise HParamsError(field, list(values), "a field a race can vary: "
                           + ", ".join(RACE_FIELDS) + " (sweep the others)")
    configs = [base.replace(**{field: value}) for value in values]
    names = [f"{field}={value}" for value in values]
    runner = Race(configs, data=data, device=choose_device(device), store=store,
                  callbacks=callbacks, log_every=log_every, names=names, network=network)
    runner.fit()
    if runner.status == Status.FAILED:
        raise RunFailed(f"the race failed: {runner.error}")
    return runner.result(field, [getattr(hp, field) for hp in configs])
