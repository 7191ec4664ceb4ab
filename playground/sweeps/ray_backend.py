"""The same sweep on Ray Tune: trials spread over a Ray cluster, or two local workers.

Optuna still proposes the configs (ray's OptunaSearch over our space); ASHA stops weak trials
early, or Population Based Training copies the weights of strong trials into weak ones and
perturbs their live hyperparameters. Every trial trains our Trainer and writes its run into
the store file given (a PLAYGROUND_HOME shared by the workers); each PBT mutation becomes an
event of the run, like a slider move. Needs `pip install -e ".[cluster]"`.
"""

from __future__ import annotations

import logging
import math
import socket
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from playground import paths
from playground.config import HParams, HParamsError
from playground.data import load_dataset
from playground.engine.events import Callback
from playground.engine.optim import apply_live
from playground.engine.saved_run import SavedRun
from playground.engine.transfer import check_start
from playground.status import TERMINAL, Status
from playground.store import RunStore
from playground.sweeps._base import Progress, SweepBackend, SweepPlan, SweepResult, TrialRow
from playground.sweeps._trial import check_has_an_end
from playground.sweeps.samplers import make_sampler
from playground.sweeps.space import Space, grid_from_space

if TYPE_CHECKING:
    from playground.engine.trainer import Trainer

SCHEDULERS = ("asha", "pbt")
START_ATTEMPTS = 3  # tries to start a local Ray
CONNECT_TIMEOUT = 30.0  # seconds to reach a cluster given by --address before saying so
WORST = {"minimize": 1e12, "maximize": 0.0}  # reported for a trial that diverged


