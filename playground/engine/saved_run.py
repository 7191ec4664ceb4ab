"""One config trained as a run of the store, done one way by every caller: the runner's
thread, a sweep's trials (here and on Ray), the importance curve.

The run is created (or taken over, by id), its Trainer writes to it through a StoreSink, and
it ends with a status and a reason whatever happens: a data set that fails to load ends it
as failed before a step is taken; the Trainer (see engine/loop.py) ends it after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from playground.config import HParams, HParamsError
from playground.data import Dataset
from playground.engine.events import Callback
from playground.engine.sinks import StoreSink, keep_weights
from playground.engine.trainer import LOG_EVERY, Trainer
from playground.engine.transfer import read_source, start_from
from playground.own import OwnError, describe
from playground.status import Status
from playground.store import RunInfo, RunStore


class SavedRun:
    def __init__(self, store: RunStore, hp: HParams, device: Any, *, source: str,
                 name: str | None = None, parent: str | None = None,
                 run_id: str | None = None):
        """`run_id`: a run already created (the runner creates it as Start is pressed)."""
        self.store, self.hp, self.device = store, hp, device
        self.run_id = run_id or store.create_run(hp.to_dict(), str(device), name=name,
                                                 source=source, parent=parent)
        self.writer = store.writer(self.run_id)
        self.trainer: Trainer | None = None
        self.error: str | None = None

    def build(self, data: Callable[[HParams], Dataset], callbacks: Sequence[Callback] = (),
              log_every: int = LOG_EVERY,
              network: Callable[[HParams], nn.Module | None] | None = None) -> Trainer | None:
        """The run's Trainer, saving as it trains; None when it cannot be built: the run has
        then ended as failed, and `error` says why. `network`: a person's own model for
        these settings (None: the built-in one); the run keeps its description."""
        try:
            model = network(self.hp) if network is not None else None
            self.trainer = Trainer(self.hp, data(self.hp), self.device, log_every=log_every,
                                   callbacks=[StoreSink(self.writer), *callbacks], model=model)
            if self.hp.init_from:  # pretrained: the run records where its weights came from
                source = read_source(self.store, self.hp.init_from)
                self.trainer.emit_event("init", start_from(
                    self.trainer.model, source, self.trainer.data.class_names))
        except Exception as error:  # noqa: BLE001 - a missing data set, say: this run fails
            self.error = str(error) if isinstance(error, (OwnError, HParamsError)) else \
                f"{type(error).__name__}: {error}"
            self.writer.add_event(0, "status", self.error)
            self.writer.finish(Status.FAILED, 0, 0.0, {}, error=self.error)
            return None
        if model is not None:  # what a config alone cannot rebuild
            self.writer.add_event(0, "model", describe(model))
        if self.trainer.data.name == "custom":
            self.writer.add_event(0, "data", self.trainer.data.info.description)
        return self.trainer

    def end_paused(self, status: str = Status.STOPPED) -> None:
        """A run paused by a callback that nobody will resume (a sweep moves on) ends."""
        trainer = self.trainer
        assert trainer is not None and trainer.status == Status.PAUSED
        keep_weights(trainer, self.writer)
        self.writer.finish(status, trainer.step, trainer.seconds, trainer.summary())

    def info(self) -> RunInfo:
        return self.store.get(self.run_id)
