"""Loss functions: cross-entropy against mean squared error on a classifier that starts
saturated, and L1/Huber against mean squared error on regression targets with outliers."""

from __future__ import annotations

from playground.config import HParams
from playground.lessons._base import Lesson, LessonRun, hide_all_but

# The regression runs: the same network and optimizer on the 2-D regression set, a tenth of
# its training targets far off, from default weights.
REGRESSION = {"dataset": "regression", "outliers": 0.1, "init": "default"}

LOSS_FUNCTIONS = Lesson(
    name="loss_functions",
    title="Loss functions: cross-entropy against squared error, and outliers",
    explanation=(
        "The loss turns each mistake into a gradient, and two losses can weigh the same "
        "mistake very differently. A classifier that starts with <i>large</i> weights is "
        "confidently wrong on many points: its softmax is saturated. <i>Mean squared "
        "error</i> between the softmax probabilities and the labels then gives those points "
        "almost no gradient (the softmax is flat there), so they stay wrong. "
        "<i>Cross-entropy</i> (CE) grows without bound as the probability of the right class "
        "falls, and its gradient stays large exactly there. From a normal start squared "
        "error learns well too: it is the saturated start that tells the two apart. "
        "For regression it is the other way round: squared error punishes a big miss far "
        "more than a small one, so a few <i>outliers</i> (a tenth of the training targets "
        "moved ten standard deviations away) drag the fit towards them. <i>L1</i> (absolute "
        "error) and <i>Huber</i> (squared near zero, absolute further out) give a far-off "
        "point no more pull than a near one. The validation targets are clean, so the "
        "validation error says how well each fit found the true surface; set outliers to 0 "
        "and squared error fits as well as the others."),
    watch=("the <b>accuracy</b> plot: from the same saturated start, cross-entropy passes 90% "
           "within a few dozen steps while squared error stalls far below (the points it "
           "started confidently wrong on stay wrong); squared error from a default start "
           "keeps up with cross-entropy. For the regression runs the same plot shows "
           "<b>R²</b> (1: a perfect fit, 0: no better than predicting the mean; their losses "
           "are in different units, so do not compare them on the loss plot). Their dashed "
           "lines score the clean validation targets: L1 climbs to about 0.9 and Huber to "
           "0.65-0.85, while the MSE fit, dragged by the outliers, stays lower and jumps "
           "about, at times below 0 (off the bottom of the plot). Their solid lines stay near "
           "0: they score training batches, outliers included. To see the fits themselves, "
           "choose each in <b>focus</b> and look at the <b>decision boundary</b> plot: L1 and "
           "Huber show the dip and the bump of the true surface, the MSE fit is dragged out "
           "of shape."),
    base=HParams(dataset="xor", noise=0.1, samples=400, depth=2, width=32, init="large",
                 optimizer="momentum", lr=0.05, batch_size=32, epochs=20),
    runs=(LessonRun("CE, large init", {"loss": "cross_entropy"}),
          LessonRun("MSE, large init", {"loss": "mse"}),
          LessonRun("MSE, default init", {"loss": "mse", "init": "default"}),
          LessonRun("outliers: MSE", {**REGRESSION, "loss": "mse"}),
          LessonRun("outliers: L1", {**REGRESSION, "loss": "l1"}),
          LessonRun("outliers: Huber", {**REGRESSION, "loss": "huber"})),
    hidden=hide_all_but("dataset", "outliers", "init", "loss"),
    figure="accuracy",
)