def _host_port(address: str) -> tuple[str, int]:
    """("host", port) of "HOST:PORT" or "ray://HOST:PORT", or HParamsError naming it."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise HParamsError("address", address[:80], "HOST:PORT of a Ray cluster (or auto)")
    return host.strip("[]"), int(port)


def import_ray() -> tuple[Any, Any]:
    """ray and ray.tune, or an ImportError that names the extra to install."""
    try:
        import ray
        from ray import tune
    except ImportError as error:
        raise ImportError(f"the Ray backend needs Ray Tune ({error}); install it with "
                          'pip install -e ".[cluster]"') from None
    return ray, tune


class RayBackend(SweepBackend):
    """Ray Tune trials: `address` joins a running cluster ("HOST:PORT", or "auto");
    without one a local Ray starts with `num_cpus` workers and stops afterwards."""

    name = "ray"

    def __init__(self, address: str | None = None, scheduler: str = "asha", num_cpus: int = 2,
                 storage_path: str | Path | None = None):
        if scheduler not in SCHEDULERS:
            raise HParamsError("scheduler", scheduler, "one of " + ", ".join(SCHEDULERS))
        self.address, self.scheduler, self.num_cpus = address, scheduler, num_cpus
        self.storage_path = Path(storage_path or paths.home() / "ray").resolve()

    def run(self, plan: SweepPlan, *, store: RunStore, device: str,
            callbacks: Sequence[Callback] = (), progress: Progress | None = None) -> SweepResult:
        check_start(store, plan.base)  # every trial starts from that run's weights
        ray, tune = import_ray()
        if self.scheduler == "pbt":
            fixed = sorted(set(plan.space) - HParams.live_fields())
            if fixed:
                raise HParamsError(fixed[0], "pbt", "a field that can change while training "
                                   "for PBT: " + ", ".join(sorted(HParams.live_fields())))
        started = not ray.is_initialized()
        if started:
            self._init(ray)
        try:
            results = self._tune(tune, plan, store, "cpu" if device == "auto" else device,
                                 progress)
        finally:
            if started:
                ray.shutdown()
        rows = [self._row(number, result, plan, store) for number, result in enumerate(
            sorted(results, key=lambda r: (r.metrics or {}).get("trial_id", "")))]
        return SweepResult(plan, rows, study_from_rows(plan, rows),
                           extra={"backend": "ray", "scheduler": self.scheduler})

    def _init(self, ray: Any) -> None:
        """Join the cluster, or start a local Ray. A local start on a busy machine can time
        out (its agent process is slow to come up): it is tried again before giving up."""
        if self.address:
            self._join(ray)
            return
        for attempt in range(START_ATTEMPTS):
            try:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False,
                         logging_level=logging.WARNING)
                return
            except Exception as error:  # Ray raises a bare Exception when its node times out
                ray.shutdown()
                if attempt + 1 == START_ATTEMPTS or "timed out" not in str(error):
                    raise RuntimeError(f"a local Ray did not start: {error}") from None

    def _join(self, ray: Any) -> None:
        """Join the cluster at `address`, or say in one line that it does not answer: Ray
        itself waits on an address with nothing behind it for many minutes."""
        address, shown = self.address or "auto", (self.address or "auto")[:80]
        if address != "auto":
            host, port = _host_port(address)
            try:  # nothing listening: refused at once, said at once
                socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
            except OSError as error:
                raise HParamsError("address", shown, "a running Ray cluster's HOST:PORT "
                                   f"({error.strerror or 'no answer'} at {host}:{port})") from None
        finished, failures = threading.Event(), []

        def join() -> None:
            try:  # ERROR: its "no SIGTERM handler outside the main thread" is not for a person
                ray.init(address=address, logging_level=logging.ERROR)
            except Exception as error:  # Ray raises bare Exceptions and ConnectionErrors
                failures.append(error)
            finally:
                finished.set()

        threading.Thread(target=join, daemon=True, name="playground-ray-init").start()
        if not finished.wait(CONNECT_TIMEOUT):
            raise HParamsError("address", shown, "a Ray cluster that answers within "
                               f"{CONNECT_TIMEOUT:g} s (something listens there, but not Ray)")
        if failures:
            reason = (str(failures[0]).strip().splitlines() or [type(failures[0]).__name__])[0]
            raise HParamsError("address", shown, f"a Ray cluster that answers ({reason[:80]})")

    def _tune(self, tune: Any, plan: SweepPlan, store: RunStore, device: str,
              progress: Progress | None) -> Any:
        from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining
        from ray.tune.search.optuna import OptunaSearch

        epochs = plan.base.epochs
        mode = plan.direction[:3]  # min or max
        trials = plan.trials or math.prod(
            len(values) for values in grid_from_space(plan.space, plan.grid_points).values())
        trainable = tune.with_resources(tune.with_parameters(
            train_ray_trial, base=plan.base.to_dict(), store_path=str(store.path),
            study=plan.study_name, metric=plan.metric, checkpoints=self.scheduler == "pbt",
            device=device, worst=WORST[plan.direction]), {"cpu": 1})
        if self.scheduler == "pbt":
            domains = {name: tune_domain(tune, dist) for name, dist in plan.space.items()}
            space, search = domains, None
            scheduler = PopulationBasedTraining(
                time_attr="training_iteration", perturbation_interval=max(1, epochs // 4),
                metric=plan.metric, mode=mode,
                hyperparam_mutations=domains, custom_explore_fn=_Clip(plan.space))
        else:
            space = {}
            # a searcher given its space must be given metric and mode too, not by Tune
            search = OptunaSearch(space=plan.space, metric=plan.metric, mode=mode,
                                  sampler=make_sampler(plan.method, plan.space, seed=plan.seed,
                                                       trials=trials,
                                                       grid_points=plan.grid_points))
            scheduler = ASHAScheduler(time_attr="training_iteration", max_t=epochs,
                                      grace_period=1, reduction_factor=2, metric=plan.metric,
                                      mode=mode)
        tuner = tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(
            search_alg=search, scheduler=scheduler, num_samples=trials),
            run_config=tune.RunConfig(
            name=plan.study_name, storage_path=str(self.storage_path), verbose=0,
            callbacks=[_ProgressToCallback(tune, progress, plan, store.path)] if progress
            else None))
        return tuner.fit()

    @staticmethod
    def _row(number: int, result: Any, plan: SweepPlan, store: RunStore) -> TrialRow:
        """A trial as a row; a run that Ray ended early without a word is marked here."""
        metrics = result.metrics or {}
        config = {name: value for name, value in (result.config or {}).items()
                  if name in plan.space}
        run_id, last = metrics.get("run_id"), metrics.get(plan.metric)
        if run_id is None:
            return TrialRow(number, "FAIL", config, None, error=str(result.error))
        info = store.get(run_id)
        if info.status not in TERMINAL:  # stopped by the scheduler, or its worker was lost
            status = Status.FAILED if result.error else Status.PRUNED
            writer = store.writer(run_id)
            summary = {plan.metric: last} if last is not None else {}
            writer.finish(status, metrics.get("step", info.steps), info.seconds, summary,
                          error=str(result.error) if result.error else None)
            info = store.get(run_id)
        value = info.summary.get(plan.metric) if info.status == Status.FINISHED else last
        state = {Status.FINISHED: "COMPLETE", Status.PRUNED: "PRUNED",
                 Status.DIVERGED: "PRUNED"}.get(
            info.status, "FAIL")
        return TrialRow(number, state, config, value, run_id, info.status, info.steps,
                        info.seconds, info.error)


def train_ray_trial(config: dict[str, Any], *, base: dict[str, Any], store_path: str,
                    study: str, metric: str, checkpoints: bool, device: str,
                    worst: float) -> None:
    """One Ray trial (in a worker): our Trainer, written to the store, reporting each epoch."""
    from ray import tune

    hp = HParams.from_dict({**base, **config})
    check_has_an_end(hp)  # the plan's base has an end; this guards a space that lost it
    store = RunStore(store_path)
    name = f"{study} {tune.get_context().get_trial_id()}"
    existing = [run for run in store.list_runs(source=f"sweep:{study}") if run.name == name]
    run = SavedRun(store, hp, device, name=name, source=f"sweep:{study}",
                   run_id=existing[0].id if existing else None)
    run_id, writer = run.run_id, run.writer
    report = _ReportToTune(tune, run_id, metric, checkpoints)
    trainer = run.build(lambda hp: load_dataset(hp, device), [report])
    if trainer is None:  # saved as failed, with the reason; Ray sees the worst value
        tune.report({metric: worst, "step": 0, "run_id": run_id, "status": Status.FAILED})
        return
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # PBT: restart from the weights of a better trial
        with checkpoint.as_directory() as folder:
            _restore(trainer, Path(folder), run_id)
    try:
        status = trainer.fit()
    except SystemExit:  # Ray stopped the trial between reports
        if checkpoints:  # PBT pauses trials it will resume
            writer.heartbeat(trainer.step, trainer.seconds, status=Status.PAUSED)
            writer.close()
        else:
            writer.finish(Status.PRUNED, trainer.step, trainer.seconds, trainer.summary())
        raise
    if status == Status.FINISHED:  # the last report comes once the run is saved as finished:
        # Ray ends a trial that reached max_t inside this report, which must not cut it short
        summary = store.get(run_id).summary
        tune.report({**{key: _finite(summary[key]) for key in ("val_loss", "val_accuracy")
                        if summary.get(key) is not None},
                     "step": trainer.step, "epoch": trainer.epoch, "run_id": run_id})
    elif not report.reported:
        tune.report({metric: worst, "step": trainer.step, "run_id": run_id, "status": status})


class _ReportToTune(Callback):
    """tune.report at each epoch end but the last (a PBT checkpoint with it); an epoch is
    Ray's iteration."""

    def __init__(self, tune: Any, run_id: str, metric: str, checkpoints: bool):
        self.tune, self.run_id, self.metric, self.checkpoints = tune, run_id, metric, checkpoints
        self.reported = False

    def on_points(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["split"] != "val" or not row["step"] or not trainer.at_epoch_end:
                continue
            if trainer.epoch >= trainer.hp.epochs:  # the last epoch: reported after fit()
                continue
            metrics = {"val_loss": _finite(row["loss"]), "step": row["step"],
                       "epoch": trainer.epoch, "run_id": self.run_id}
            if row["accuracy"] is not None:
                metrics["val_accuracy"] = row["accuracy"]
            self.reported = True
            if not self.checkpoints:
                self.tune.report(metrics)
                continue
            with tempfile.TemporaryDirectory() as folder:
                _save(trainer, Path(folder), self.run_id)
                self.tune.report(metrics, checkpoint=self.tune.Checkpoint.from_directory(folder))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 1e12


def _save(trainer: Trainer, folder: Path, run_id: str) -> None:
    torch.save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
                "step": trainer.step, "epoch": trainer.epoch, "hp": trainer.hp.to_dict(),
                "run_id": run_id}, folder / "state.pt")


