"""Every lesson's claim, measured: each test trains its lesson on the CPU (seed 0) and checks
with numbers that what the explanation says really happens. Plus the catalog's contract and
the `playground lessons` command."""

import json
import subprocess
import sys

import pytest

from playground.cli import main
from playground.config import HParams
from playground.lessons import LESSONS, LessonNotFound, get_lesson, run_lesson


def outcomes(name):
    """The lesson's runs by label, after checking that every run ran from the same seed."""
    runs = run_lesson(name, device="cpu")
    assert [run.label for run in runs] == get_lesson(name).labels
    for run in runs:
        assert run.error is None or run.status == "diverged", (run.label, run.error)
    return {run.label: run for run in runs}


# --- the catalog's contract ---------------------------------------------------------------

@pytest.mark.parametrize("name", list(LESSONS))
def test_every_lesson_is_complete(name):
    lesson = get_lesson(name)
    assert lesson.name == name and lesson.title and len(lesson.runs) >= 2
    assert len(lesson.explanation) > 200 and "<b>" in lesson.watch
    assert all(isinstance(hp, HParams) for hp in lesson.configs())
    assert lesson.base.seed == 0 and all(hp.seed == 0 for hp in lesson.configs())
    # the fields the runs differ in are never hidden from the class
    varied = {field for run in lesson.runs for field in run.overrides}
    assert varied and not varied & set(lesson.hidden), varied & set(lesson.hidden)
    assert set(lesson.shown) | set(lesson.hidden) == set(HParams.specs())
    json.dumps(lesson.to_dict())


def test_unknown_lesson_names_the_value_and_the_allowed_names():
    with pytest.raises(LessonNotFound) as caught:
        get_lesson("warp_speed")
    message = str(caught.value)
    assert "'warp_speed'" in message and all(name in message for name in LESSONS)
    assert "\n" not in message and isinstance(caught.value, ValueError)


# --- one test per lesson: the claim, with numbers -----------------------------------------

@pytest.mark.slow
def test_learning_rate_too_high_diverges_too_low_crawls():
    runs = outcomes("learning_rate")
    high, low, good = runs["lr=5 (too high)"], runs["lr=0.001 (too low)"], runs[
        "lr=0.1 (about right)"]
    assert len({run.initial_digest for run in runs.values()}) == 1  # same starting weights
    start = good.measures["start_loss"]
    # too high: diverged, or ended above where it started
    assert high.status == "diverged" or high.train_loss > start, (high.status, high.train_loss)
    # high: it oscillates, the validation loss wobbling at least four times as much as the
    # good rate's at the end, and ends far above it
    wobbly = runs["lr=2 (oscillates)"]
    assert wobbly.measures["val_end_noise"] > 4 * good.measures["val_end_noise"]
    assert wobbly.train_loss > good.train_loss + 0.2
    # too low: after 20 epochs it has covered under a sixth of the good rate's fall
    assert low.status == good.status == "finished"
    assert low.measures["loss_drop"] < good.measures["loss_drop"] / 6
    assert low.train_loss > 0.5 > 0.25 > good.train_loss
    assert good.val_accuracy >= 0.9


@pytest.mark.slow
def test_decaying_schedules_settle_where_a_constant_rate_keeps_jumping():
    runs = outcomes("lr_schedules")
    constant = runs.pop("constant")
    assert len(runs) == 4
    for label, run in runs.items():
        assert run.status == "finished", label
        # the validation loss wobbles at least four times less over the last quarter ...
        assert run.measures["val_end_noise"] < constant.measures["val_end_noise"] / 4, label
        # ... and ends lower
        assert run.val_loss < constant.val_loss, (label, run.val_loss, constant.val_loss)


@pytest.mark.slow
def test_small_batches_are_noisy_large_ones_smooth_but_slow():
    runs = outcomes("batch_size")
    tiny, medium, full = runs["batch 4"], runs["batch 32"], runs["batch 320 (all)"]
    noise = [run.measures["loss_noise"] for run in (tiny, medium, full)]
    assert noise[0] > 2 * noise[1] > 2 * noise[2], noise  # the noise falls with batch size
    # after the same ten epochs the full batch (10 updates) is far behind ...
    assert full.train_loss > medium.train_loss + 0.1 > tiny.train_loss + 0.1
    # ... and a larger rate or more epochs catch it up
    for label in ("batch 320, lr x10", "batch 320, epochs x10"):
        assert runs[label].train_loss < full.train_loss - 0.15, label


