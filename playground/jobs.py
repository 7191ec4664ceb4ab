"""Background work beside the main run: races, sweeps, importance, the one-at-a-time curve
and the learning-rate range test.

One `JobRunner` owns the one thread they run in, and `cancel()` is the one way to end any of
them (at the next step boundary). A job never touches a widget or a figure: what it has to
show is posted, and the app's pump runs it on its own thread (`deliver()`) in the round that
streams the job's rows. The panels receive `Background`'s methods and plain results; they own
no thread and import neither the engine nor the sweeps.

The main run stays with the engine's Runner, which has its own commands (start, pause,
step, stop); the app's Reset ends both.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from playground.config import HParams, HParamsError
from playground.engine.loop import RunFailed
from playground.engine.lr_range import find_lr
from playground.engine.record import RunRecord
from playground.engine.sinks import RecordSink
from playground.engine.surface import Probing, SurfaceCancelled, surface_grid
from playground.own import Own
from playground.status import Status
from playground.store import RunStore
from playground.sweeps import views
from playground.sweeps._stacked import unstackable
from playground.sweeps.importance import importances, study_from_runs
from playground.sweeps.live import StopWhenSet
from playground.sweeps.race import Race, check_raceable
from playground.sweeps.sensitivity import one_at_a_time
from playground.sweeps.space import parse_search
from playground.sweeps.study import make_plan, run_sweep

log = logging.getLogger(__name__)

# Optuna and scikit-learn load with the first sweep or importance job, not with the app: the
# sweep modules import them where they use them.
STOP_TIMEOUT = 30.0  # seconds cancel() waits for a job to leave at a step boundary
Done = Callable[[Any], None]
Failed = Callable[[str], None]


class JobBusy(ValueError):
    """A job is running already; the message says which and how to end it."""


class JobRunner:
    """At most one background job at a time, in a daemon thread.

    `start(name, work, done, failed)` runs `work()` in the thread; its result goes to
    `done(result)`, an error to `failed(text)`, both through `post`, so they run wherever
    `deliver()` is called (the pump's thread in the app). `on_busy(bool)` is told when a job
    starts (at once) and ends (posted)."""

    def __init__(self, on_busy: Callable[[bool], None] | None = None) -> None:
        self.on_busy = on_busy
        self.cancelled = threading.Event()  # the one way to stop: jobs check it each step
        self.name = ""
        self._thread: threading.Thread | None = None
        self._posted: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, name: str, work: Callable[[], Any], done: Done, failed: Failed) -> None:
        """Start `work` in the job thread; JobBusy if a job is running."""
        with self._lock:
            if self.busy:
                raise JobBusy(f"{self.name} is running: end it first (End search)")
            self.cancelled.clear()
            self.name = name
            self._thread = threading.Thread(target=self._main, args=(work, done, failed),
                                            daemon=True, name=f"playground-job-{name}")
        if self.on_busy is not None:
            self.on_busy(True)
        self._thread.start()

    def _main(self, work: Callable[[], Any], done: Done, failed: Failed) -> None:
        try:
            result = work()
        except (HParamsError, RunFailed) as error:  # said in full by its message
            self.post(failed, str(error))
        except Exception as error:  # noqa: BLE001 - shown in the panel, never lost in a thread
            log.exception("background job %s failed", self.name)
            self.post(failed, f"{self.name} failed: {type(error).__name__}: {error}")
        else:
            self.post(done, result)
        finally:
            if self.on_busy is not None:
                self.post(self.on_busy, False)

    def post(self, show: Callable[..., Any], *args: Any) -> None:
        """From the job: run `show(*args)` at the next `deliver()`."""
        self._posted.append((show, args))

    def deliver(self) -> None:
        """Run what jobs posted, in order (the pump calls this every round)."""
        while self._posted:
            show, args = self._posted.popleft()
            try:
                show(*args)
            except Exception:  # noqa: BLE001 - a display bug must not stop the next ones
                log.exception("showing the result of %s failed", self.name)

    def cancel(self, timeout: float | None = STOP_TIMEOUT) -> None:
        """Ask the job to end at its next step boundary, and wait for it."""
        self.cancelled.set()
        self.wait(timeout)

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


class Host(Protocol):
    """What the jobs need from the app."""

    store: RunStore
    record: RunRecord  # rows of races and sweeps, streamed by the pump like the runner's
    own: Own  # your own model and data, or neither

    def current_hparams(self) -> HParams: ...
    def load_config(self, hp: HParams) -> None: ...
    def show_run(self, run_id: str, config: dict[str, Any], name: str | None = None) -> None: ...
    @property
    def device(self) -> Any: ...


class Background:
    """The app's background jobs over one JobRunner. Each method checks its input at once
    (HParamsError names the field), starts the job, and hands the plain result to `done` on
    the thread that calls `deliver()`."""

    def __init__(self, host: Host, runner: JobRunner | None = None) -> None:
        self.host = host
        self.runner = runner or JobRunner()

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def cancel(self, timeout: float | None = STOP_TIMEOUT) -> None:
        self.runner.cancel(timeout)

    def wait(self, timeout: float | None = None) -> None:
        self.runner.wait(timeout)

    def deliver(self) -> None:
        self.runner.deliver()

    def current_hparams(self) -> HParams:
        return self.host.current_hparams()

    def load_config(self, hp: HParams) -> None:
        self.host.load_config(hp)

    def _stop_when_cancelled(self) -> Any:
        return StopWhenSet(self.runner.cancelled)

    # --- the jobs ------------------------------------------------------------------------
    def race(self, field: str, values: Sequence[Any], done: Done, failed: Failed) -> None:
        """Race `values` of `field` around the sliders; `done(RaceOutcome)`."""
        base = self.host.current_hparams()
        configs = [base.replace(**{field: value}) for value in values]
        check_raceable(configs)
        names = [f"{field}={_fmt(value)}" for value in values]
        own = self.host.own
        network = own.network(base)
        why = unstackable(network) if network is not None else None
        if why:
            self._race_one_by_one(base, field, values, why, done, failed)
            return

        def work() -> list[tuple[Any, str, dict[str, Any]]]:
            data = own.load(base, self.host.device) if own.data is not None else None
            race = Race(configs, device=self.host.device, store=self.host.store, data=data,
                        callbacks=[self._stop_when_cancelled(), RecordSink(self.host.record)],
                        names=names, network=network)
            for run_id, hp, name in zip(race.run_ids, race.configs, names):
                self.host.show_run(run_id, hp.to_dict(), name)
            statuses = race.fit()
            if race.status == Status.FAILED:
                raise RunFailed(f"the race failed: {race.error}")
            return RaceOutcome([(value, status, self.host.store.get(run_id).summary)
                                for value, status, run_id in zip(values, statuses, race.run_ids)],
                               race.note)

        self.runner.start("a race", work, done, failed)

    def _race_one_by_one(self, base: HParams, field: str, values: Sequence[Any], why: str,
                         done: Done, failed: Failed) -> None:
        """A race of your own model that cannot be stacked (`why`): its values train one
        after another, each drawn as it starts."""
        def work() -> RaceOutcome:
            rows = one_at_a_time(base, field, list(values), device=self.host.device,
                                 store=self.host.store, own=self.host.own, batched=False,
                                 callbacks=[self._stop_when_cancelled()], source="race:yours",
                                 run_callbacks=self._draw_each_run(field))
            return RaceOutcome([(row.value, row.status, self.host.store.get(row.run_id).summary)
                                for row in rows], RACE_ONE_BY_ONE.format(why=why))

        self.runner.start("a race", work, done, failed)

    def _draw_each_run(self, field: str | None = None) -> Callable[[str, HParams], list[Any]]:
        """Callbacks that draw a run of a sweep or curve as it trains, named by `field`."""
        def run_callbacks(run_id: str, hp: HParams) -> list[Any]:
            name = f"{field}={_fmt(getattr(hp, field))}" if field else None
            self.host.show_run(run_id, hp.to_dict(), name)
            return [RecordSink(self.host.record, run_id)]

        return run_callbacks

    def sweep(self, search: str, method: str, trials: int, pruner: str,
              progress: Callable[[Any], None], done: Done, failed: Failed) -> None:
        """A sweep from the sliders; `progress(trial_row)` after each trial, `done(result)`."""
        base = self.host.current_hparams()
        fields, ranges = parse_search(search)
        plan = make_plan(base, fields, ranges=ranges, method=method, trials=trials)

        def work() -> Any:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            return run_sweep(base, space=plan.space, method=plan.method, trials=plan.trials,
                             study_name=plan.study_name, device=self.host.device,
                             store=self.host.store, callbacks=[self._stop_when_cancelled()],
                             progress=lambda row: self.runner.post(progress, row),
                             pruner=pruner, run_callbacks=self._draw_each_run(),
                             own=self.host.own)

        self.runner.start("a sweep", work, done, failed)

    def importance(self, source: str, evaluator: str, sweep_result: Any, done: Done,
                   failed: Failed) -> None:
        """Importance over the last sweep or the saved runs; `done(Importance)` (plain data
        for the views, or empty values when too few runs finished)."""
        if source == "sweep" and sweep_result is None:
            raise HParamsError("over", "the last sweep", "saved runs, until a sweep has run")
        dataset = self.host.current_hparams().dataset

        def work() -> Importance:
            if source == "sweep":
                study, label = sweep_result.study, "the last sweep"
            else:  # one data set: losses on different data say nothing of the fields
                runs = [run for run in self.host.store.list_runs()
                        if run.config.get("dataset") == dataset]
                # free play ends with Stop: stopped runs count, with the loss they reached
                study = study_from_runs(runs, statuses=(Status.FINISHED, Status.STOPPED))
                label = f"{len(runs)} saved runs on {dataset}"
            values = importances(study, evaluator)
            if not values:
                return Importance(label, {}, {}, 0)
            fields = list(values)
            infos = {"importance": views.ImportanceInfo(fields, list(values.values()), evaluator),
                     "history": views.history_info(study) if source == "sweep" else None,
                     "parallel": views.parallel_info(study, fields),
                     "slices": views.slice_info(study, fields),
                     "contour": views.contour_info(study, *fields[:2]) if len(fields) >= 2
                     else None}
            return Importance(label, values, infos, len(views.complete_trials(study)[0]))

        self.runner.start("importance", work, done, failed)

    def curve(self, field: str, values: Sequence[Any], done: Done, failed: Failed) -> None:
        """Vary one field around the sliders; `done((base, rows))` with SensitivityRows."""
        base = self.host.current_hparams()
        for value in values:
            base.replace(**{field: value})  # checked now, named in the panel

        def work() -> tuple[HParams, list[Any]]:
            return base, one_at_a_time(base, field, list(values), device=self.host.device,
                                       store=self.host.store, own=self.host.own,
                                       callbacks=[self._stop_when_cancelled()])

        self.runner.start("a curve", work, done, failed)

    def find_lr(self, done: Done, failed: Failed) -> None:
        """The learning-rate range test on the sliders' settings; `done(LrRangeResult)`."""
        hp = self.host.current_hparams()

        def work() -> Any:
            return find_lr(hp, device=str(self.host.device), own=self.host.own)

        self.runner.start("the learning-rate test", work, done, failed)

    def loss_surface(self, model_copy: Callable[[], Probing], run_id: str, done: Done,
                     failed: Failed) -> None:
        """The 2-D loss grid around a run's weights (`model_copy()`: a copy taken at a step
        boundary); its row goes to the plots through the record, `done(row)` or `done(None)`
        when cancelled."""
        def work() -> dict[str, Any] | None:
            try:
                row = surface_grid(model_copy(), stop=self.runner.cancelled.is_set)
            except SurfaceCancelled:
                return None
            self.host.record.append("surface_2d", [{**row, "run": run_id}])
            return row

        self.runner.start("the loss surface", work, done, failed)


RACE_ONE_BY_ONE = ("your model cannot be stacked ({why}), so the values trained one after "
                   "another")


class RaceOutcome(NamedTuple):
    """Each member's (value, status, summary), and what the race changed (epochs 0 -> 30)."""

    members: list[tuple[Any, str, dict[str, Any]]]
    note: str | None


class Importance(NamedTuple):
    """What the Sensitivity tab draws: where from, field -> importance, the views' data."""

    label: str
    values: dict[str, float]  # empty: too few finished runs, or nothing varied
    infos: dict[str, Any]
    finished: int


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
