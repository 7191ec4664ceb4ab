"""The training loop: one model, one dataset, resumable, steered between steps.

Small data sits on the device as tensors and is batched by index (no DataLoader). Step
metrics (a row per step) are kept as device tensors and read back in batches, at every
validation and at least every FLUSH_EVERY seconds, so neither the GPU nor the Python around a
small CPU step pays for a read-back on every step; divergence is checked on each read-back
and pinned to its exact step. Layer norms are sampled every `log_every` steps.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from playground.config import HParams
from playground.data import Dataset
from playground.engine.batches import BatchOrder, eval_chunk, eval_every
from playground.engine.events import Callback, DivergedRun
from playground.engine.loop import Loop, divergence_reason, exploded
from playground.engine.optim import apply_live, build_loss, build_optimizer
from playground.engine.schedule import SCHEDULE_FIELDS, LrSchedule
from playground.engine.scores import r2, squared_residuals, values
from playground.engine.transfer import freeze
from playground.models import build_model, mode_matters, set_dropout, weight_layers
from playground.own import layer_names
from playground.status import Status

EVAL_SAMPLES = 2000  # validation samples scored for the curves; the final summary uses all
FLUSH_EVERY = 0.05  # seconds between read-backs of step metrics (the plots read at 10 Hz)
LOG_EVERY = 25  # steps between samples of the layer norms (every 10 cost 3.5% of a small step)


class Trainer(Loop):
    def __init__(self, hp: HParams, data: Dataset, device: torch.device | str = "cpu",
                 callbacks: list[Callback] | tuple[Callback, ...] = (),
                 log_every: int = LOG_EVERY, model: nn.Module | None = None):
        """`model`: a person's own network (see playground/own.py) instead of the one built
        from hp (an MLP, or a CNN for images)."""
        super().__init__(callbacks)
        self.hp = hp
        self.data = data
        self.device = torch.device(device)
        self.log_every = log_every
        self.own_model = model is not None
        if model is None:
            model = build_model(hp, data.input_shape, max(data.n_classes, 1))
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, hp)  # frozen ones too: unfrozen, they train
        freeze(self.model, hp.freeze)
        self.loss_fn = build_loss(hp, data.task)
        self.layers = weight_layers(self.model)
        self.layer_names = (layer_names(self.model, self.layers) if self.own_model else
                            [f"layer{i + 1}" for i in range(len(self.layers))])
        self.generator = torch.Generator().manual_seed(hp.seed + 1)  # batch order, on the CPU
        self.schedule = LrSchedule(hp, self.steps_per_epoch)
        self._eval_every = eval_every(self.steps_per_epoch)  # kept: read every step
        self.lr = hp.lr
        self._batches = BatchOrder(data.n_train, self.generator, self.device)
        self._pending: list[tuple[Any, ...]] = []  # step, epoch, lr, loss, output, target
        self._modal = self._mode_matters()  # eval mode differs from train
        self._first_loss: float | None = None
        self._flushed = 0.0  # perf_counter at the last read-back

    # --- hyperparameters -------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.data.n_train // self.hp.batch_size)

    def apply(self, hp: HParams) -> None:
        """Apply live changes from the next step on, each recorded as an event of the run."""
        changes = self.hp.diff(hp)
        if not changes:
            self.hp = hp  # an equal copy: the runner's check stays an identity test
            return
        if self.hp.needs_new_run(hp):
            fixed = sorted(set(changes) - HParams.live_fields())
            raise ValueError(f"{', '.join(fixed)} cannot change during a run; start a new run")
        self.hp = hp
        self._modal = self._mode_matters()
        apply_live(self.optimizer, hp)
        if "dropout" in changes:
            set_dropout(self.model, hp.dropout)
        if "freeze" in changes:
            freeze(self.model, hp.freeze)
        if any(name in changes for name in SCHEDULE_FIELDS + ("batch_size",)):
            self.schedule = LrSchedule(hp, self.steps_per_epoch)
            self._eval_every = eval_every(self.steps_per_epoch)
        for name, (before, after) in changes.items():
            label = HParams.specs()[name].label
            self.emit_event("change", f"{label} {before} -> {after} at step {self.step}",
                            field=name, old=before, new=after)

    # --- the loop (fit() is Loop's) ---------------------------------------------------------
    # With epochs 0 there is no last epoch: the run trains until a callback stops it (the
    # runner's Stop). Epochs is live: set while training, the run ends once it has done that
    # many (at once if it already has); set to 0, it goes on until stopped.
    def _more_to_do(self) -> bool:
        return self.hp.until_stopped or self.epoch < self.hp.epochs

    def _first_points(self) -> None:
        self._evaluate_curves()

    def _train_step(self) -> None:
        x, y = self._next_batch()
        # set the learning rate for this step
        self.lr = self.hp.lr * self.schedule.factor(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        # forward, backward
        if not self.model.training:  # train() walks every module: only after eval
            self.model.train()
        output = self.model(x)
        loss = self.loss_fn(output, y)
        objective = loss + self.hp.l1 * self._l1_norm() if self.hp.l1 else loss
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        self._trigger("after_backward")
        if self.step % self.log_every == 0:
            self._log_layer_norms()
        # clip, step
        if self.hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.grad_clip)
        self.optimizer.step()
        self.step += 1
        # log: keep tensors, score and read them back in batches
        self._pending.append((self.step, self.epoch, self.lr, loss.detach(), output.detach(), y))
        if self.at_epoch_end:
            self.epoch += 1
        if self.at_epoch_end or self.step % self._eval_every == 0:
            self._evaluate_curves()  # flushes first, so rows stay in step order
        elif time.perf_counter() - self._flushed >= FLUSH_EVERY:
            self._flush()

    def _closing(self) -> None:
        if self.status != Status.PAUSED:  # the run's store sink ends it in after_fit
            self.emit_event("status", self.error or self.status)

    def _mode_matters(self) -> bool:
        """Dropout or batch norm (a person's own model: assume so): eval() changes outputs."""
        return self.own_model or mode_matters(self.hp)

    # --- batches ---------------------------------------------------------------------------
    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._batches.next(self.hp.batch_size)
        return self.data.x_train[index], self.data.y_train[index]

    # --- metrics ---------------------------------------------------------------------------
    @property
    def _classifying(self) -> bool:
        return self.data.task == "classification"

    @property
    def at_epoch_end(self) -> bool:
        """True between the last step of an epoch and the first of the next."""
        return self._batches.position == 0

    def _l1_norm(self) -> torch.Tensor:
        return sum(layer.weight.abs().sum() for layer in self.layers)

    def _flush(self) -> None:
        """Read pending step metrics back from the device, check them, hand them on."""
        self._flushed = time.perf_counter()
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        losses = torch.stack([p[3] for p in pending]).tolist()
        scores = (self._accuracies if self._classifying else self._r2s)(
            [p[4] for p in pending], [p[5] for p in pending])
        seconds = self.elapsed()
        rows = [{"step": step, "epoch": epoch, "split": "train", "loss": loss,
                 "accuracy": score, "lr": lr, "seconds": seconds}
                for (step, epoch, lr, *_), loss, score in zip(pending, losses, scores)]
        self._trigger("on_points", rows)
        for row in rows:
            self._check_divergence(row["step"], row["loss"])

    @staticmethod
    def _accuracies(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> list[float]:
        """Each batch's accuracy, scored in one pass when the batches are the same size (three
        small ops a step were 4% of a step of the default MLP on a CPU)."""
        if len({len(target) for target in targets}) == 1:
            correct = (torch.stack(outputs).argmax(2) == torch.stack(targets)).sum(1)
        else:  # the batch size changed within the batch of steps
            correct = torch.stack([(output.argmax(1) == target).sum()
                                   for output, target in zip(outputs, targets)])
        return [hits / len(target) for hits, target in zip(correct.tolist(), targets)]

    @staticmethod
    def _r2s(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> list[float | None]:
        """Each batch's R² (regression), read back in one go like the accuracies; None for a
        batch whose targets have no spread (a batch of one)."""
        if len({len(target) for target in targets}) == 1:
            stacked = torch.stack(targets)
            scores = r2(squared_residuals(torch.stack(outputs), stacked), stacked)
        else:  # the batch size changed within the batch of steps
            scores = torch.stack([r2(squared_residuals(output, target), target)
                                  for output, target in zip(outputs, targets)])
        return values(scores.tolist())

    def _check_divergence(self, step: int, loss: float) -> None:
        if self._first_loss is None:
            self._first_loss = loss
        if exploded(self._first_loss, loss):
            raise DivergedRun(divergence_reason(step, loss, self.hp.lr))

    def _log_layer_norms(self) -> None:
        # a frozen layer has no gradient: its norm is 0, and the row says it is frozen
        logged = [(layer.weight, name) for layer, name in zip(self.layers, self.layer_names)
                  if layer.weight.grad is not None or not layer.weight.requires_grad]
        weights = [weight for weight, _ in logged]
        grads = [weight.grad if weight.grad is not None else torch.zeros_like(weight)
                 for weight in weights]
        # two multi-tensor norms instead of two norms a layer (clip_grad_norm_ uses the same)
        norms = torch.stack([*torch._foreach_norm(grads),
                             *torch._foreach_norm([w.detach() for w in weights])]).tolist()
        count = len(weights)
        rows = [{"step": self.step, "layer": name, "grad_norm": grad, "weight_norm": w}
                for (_, name), grad, w in zip(logged, norms[:count], norms[count:])]
        for row, weight in zip(rows, weights):
            if not weight.requires_grad:
                row["frozen"] = True
        self._trigger("on_layer_norms", rows)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
        """Loss and score in eval mode (no dropout, batch norm's running statistics): the
        score is accuracy for classes, R² for regression (None when y has no spread)."""
        if self._modal:  # eval() and train() walk every module: only when they change anything
            self.model.eval()
        total_loss, correct = 0.0, 0.0
        residuals = torch.zeros((), device=self.device)  # SS_res, read back once at the end
        chunk = eval_chunk(x.shape[1:])
        for start in range(0, len(x), chunk):
            output = self.model(x[start:start + chunk])
            target = y[start:start + chunk]
            total_loss += self.loss_fn(output, target).item() * len(target)
            if self._classifying:
                correct += (output.argmax(1) == target).sum().item()
            else:
                residuals += squared_residuals(output, target)
        n = max(len(x), 1)
        if self._classifying:
            return total_loss / n, correct / n
        # SS_tot about the mean of all of y, not of each chunk
        return total_loss / n, (values([r2(residuals, y).item()])[0] if len(y) else None)

    def _evaluate_curves(self) -> None:
        if self._last_eval_step == self.step:
            return
        self._flush()
        self._last_eval_step = self.step
        loss, accuracy = self.evaluate(self.data.x_val[:EVAL_SAMPLES],
                                       self.data.y_val[:EVAL_SAMPLES])
        seconds = self.elapsed()
        self._trigger("on_points", [{"step": self.step, "epoch": self.epoch, "split": "val",
                                     "loss": loss, "accuracy": accuracy, "lr": self.lr,
                                     "seconds": seconds}])

    def summary(self) -> dict[str, Any]:
        """Final metrics on the whole train and validation sets; the task says what the
        accuracy keys hold (R² for regression), also for a custom table read later."""
        train_loss, train_accuracy = self.evaluate(self.data.x_train, self.data.y_train)
        val_loss, val_accuracy = self.evaluate(self.data.x_val, self.data.y_val)
        return {"train_loss": train_loss, "train_accuracy": train_accuracy,
                "val_loss": val_loss, "val_accuracy": val_accuracy, "task": self.data.task}

    # --- events ----------------------------------------------------------------------------
    def emit_event(self, kind: str, message: str, *, field: str | None = None,
                   old: Any = None, new: Any = None) -> None:
        self._trigger("on_event", {"step": self.step, "seconds": self.elapsed(), "kind": kind,
                                   "field": field, "old": old, "new": new, "message": message})

    def publish(self, channel: str, row: dict[str, Any]) -> None:
        """Hand a snapshot of the model (from a probe) to the callbacks."""
        self._trigger("on_snapshot", channel, {"step": self.step, **row})