def _restore(trainer: Trainer, folder: Path, run_id: str) -> None:
    """Load a checkpoint; PBT's new values are events of this run, like slider moves."""
    state = torch.load(folder / "state.pt", weights_only=False)
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    apply_live(trainer.optimizer, trainer.hp)  # the loaded state carries the donor's values
    trainer.step, trainer.epoch = state["step"], state["epoch"]
    donor = HParams.from_dict(state["hp"])
    if state["run_id"] != run_id:
        trainer.emit_event("exploit", f"PBT: weights of run {state['run_id']} at step "
                           f"{trainer.step}")
    for name, (old, new) in donor.diff(trainer.hp).items():
        label = HParams.specs()[name].label
        trainer.emit_event("change", f"PBT: {label} {old} -> {new} at step {trainer.step}",
                           field=name, old=old, new=new)


def tune_domain(tune: Any, dist: Any) -> Any:
    """A Ray Tune sampling domain for an Optuna distribution."""
    if isinstance(dist, CategoricalDistribution):
        return tune.choice(list(dist.choices))
    if isinstance(dist, IntDistribution):
        return (tune.lograndint if dist.log else tune.randint)(dist.low, dist.high + 1)
    assert isinstance(dist, FloatDistribution)
    return (tune.loguniform if dist.log else tune.uniform)(dist.low, dist.high)


