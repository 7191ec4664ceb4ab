"""The loss surface: why a too-high learning rate bounces across a valley, and why a large
batch ends in a sharper minimum than a small one (Li et al., 2018; Keskar et al., 2017).

What holds here, measured by tests/test_lesson_loss_surface.py over several seeds:
- Full-batch gradient descent at lr 0.5 ends up stepping across the valley: the lowest loss
  along its last steps lies between where it was and where it is (overshoot 0.25 to 0.9 of
  a step, in each of seeds 0-5). At lr 0.05 each step lands short of the bottom (0).
- At about equal steps and the same rate, the full batch ends sharper than batch 16: the
  loss 0.2 out along filter-normalised random directions rises more, in each of seeds 0-5,
  by 1.3 to 2.1 times. Only a little: Keskar et al.'s gap needs far larger networks and batches, and
  the validation loss here is not reliably worse for it.
"""

from __future__ import annotations

from playground.config import HParams
from playground.lessons._base import Lesson, LessonRun, hide_all_but

LOSS_SURFACE = Lesson(
    name="loss_surface",
    title="The loss surface: bouncing across a valley, sharp and flat minima",
    explanation=(
        "Training walks downhill on the loss surface, but we only ever see the loss where "
        "the weights are. These plots look around them. Along the <i>last step</i>: with a "
        "rate too high for the valley it is in, each step jumps over the bottom and lands on "
        "the opposite wall, so the lowest point lies between where the weights were (-1) and "
        "where they are (0). Gradient descent with one full batch does this at lr 0.5: the "
        "valley it settles in narrows until the step just spans it, and the run goes on "
        "bouncing from wall to wall (at lr 0.05 every step still lands short of the bottom). "
        "Along <i>random directions</i>, scaled to each neuron's weights (filter-normalised, "
        "as in Li et al., 2018): a <i>sharp</i> minimum rises fast, a <i>flat</i> one "
        "slowly. After the same number of steps at the same rate, the full batch ends "
        "somewhat sharper than batch 16, whose noisy steps cannot stay in a narrow valley. "
        "Honestly: the gap is modest (1.3 to 2.1 times in seeds 0 to 5), and on these "
        "small sets the sharper minimum does not reliably do worse "
        "on validation. The lr 0.05 run is the flattest of all, but it has not got as far "
        "down: its loss is about twice the others'. Batch 16's last step is noisy, so its "
        "line along the step changes from picture to picture."),
    watch=("the <b>loss surface</b> plots. Top, around the final weights: the full-batch "
           "line climbs more steeply than batch 16's. Bottom, along the last step: the "
           "full batch at lr 0.5 dips below zero between -1 and 0 (it jumped across the "
           "valley); at lr 0.05 the line falls all the way to 0 and on (still going "
           "downhill). Press <b>refresh loss surface</b> for the 2-D view of the focused run."),
    # 480 training points: batch 480 is the full batch
    base=HParams(dataset="moons", noise=0.2, samples=600, optimizer="sgd", lr=0.5,
                 batch_size=480, epochs=800),
    runs=(LessonRun("batch 16", {"batch_size": 16, "epochs": 27}),  # 810 steps; the others 800
          LessonRun("full batch"),
          LessonRun("full batch, lr 0.05", {"lr": 0.05})),
    hidden=hide_all_but("lr", "batch_size", "epochs"),
    figure="loss_surface",
)
