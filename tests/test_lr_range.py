"""The learning-rate range test: a sensible suggestion inside the swept range, and the model,
optimizer and random streams exactly as they were afterwards. Plus its panel."""

import math
import subprocess
import sys

import pytest
import torch

from playground.config import HParams
from playground.data import load_dataset
from playground.engine.lr_range import find_lr, lr_range_test
from playground.engine.trainer import Trainer
from playground.lessons._measure import weights_digest


def trainer_for(hp):
    return Trainer(hp, load_dataset(hp, "cpu"), "cpu")


def test_suggestion_is_inside_the_sweep_and_where_the_loss_falls():
    result = find_lr(HParams(dataset="moons", samples=400, optimizer="sgd"), device="cpu",
                     start_lr=1e-4, end_lr=10.0, steps=80)
    assert 1e-4 <= result.suggestion <= 10.0
    assert result.suggestion == pytest.approx(result.min_loss_lr / 10)
    assert 1e-4 <= result.steepest_lr <= result.min_loss_lr
    # the rate grows by the same factor every step, from start_lr on
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert result.lrs[0] == pytest.approx(1e-4)
    assert max(ratios) == pytest.approx(min(ratios)) and ratios[0] > 1
    # the loss at the lowest point is well below where it started, and SGD on moons blows up
    # somewhere below lr=10, so the sweep stops early
    assert min(result.losses) < 0.8 * result.losses[0]
    assert result.stopped_early and len(result.lrs) < 80
    # plain SGD on this set trains well at 0.1 (the learning-rate lesson): the suggestion is
    # within a factor of ten of it
    assert 0.01 <= result.suggestion <= 1.0


def test_model_optimizer_and_random_streams_are_restored():
    hp = HParams(dataset="moons", samples=300, optimizer="adam", dropout=0.2, epochs=1)
    trainer = trainer_for(hp)
    trainer.fit()  # one epoch first, so Adam has moments to lose
    digest = weights_digest(trainer.model)
    optimizer_state = {key: [value.clone() for value in state.values()
                             if isinstance(value, torch.Tensor)]
                       for key, state in trainer.optimizer.state_dict()["state"].items()}
    groups = [dict(group) for group in trainer.optimizer.state_dict()["param_groups"]]
    global_rng = torch.get_rng_state()
    batch_rng = trainer.generator.get_state()

    result = lr_range_test(trainer, steps=60)
    assert len(result.lrs) > 5

    assert weights_digest(trainer.model) == digest
    after = trainer.optimizer.state_dict()
    assert after["param_groups"] == groups
    for key, tensors in optimizer_state.items():
        restored = [value for value in after["state"][key].values()
                    if isinstance(value, torch.Tensor)]
        assert all(torch.equal(a, b) for a, b in zip(tensors, restored))
    assert torch.equal(torch.get_rng_state(), global_rng)
    assert torch.equal(trainer.generator.get_state(), batch_rng)


def test_training_goes_on_as_if_the_test_never_happened():
    hp = HParams(dataset="moons", samples=300, optimizer="momentum", lr=0.05, dropout=0.2,
                 epochs=1)
    tested, untouched = trainer_for(hp), trainer_for(hp)
    for trainer in (tested, untouched):
        torch.manual_seed(1)  # the same dropout masks for both (they share the global RNG)
        trainer.fit()
    lr_range_test(tested, steps=40)
    for trainer in (tested, untouched):
        torch.manual_seed(2)
        trainer.apply(hp.replace(epochs=2))
        trainer.fit()
    assert tested.step == untouched.step == 2 * tested.steps_per_epoch
    assert weights_digest(tested.model) == weights_digest(untouched.model)


@pytest.mark.parametrize("kwargs, field", [({"start_lr": 0.0}, "start_lr"),
                                           ({"start_lr": 1.0, "end_lr": 0.5}, "end_lr"),
                                           ({"steps": 2}, "steps"),
                                           ({"end_lr": math.inf}, "end_lr")])
def test_bad_sweep_settings_name_the_field(kwargs, field):
    trainer = trainer_for(HParams(samples=100))
    with pytest.raises(ValueError) as caught:
        lr_range_test(trainer, **kwargs)
    assert str(caught.value).startswith(f"{field}: ") and "allowed" in str(caught.value)


# --- the panel ---------------------------------------------------------------------------

def test_panel_finds_a_rate_draws_the_curve_and_uses_it():
    from bokeh.models import LogScale

    from playground.jobs import Background, JobRunner
    from playground.own import Own
    from playground.ui.lr_range import LrRangePanel

    class Host:
        device = "cpu"
        own = Own()  # the built-in model and data

        def current_hparams(self):
            return HParams(samples=300, optimizer="sgd")

    applied = []
    jobs = Background(Host(), JobRunner())
    panel = LrRangePanel(jobs.find_lr, applied.append)
    assert panel.use.disabled and panel.figure.name == "lr_range"
    assert panel.plot is None and len(panel.widget.children) == 1  # no empty figure to draw
    assert isinstance(panel.figure.x_scale, LogScale)
    panel.find.click()
    assert panel.find.disabled and jobs.busy
    assert not panel.start()  # a second press while it runs starts nothing
    assert "running" in panel.message.value
    jobs.wait(60)
    assert panel.suggestion is None  # shown by the pump's round, not by the job's thread
    jobs.deliver()
    assert panel.suggestion is not None and not panel.use.disabled
    data = panel.source.data
    assert len(data["lr"]) == len(data["loss"]) > 5
    assert min(data["lr"]) <= panel.suggestion <= max(data["lr"])
    assert f"{panel.suggestion:.3g}" in panel.message.value
    assert panel.marker.visible and panel.marker.location == panel.suggestion
    assert panel.widget.children[-1] is panel.plot and panel.plot._model is panel.figure
    panel.show(type("Result", (), {"lrs": [0.1, 1.0], "losses": [1.0, 2.0],
                                   "suggestion": 0.1, "rule": "again"})())
    assert panel.widget.children.count(panel.plot) == 1  # a second test: the same figure
    panel.use.click()
    assert applied == [panel.suggestion]


def test_panel_shows_a_failure_and_stays_usable():
    from playground.ui.lr_range import LrRangePanel

    def broken(show, fail):
        raise ValueError("lr: 'x' is not allowed; allowed: 1e-05 to 10")

    panel = LrRangePanel(broken, lambda lr: None)
    assert not panel.start()
    assert "is not allowed" in panel.message.value and not panel.find.disabled
    panel.fail("RuntimeError: out of memory")
    assert "out of memory" in panel.message.value and not panel.find.disabled


def test_panel_module_does_not_import_torch():
    code = ("import sys; import playground.ui.lr_range; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