class _Clip:
    """PBT multiplies values by 0.8 or 1.2: keep them inside the space (HParams checks)."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for name, dist in self.space.items():
            if name in config and isinstance(dist, (FloatDistribution, IntDistribution)):
                value = min(max(config[name], dist.low), dist.high)
                config[name] = int(round(value)) if isinstance(dist, IntDistribution) else value
        return config


class _ProgressToCallback:
    """A Ray Tune callback that hands each finished trial to the sweep's progress."""

    def __new__(cls, tune: Any, progress: Progress, plan: SweepPlan, store_path: Path) -> Any:
        class Forward(tune.Callback):
            count = 0
            store = None  # opened on first use: Tune pickles its callbacks, not a RunStore

            def _store(self) -> RunStore:
                if self.store is None:
                    self.store = RunStore(store_path)
                return self.store

            def on_trial_complete(self, iteration: int, trials: list, trial: Any,
                                  **info: Any) -> None:
                self._send(trial, "COMPLETE")

            def on_trial_error(self, iteration: int, trials: list, trial: Any,
                               **info: Any) -> None:
                self._send(trial, "FAIL")

            def _send(self, trial: Any, state: str) -> None:
                result = trial.last_result or {}
                params = {k: v for k, v in trial.config.items() if k in plan.space}
                run_id, status = result.get("run_id"), None
                if run_id is not None and state == "COMPLETE":  # or stopped early by ASHA
                    status = self._store().get(run_id).status
                    state = "COMPLETE" if status == Status.FINISHED else "PRUNED"
                progress(TrialRow(self.count, state, params, result.get(plan.metric),
                                  run_id, status, result.get("step") or 0))
                self.count += 1

        return Forward()


def study_from_rows(plan: SweepPlan, rows: list[TrialRow]) -> optuna.Study:
    """An in-memory study of the rows (for importance and the views)."""
    study = optuna.create_study(direction=plan.direction, study_name=plan.study_name)
    for row in rows:
        if row.state != "COMPLETE" or row.value is None or not all(
                name in row.params and plan.space[name]._contains(
                    plan.space[name].to_internal_repr(row.params[name])) for name in plan.space):
            continue
        study.add_trial(optuna.trial.create_trial(params=row.params, distributions=plan.space,
                                                  value=row.value))
    return study

