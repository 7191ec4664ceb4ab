"""Run a lesson headlessly: each of its runs trained in turn, saved, and summed up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from playground.lessons.catalog import get_lesson
from playground.store import RunStore

if TYPE_CHECKING:
    from playground.engine.events import Callback

LESSON_CAPTURES = 8  # slices of the loss surface over a run of a loss_surface lesson


@dataclass
class LessonOutcome:
    """How one run of a lesson went: its final metrics and the lesson's measures."""

    label: str
    run_id: str
    status: str  # finished, diverged, failed, ...
    steps: int
    seconds: float
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    overrides: dict[str, Any] = field(default_factory=dict)
    initial_digest: str | None = None  # fingerprint of the starting weights
    error: str | None = None
    # start_loss, best_val_loss, val_loss_rise, gap, loss_drop, loss_noise, end_noise,
    # val_end_noise, grad_first, grad_last, grad_first_start, grad_last_start, grad_ratio,
    # near_zero, weight_size, distinct_units, mean_val_accuracy; val_mse, val_mae (regression)
    measures: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_lesson(name: str, *, device: str | None = "cpu", store: RunStore | None = None,
               callbacks: Sequence[Callback] = (),
               on_outcome: Callable[[LessonOutcome], Any] | None = None,
               seed: int | None = None) -> list[LessonOutcome]:
    """Train every run of lesson `name` in turn and return how each went.

    Each run is saved in the store (source "lesson:<name>", named by its label). `callbacks`
    are added to every run; `on_outcome` is called as each run ends (for progress). A run
    that starts from an earlier one (fine-tuning) gets that run's id as init_from. `seed`:
    every run with this seed instead of the lesson's (to measure a claim over seeds).
    """
    # torch loads only when a lesson is run
    from playground.engine.runner import Runner
    from playground.lessons._measure import Measure, SurfaceProbe

    lesson = get_lesson(name)
    store = store if store is not None else RunStore()
    outcomes = []
    saved: dict[str, str] = {}  # label -> run id, for the runs that start from another
    for run, hp in zip(lesson.runs, lesson.configs()):
        if seed is not None:
            hp = hp.replace(seed=seed)
        if run.start_from:
            hp = hp.replace(init_from=saved[run.start_from])
        measure = Measure()
        # a lesson on the loss surface slices each run at the same steps every time
        probes = ([SurfaceProbe(every=None, captures=LESSON_CAPTURES)]
                  if lesson.figure == "loss_surface" else [])
        runner = Runner(hp, device=device, store=store,
                        callbacks=[measure, *probes, *callbacks],
                        source=f"lesson:{lesson.name}")
        run_id = runner.start()
        saved[run.label] = run_id
        store.rename(run_id, f"{lesson.name}: {run.label}")
        try:
            runner.wait()
        except BaseException:  # Ctrl-C: stop the thread, keep the saved run's final state
            runner.stop()
            raise
        outcome = _outcome(run.label, dict(run.overrides), store.get(run_id), measure)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _outcome(label: str, overrides: dict[str, Any], info: Any, measure: Any) -> LessonOutcome:
    summary = info.summary or {}
    measures = measure.measures()
    train_loss, val_loss = summary.get("train_loss"), summary.get("val_loss")
    measures["gap"] = (val_loss - train_loss
                       if train_loss is not None and val_loss is not None else None)
    start = measures.get("start_loss")
    measures["loss_drop"] = (start - train_loss
                             if start is not None and train_loss is not None else None)
    return LessonOutcome(
        label=label, run_id=info.id, status=info.status, steps=info.steps,
        seconds=info.seconds, train_loss=train_loss,
        train_accuracy=summary.get("train_accuracy"), val_loss=val_loss,
        val_accuracy=summary.get("val_accuracy"), overrides=overrides,
        initial_digest=measure.initial_digest, error=info.error, measures=measures)