@pytest.mark.slow
def test_optimizers_race_from_the_same_weights():
    runs = outcomes("optimizers")
    assert len({run.initial_digest for run in runs.values()}) == 1
    assert all(run.status == "finished" for run in runs.values())
    loss = {label: run.train_loss for label, run in runs.items()}
    # plain SGD is the slowest, momentum helps, adaptive steps are fastest of all
    assert loss["sgd"] > loss["momentum"] + 0.1 and loss["sgd"] > loss["nesterov"] + 0.1
    adaptive = [loss[name] for name in ("rmsprop", "adam", "adamw")]
    assert max(adaptive) < min(loss["momentum"], loss["nesterov"]) - 0.05, loss


@pytest.mark.slow
def test_regularisation_shrinks_the_gap_and_l1_zeroes_weights():
    runs = outcomes("regularisation")
    plain = runs["no regularisation"]
    dropout, l2, l1 = runs["dropout 0.5"], runs["L2 (weight decay 0.01)"], runs["L1 0.001"]
    # the wide net overfits: validation loss turns back up from its best ...
    assert plain.measures["val_loss_rise"] > 0.15
    assert plain.measures["gap"] > 0.3  # ... while training loss keeps far below it
    for run in (dropout, l2, l1):  # each regulariser at least halves the gap
        assert run.measures["gap"] < plain.measures["gap"] / 2, run.label
    # L1 sends most weights to (nearly) zero; L2 shrinks them but leaves them non-zero
    assert l1.measures["near_zero"] > 0.5
    assert l1.measures["near_zero"] > 5 * l2.measures["near_zero"]
    assert l2.measures["weight_size"] < plain.measures["weight_size"] / 2
    assert l2.measures["near_zero"] < 0.2


@pytest.mark.slow
def test_deep_sigmoid_vanishes_relu_he_trains_zero_init_stays_symmetric():
    runs = outcomes("initialisation")
    sigmoid, relu = runs["sigmoid, default init"], runs["relu, He init"]
    tanh, zeros = runs["tanh, Xavier init"], runs["sigmoid, zero init"]
    # the first layer's gradient, from the initial weights: orders of magnitude apart
    assert 0 < sigmoid.measures["grad_first_start"] < 1e-3 * relu.measures["grad_first_start"]
    assert sigmoid.measures["grad_first"] < 1e-3 * relu.measures["grad_first"]
    # the sigmoid network stalls; ReLU/He and tanh/Xavier learn
    assert sigmoid.measures["loss_drop"] < 0.05
    assert relu.measures["loss_drop"] > 0.4 and relu.val_accuracy > 0.95
    assert tanh.measures["loss_drop"] > 0.4 and tanh.val_accuracy > 0.95
    # zero init: the weights move, yet every hidden unit stays a copy of the others
    assert zeros.measures["weight_size"] > 0
    assert zeros.measures["distinct_units"] == 1
    assert relu.measures["distinct_units"] == 32
    assert zeros.val_accuracy < 0.7


@pytest.mark.slow
def test_too_small_a_network_underfits_the_spiral():
    runs = outcomes("capacity")
    small, big = runs["1 layer of 2"], runs["3 layers of 64"]
    assert big.val_accuracy > 0.95 and big.train_accuracy > 0.95
    # underfitting, not overfitting: the small net is poor on its own training data too
    assert small.train_accuracy < 0.8 and small.val_accuracy < big.val_accuracy - 0.2
    assert runs["1 layer of 8"].val_accuracy < big.val_accuracy - 0.2


# --- the command -------------------------------------------------------------------------

def test_lessons_command_lists_every_lesson(capsys):
    assert main(["lessons"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(LESSONS)
    assert main(["lessons", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["name"] for item in listed] == list(LESSONS)
    assert all(item["title"] and item["runs"] for item in listed)


@pytest.mark.slow
def test_lessons_run_json_prints_the_runs_and_their_outcomes(capsys):
    assert main(["lessons", "run", "optimizers", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["lesson"] == "optimizers"
    runs = printed["runs"]
    assert [run["label"] for run in runs] == get_lesson("optimizers").labels
    for run in runs:
        assert run["status"] == "finished" and run["steps"] == 150 and run["run_id"]
        assert 0 <= run["val_accuracy"] <= 1 and run["measures"]["start_loss"] > 0
    assert main(["runs", "list", "--json"]) == 0  # and they are saved runs
    saved = {run["id"]: run for run in json.loads(capsys.readouterr().out)}
    assert all(saved[run["run_id"]]["source"] == "lesson:optimizers" for run in runs)


def test_lessons_run_with_a_bad_name_exits_2_with_one_line(capsys):
    assert main(["lessons", "run", "quantum"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "'quantum'" in lines[0] and "allowed" in lines[0]
    assert all(name in lines[0] for name in LESSONS)


def test_the_command_line_does_not_load_torch_until_a_lesson_runs():
    code = ("import sys; from playground.cli import build_parser; build_parser(); "
            "from playground.lessons import LESSONS; assert LESSONS; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
