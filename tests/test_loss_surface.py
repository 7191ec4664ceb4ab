"""The loss surface (engine/surface.py): filter normalisation, the slices and the 2-D grid,
the probe that takes them (it must not change training), and the app's refresh, cancelled."""

import threading
import time

import pytest
import torch
from torch import nn

from playground.config import HParams
from playground.data import load_dataset
from playground.engine.events import Callback
from playground.engine.surface import (
    GRID_ALPHAS,
    RANDOM_ALPHAS,
    START_ALPHAS,
    STEP_ALPHAS,
    Probing,
    SurfaceCancelled,
    SurfaceProbe,
    filter_normalised,
    line_losses,
    overshoot,
    random_directions,
    sharpness,
    surface_grid,
    weights_of,
)
from playground.engine.trainer import Trainer
from playground.jobs import JobRunner
from playground.lessons._measure import weights_digest


class Rows(Callback):
    """Keeps what the probe publishes."""

    def __init__(self):
        self.rows = []

    def on_snapshot(self, trainer, channel, row):
        if channel == "surface":
            self.rows.append(row)


def small(**changes):
    return HParams(**{"dataset": "moons", "samples": 200, "epochs": 3, "batch_size": 16,
                      "optimizer": "sgd", "lr": 0.2, **changes})


def test_filter_normalisation_gives_each_filter_the_size_of_its_weights():
    weights = torch.tensor([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])  # rows: sizes 5, 1, 1
    direction = torch.tensor([[1.0, 0.0], [2.0, 2.0], [0.0, -7.0]])
    scaled = filter_normalised(direction, weights)
    assert scaled.norm(dim=1).tolist() == pytest.approx([5.0, 1.0, 1.0])
    assert scaled[2].tolist() == pytest.approx([0.0, -1.0])  # the direction kept, only scaled
    conv = torch.randn(4, 3, 5, 5)
    scaled = filter_normalised(torch.randn(4, 3, 5, 5), conv)  # a kernel per output channel
    sizes = conv.flatten(1).norm(dim=1).tolist()
    assert scaled.flatten(1).norm(dim=1).tolist() == pytest.approx(sizes)
    assert filter_normalised(torch.ones(3), torch.ones(3)).tolist() == [0.0, 0.0, 0.0]  # bias
    assert filter_normalised(torch.zeros(2, 2), torch.zeros(2, 2)).tolist() == [[0.0] * 2] * 2


def test_random_directions_are_the_same_for_a_seed():
    params = list(nn.Linear(3, 4).parameters())
    first, again = random_directions(params, 2), random_directions(params, 2)
    assert all(torch.equal(a, b) for a, b in zip(first[0], again[0]))
    assert not torch.equal(first[0][0], first[1][0])  # two directions differ


def test_the_slice_from_start_to_now_passes_through_both_losses():
    hp = small()
    data = load_dataset(hp)
    trainer = Trainer(hp, data)
    start = weights_of(trainer.model)
    probing = Probing(trainer.model, trainer.loss_fn, data.x_train, data.y_train)
    with torch.no_grad():
        start_loss = float(trainer.loss_fn(trainer.model(data.x_train), data.y_train))
    trainer.fit()
    now = weights_of(trainer.model)
    with torch.no_grad():
        now_loss = float(trainer.loss_fn(trainer.model(data.x_train), data.y_train))
    path = [b - a for a, b in zip(start, now)]
    losses = line_losses(probing, start, path, START_ALPHAS)
    assert losses[START_ALPHAS.index(0.0)] == pytest.approx(start_loss, rel=1e-5)
    assert losses[START_ALPHAS.index(1.0)] == pytest.approx(now_loss, rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(now, weights_of(trainer.model)))  # put back


