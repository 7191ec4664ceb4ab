"""The runner: trains in a daemon thread and takes commands from any other thread.

A notebook cell that trains blocks every widget message, so training never runs in one.
Commands (start, pause, resume, step, stop, reset) and hyperparameter changes are read by
the training thread at step boundaries, under one lock. Each run gets a generation number;
rows from a stale run are dropped from the live record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from playground.config import HParams
from playground.data import check_loss
from playground.engine.device import choose_device
from playground.engine.events import Callback, PauseRun, StopRun
from playground.engine.record import RunRecord
from playground.engine.saved_run import SavedRun
from playground.engine.sinks import RecordSink
from playground.engine.trainer import LOG_EVERY, Trainer
from playground.engine.transfer import check_start
from playground.own import Own, OwnModelArg
from playground.status import Status
from playground.store import RunStore


class Runner:
    def __init__(self, hp: HParams | None = None, *, device: str | None = "auto",
                 store: RunStore | None = None, callbacks: list[Callback] | tuple = (),
                 source: str = "manual", log_every: int = LOG_EVERY,
                 name_runs: Callable[[], str] | None = None,
                 model: OwnModelArg | None = None, data: Any = None):
        """`model`, `data`: your own network (an nn.Module, or a function hp -> nn.Module)
        and data (tensors, arrays or torch Datasets), see playground/own.py; checked here,
        before anything trains (OwnError, a ValueError, names what does not fit)."""
        self.device = choose_device(device)
        self.store = store if store is not None else RunStore()
        self.record = RunRecord()
        self.callbacks = list(callbacks)  # added to every run this runner starts
        self.source = source
        self.log_every = log_every
        self.name_runs = name_runs  # a new run's name (the app: "run 7"); else its id
        self.run_id: str | None = None
        self.trainer: Trainer | None = None
        self.status = Status.IDLE  # idle, starting, running, paused, or a terminal status
        self.error: str | None = None
        self.own = Own(model, data)
        self._hp = self.own.hparams(hp or HParams())
        if self.own.data is None:  # a loss that cannot fit the custom table: refused now,
            check_loss(self._hp)  # not saved as a failed run
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._stop = False
        self._paused = False
        self._budget: int | None = None  # steps left before pausing, for step()

    # --- state -------------------------------------------------------------------------
    @property
    def hparams(self) -> HParams:
        with self._cond:
            return self._hp

    @property
    def active(self) -> bool:
        """A run is loading, training or paused."""
        return self._thread is not None and self._thread.is_alive()

    # --- commands -----------------------------------------------------------------------
    def update(self, **changes: Any) -> HParams:
        """Change hyperparameters. Live ones apply at the next step; others start a new run
        if one is training (the old run stays saved). Raises HParamsError on bad values
        (InitFromError for a run to start from that cannot be used)."""
        with self._cond:
            old = self._hp
            new = old.replace(**changes)
            if new.init_from and old.needs_new_run(new):  # refused now, not at the next start
                new = check_start(self.store, new, shapes=not self.own)
            self._hp = new
        if self.active and old.needs_new_run(new):
            self.stop()
            self.start()
        return new

    def start(self) -> str:
        """Start a new run, or resume a paused one; pressing it twice does nothing more.
        A run to start from (init_from) that is not saved, has no weights or does not fit
        is refused here (InitFromError), before a run is created."""
        with self._cond:
            if self.active:
                self._paused, self._budget = False, None
                self._cond.notify_all()
                return self.run_id  # type: ignore[return-value]
            # the full id, so the run's config says which run its weights came from
            self._hp = check_start(self.store, self._hp, shapes=not self.own)
            parent = self.run_id
            self._generation += 1
            self._stop = self._paused = False
            self._budget = None
            hp = self._hp
            name = self.name_runs() if self.name_runs is not None else None
            self.run_id = self.store.create_run(hp.to_dict(), str(self.device), name=name,
                                                source=self.source, parent=parent)
            self.status, self.error, self.trainer = Status.STARTING, None, None
            self._thread = threading.Thread(target=self._main, args=(self._generation, hp,
                                            self.run_id), daemon=True,
                                            name=f"playground-run-{self.run_id}")
            self._thread.start()
            return self.run_id

    def pause(self) -> None:
        with self._cond:
            self._paused, self._budget = True, None

    def resume(self) -> None:
        with self._cond:
            self._paused, self._budget = False, None
            self._cond.notify_all()

    def step(self, n: int = 1) -> None:
        """Train n more steps, then pause."""
        with self._cond:
            self._paused, self._budget = True, n
            self._cond.notify_all()

    def stop(self, timeout: float | None = 30.0) -> str:
        """End the run at the next step boundary and wait for its thread; returns its status."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self.wait(timeout)
        return self.status

    def reset(self) -> None:
        """Stop the run; the next start begins fresh weights with the current settings."""
        self.stop()
        with self._cond:
            self.trainer, self.run_id, self.status, self.error = None, None, Status.IDLE, None

    def wait(self, timeout: float | None = None) -> str:
        """Block until the run's thread ends (or the timeout passes); returns the status."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self.status

    # --- the training thread -------------------------------------------------------------
    def _main(self, generation: int, hp: HParams, run_id: str) -> None:
        run = SavedRun(self.store, hp, self.device, source=self.source, run_id=run_id)
        trainer = run.build(lambda hp: self.own.load(hp, self.device), [
            _Controls(self, generation),
            RecordSink(self.record, run_id, live=lambda: generation == self._generation),
            *self.callbacks], log_every=self.log_every, network=self.own.network)
        if trainer is None:  # a missing data set, say: the run ends, the app goes on
            self._set_status(generation, Status.FAILED, run.error)
            return
        with self._cond:
            if generation == self._generation:
                self.trainer = trainer
        while True:
            status = trainer.fit()
            self._set_status(generation, status, trainer.error)
            if status != Status.PAUSED:
                return
            with self._cond:
                self._cond.wait_for(lambda: self._stop or not self._paused or bool(self._budget)
                                    or generation != self._generation)

    def _set_status(self, generation: int, status: str, error: str | None) -> None:
        with self._cond:
            if generation == self._generation:
                self.status, self.error = status, error


class _Controls(Callback):
    """Reads the runner's commands and hyperparameters at each step boundary."""

    def __init__(self, runner: Runner, generation: int):
        self.runner, self.generation = runner, generation

    def before_fit(self, trainer: Trainer) -> None:
        self.runner._set_status(self.generation, Status.RUNNING, None)

    def before_step(self, trainer: Trainer) -> None:
        runner = self.runner
        # Nothing asked, nothing changed: read without the lock (a lock a step was 1% of a small
        # step). Attribute reads are atomic, and a command landing just after is seen next step.
        if not (runner._stop or runner._paused or runner._budget is not None
                or runner._hp is not trainer.hp or runner._generation != self.generation):
            return
        with runner._cond:
            if runner._stop or self.generation != runner._generation:
                raise StopRun()
            if runner._budget is not None:
                if runner._budget <= 0:
                    raise PauseRun()
                runner._budget -= 1
            elif runner._paused:
                raise PauseRun()
            hp = runner._hp
        if hp is not trainer.hp and hp != trainer.hp and not trainer.hp.needs_new_run(hp):
            trainer.apply(hp)