def test_the_grid_has_a_row_per_beta_and_its_centre_is_the_loss_now():
    hp = small()
    data = load_dataset(hp)
    trainer = Trainer(hp, data)
    probing = Probing(trainer.model, trainer.loss_fn, data.x_train, data.y_train, step=7)
    row = surface_grid(probing)
    assert row["step"] == 7 and row["alpha"] == row["beta"] == list(GRID_ALPHAS)
    assert len(row["loss"]) == len(GRID_ALPHAS)
    assert all(len(line) == len(GRID_ALPHAS) for line in row["loss"])
    centre = GRID_ALPHAS.index(0.0)
    with torch.no_grad():
        now = float(trainer.loss_fn(trainer.model(data.x_train), data.y_train))
    assert row["loss"][centre][centre] == pytest.approx(now, rel=1e-5)
    asked = []
    with pytest.raises(SurfaceCancelled):
        surface_grid(probing, stop=lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3  # it stopped at the third row


def test_sharpness_and_overshoot_read_a_slice():
    assert sharpness(RANDOM_ALPHAS, [a * a for a in RANDOM_ALPHAS]) == pytest.approx(0.04)
    valley = [(a + 0.5) ** 2 for a in STEP_ALPHAS]  # the bottom half-way back: jumped across
    assert overshoot(STEP_ALPHAS, valley) == 0.5
    assert overshoot(STEP_ALPHAS, [-a for a in STEP_ALPHAS]) == 0.0  # still going downhill


def test_the_probe_does_not_change_training():
    hp = small(dropout=0.2)  # dropout draws random numbers: the probe must not shift them
    plain = Trainer(hp, load_dataset(hp))
    plain.fit()
    rows = Rows()
    probed = Trainer(hp, load_dataset(hp), callbacks=[SurfaceProbe(every=None, captures=5),
                                                      rows])
    probed.fit()
    assert weights_digest(probed.model) == weights_digest(plain.model)
    kinds = [row["kind"] for row in rows.rows]
    assert kinds.count("step") == 5 and kinds.count("random") == kinds.count("start") == 1
    last = [row for row in rows.rows if row["kind"] == "step"][-1]
    assert last["step"] == probed.step  # the final picture has the last step
    assert last["alpha"] == list(STEP_ALPHAS) and len(last["loss"]) == len(STEP_ALPHAS)


def test_a_timed_probe_slices_at_the_end_and_hands_out_a_copy():
    hp = small(epochs=1)
    probe = SurfaceProbe(every=3600.0)
    with pytest.raises(LookupError):
        probe.model_copy()
    rows = Rows()
    trainer = Trainer(hp, load_dataset(hp), callbacks=[probe, rows])
    trainer.fit()
    assert {row["kind"] for row in rows.rows} == {"random", "step", "start"}
    copy = probe.model_copy()  # not training: taken at once
    assert copy.model is not trainer.model and copy.step == trainer.step
    assert weights_digest(copy.model) == weights_digest(trainer.model)


def test_a_slow_model_is_sliced_on_fewer_examples(monkeypatch):
    from playground.engine import surface

    hp = small(epochs=1)
    trainer = Trainer(hp, load_dataset(hp))
    fast, slow = SurfaceProbe(), SurfaceProbe()
    every = min(surface.SUBSET, trainer.data.n_train)
    assert len(fast._setup(trainer).x) == every  # a small MLP: all it may take
    # as if each loss took 20 ms, as the small CNN's did on 256 images
    monkeypatch.setattr(surface, "_forward_seconds", lambda probing: 0.02)
    assert len(slow._setup(trainer).x) == surface.FEWEST_EXAMPLES


def test_a_copy_asked_for_while_training_comes_at_a_step_boundary():
    hp = small(epochs=0)  # until stopped
    probe = SurfaceProbe(every=None)
    stop = threading.Event()

    class StopWhenAsked(Callback):
        def before_step(self, trainer):
            if stop.is_set():
                from playground.engine.events import StopRun
                raise StopRun()

    trainer = Trainer(hp, load_dataset(hp), callbacks=[probe, StopWhenAsked()])
    thread = threading.Thread(target=trainer.fit, daemon=True)
    thread.start()
    try:
        while not trainer._fitting:
            time.sleep(0.01)
        copy = probe.model_copy(timeout=30)
        assert isinstance(copy.model, nn.Module) and copy.step >= 0
    finally:
        stop.set()
        thread.join(30)


def test_the_2d_job_streams_a_row_and_cancel_ends_it():
    from playground.engine.record import RunRecord

    class Host:
        record = RunRecord()

    from playground.jobs import Background

    hp = small()
    data = load_dataset(hp)
    trainer = Trainer(hp, data)
    probing = Probing(trainer.model, trainer.loss_fn, data.x_train, data.y_train)
    jobs = Background(Host(), JobRunner())
    done = []
    jobs.loss_surface(lambda: probing, "run-a", done.append, done.append)
    jobs.wait(60)
    jobs.deliver()
    assert done and done[0]["loss"]
    rows = Host.record.reader().fetch()["surface_2d"]
    assert rows[0]["run"] == "run-a" and len(rows[0]["loss"]) == len(GRID_ALPHAS)

    started = threading.Event()

    def slow_copy():  # the job is cancelled while it waits for the weights
        started.set()
        jobs.runner.cancelled.wait(30)
        return probing

    jobs.loss_surface(slow_copy, "run-b", done.append, done.append)
    started.wait(30)
    jobs.cancel()
    jobs.deliver()
    assert not jobs.busy and done[-1] is None  # cancelled: nothing drawn
    assert "surface_2d" not in Host.record.reader().fetch() or all(
        row["run"] != "run-b" for row in Host.record.reader().fetch().get("surface_2d", []))
