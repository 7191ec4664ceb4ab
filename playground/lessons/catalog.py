"""The lessons, in the order a workshop teaches them, and `get_lesson`, which finds one by name.

Each one is a base config and a few runs that differ in one idea. The data are kept small
so a whole lesson trains in well under a minute on a laptop CPU; tests/test_lessons.py runs
every lesson and checks, with numbers, that its claim really happens.
"""

from __future__ import annotations

from playground.config import HParams
from playground.lessons._base import Lesson, LessonRun, hide_all_but
from playground.lessons.batch_generalisation import BATCH_GENERALISATION
from playground.lessons.fine_tuning import FINE_TUNING
from playground.lessons.loss_functions import LOSS_FUNCTIONS
from playground.lessons.loss_surface import LOSS_SURFACE

LEARNING_RATE = Lesson(
    name="learning_rate",
    title="Learning rate: too high, too low, about right",
    explanation=(
        "The learning rate is the size of each step down the loss surface. Too large and "
        "every step overshoots the valley: the loss jumps about, or shoots up until the run "
        "<i>diverges</i>. Too small and the loss creeps down so slowly that twenty epochs "
        "are not enough. In between, the loss falls quickly and settles. All four runs "
        "start from the same weights and see the same batches; only the rate differs."),
    watch=("the <b>loss</b> plot: the highest rate blows up at once (diverged), the next "
           "one jumps up and down and stays high, the low rate has hardly moved, the good "
           "rate drops fast and stays down. The <b>find learning rate</b> button sweeps the "
           "rate in one short run and suggests a value."),
    base=HParams(dataset="moons", noise=0.2, samples=400, optimizer="sgd", lr=0.1,
                 batch_size=16, epochs=20),
    runs=(LessonRun("lr=5 (too high)", {"lr": 5.0}),
          LessonRun("lr=2 (oscillates)", {"lr": 2.0}),
          LessonRun("lr=0.001 (too low)", {"lr": 0.001}),
          LessonRun("lr=0.1 (about right)", {"lr": 0.1})),
    hidden=hide_all_but("lr", "epochs"),
)

SCHEDULES = Lesson(
    name="lr_schedules",
    title="Learning-rate schedules: decay and warm-up against a constant rate",
    explanation=(
        "A rate large enough to make fast progress early is too large to settle at the "
        "end: with a constant rate the loss keeps bouncing around the bottom of the "
        "valley. A schedule lowers the rate as training goes on: in <i>steps</i>, "
        "<i>exponentially</i>, along a <i>cosine</i>, or in <i>one cycle</i> that first "
        "warms up and then anneals. Each run here uses the same peak rate; only the "
        "schedule differs."),
    watch=("the validation curve on the <b>loss</b> plot near the end: with the constant "
           "rate it keeps jumping, with every decaying schedule it calms down and ends "
           "lower."),
    base=HParams(dataset="moons", noise=0.25, samples=300, optimizer="sgd", lr=2.0,
                 batch_size=32, epochs=25, step_every=8, gamma=0.5),
    runs=(LessonRun("constant", {"schedule": "constant"}),
          LessonRun("step (halved every 8 epochs)", {"schedule": "step"}),
          LessonRun("exponential (x0.85 an epoch)", {"schedule": "exponential", "gamma": 0.85}),
          LessonRun("cosine", {"schedule": "cosine"}),
          LessonRun("one-cycle (warm-up, then anneal)", {"schedule": "onecycle"})),
    hidden=hide_all_but("lr", "schedule", "step_every", "gamma", "warmup_epochs", "epochs"),
)

BATCH_SIZE = Lesson(
    name="batch_size",
    title="Batch size: noisy small batches, smooth but slow large ones",
    explanation=(
        "Each update averages the gradient over one batch. A small batch is a rough "
        "estimate, so its loss zig-zags from step to step, but it makes many updates per "
        "epoch. A large batch gives a smooth, accurate gradient but few updates: after the "
        "same number of epochs it is further from the bottom, and needs more epochs or a "
        "larger learning rate to catch up."),
    watch=("the <b>loss</b> plot: the batch-4 line is thick with noise, the full-batch line "
           "is smooth but still high after ten epochs; a ten times larger rate, or ten "
           "times the epochs, lets the full batch catch up."),
    base=HParams(dataset="moons", noise=0.2, samples=400, optimizer="sgd", lr=0.05,
                 batch_size=32, epochs=10),
    runs=(LessonRun("batch 4", {"batch_size": 4}),
          LessonRun("batch 32", {"batch_size": 32}),
          LessonRun("batch 320 (all)", {"batch_size": 320}),
          LessonRun("batch 320, lr x10", {"batch_size": 320, "lr": 0.5}),
          LessonRun("batch 320, epochs x10", {"batch_size": 320, "epochs": 100})),
    hidden=hide_all_but("batch_size", "lr", "epochs"),
)

OPTIMIZERS = Lesson(
    name="optimizers",
    title="Optimizers: SGD, momentum, Nesterov, RMSprop, Adam, AdamW in a race",
    explanation=(
        "Every runner starts from the same initial weights and sees the same batches, "
        "with the same learning rate; only the update rule differs. Plain <i>SGD</i> steps "
        "along the gradient. <i>Momentum</i> and <i>Nesterov</i> keep a running velocity, "
        "so consistent directions speed up. <i>RMSprop</i>, <i>Adam</i> and <i>AdamW</i> "
        "scale each weight's step by its recent gradient size, so small gradients still "
        "make progress. AdamW differs from Adam only in applying the (small) weight decay "
        "directly to the weights, so those two run close together."),
    watch=("the <b>loss</b> plot: plain SGD at this rate is the slowest; momentum is "
           "faster, and the adaptive methods are fastest of all."),
    base=HParams(dataset="moons", noise=0.2, samples=400, lr=0.01, batch_size=32,
                 epochs=15, weight_decay=0.001),
    runs=tuple(LessonRun(name, {"optimizer": name})
               for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")),
    hidden=hide_all_but("optimizer", "lr", "momentum"),
)

REGULARISATION = Lesson(
    name="regularisation",
    title="Overfitting and regularisation: dropout, L2 and L1",
    explanation=(
        "A wide network trained for long on a small, noisy set learns the noise: the "
        "training loss keeps falling while the validation loss turns back up. "
        "<i>Dropout</i> switches random neurons off at every step, so no neuron can rely "
        "on another. <i>L2</i> (weight decay) pulls every weight towards zero in "
        "proportion to its size: weights shrink but stay non-zero. <i>L1</i> pulls with "
        "the same force whatever the size, so weights that are not needed end at zero. "
        "Each shrinks the gap between training and validation loss."),
    watch=("the <b>loss</b> plot (the unregularised run's validation loss rises while its "
           "training loss falls) and the <b>weight histogram</b>: L1 piles the weights up "
           "in a spike at zero, L2 only narrows the bell."),
    base=HParams(dataset="moons", noise=0.35, samples=200, train_fraction=0.3, depth=2,
                 width=128, optimizer="momentum", lr=0.05, batch_size=20, epochs=300,
                 schedule="cosine"),
    runs=(LessonRun("no regularisation", {}),
          LessonRun("dropout 0.5", {"dropout": 0.5}),
          LessonRun("L2 (weight decay 0.01)", {"weight_decay": 0.01}),
          LessonRun("L1 0.001", {"l1": 0.001})),
    hidden=hide_all_but("dropout", "weight_decay", "l1", "epochs"),
)

INITIALISATION = Lesson(
    name="initialisation",
    title="Depth, activation and initialisation: vanishing gradients and symmetry",
    explanation=(
        "In a deep network the gradient reaching the first layer is a product of one "
        "factor per layer. A sigmoid's slope is at most 0.25, and with small default "
        "weights each factor is well below one: the first layers get almost no gradient "
        "and the network <i>stalls</i>. ReLU with <i>He</i> initialisation keeps the "
        "signal the same size through every layer, and <i>Xavier</i> does the same for "
        "tanh. Starting every weight at <i>zero</i> fails differently: all neurons of a "
        "layer compute the same thing and get the same update, so they move but stay "
        "copies of one another forever, and the layer is no wider than one neuron."),
    watch=("the <b>gradient-norm</b> plot: the sigmoid network's first layer is orders of "
           "magnitude below the ReLU/He network's; on the <b>loss</b> plot the default "
           "sigmoid and the zero-initialised runs stay flat while ReLU/He and tanh/Xavier "
           "fall."),
    base=HParams(dataset="moons", noise=0.15, samples=400, depth=8, width=32,
                 optimizer="momentum", lr=0.02, batch_size=32, epochs=20),
    runs=(LessonRun("sigmoid, default init", {"activation": "sigmoid", "init": "default"}),
          LessonRun("relu, He init", {"activation": "relu", "init": "he"}),
          LessonRun("tanh, Xavier init", {"activation": "tanh", "init": "xavier"}),
          LessonRun("sigmoid, zero init", {"activation": "sigmoid", "init": "zeros"})),
    hidden=hide_all_but("depth", "activation", "init"),
    figure="grad_norms",
)

CAPACITY = Lesson(
    name="capacity",
    title="Capacity: too small a network underfits the spiral",
    explanation=(
        "Two interleaved spirals need a boundary that winds around the centre. A network "
        "with a couple of neurons can only draw a line or a gentle curve, however long it "
        "trains: it <i>underfits</i>. Add neurons and layers and the boundary can follow "
        "the arms."),
    watch=("the <b>decision boundary</b>: the small network cuts the plane in two, the "
           "large one winds along the spirals; on the <b>accuracy</b> plot the small one "
           "stays near chance."),
    base=HParams(dataset="spiral", noise=0.05, samples=600, optimizer="adam", lr=0.01,
                 batch_size=32, epochs=60),
    runs=(LessonRun("1 layer of 2", {"depth": 1, "width": 2}),
          LessonRun("1 layer of 8", {"depth": 1, "width": 8}),
          LessonRun("3 layers of 64", {"depth": 3, "width": 64})),
    hidden=hide_all_but("depth", "width", "epochs"),
    figure="boundary",
)

# New lessons live in a module of their own (one topic each) and join the tuple here.
CATALOG: tuple[Lesson, ...] = (
    LEARNING_RATE, SCHEDULES, BATCH_SIZE, OPTIMIZERS, REGULARISATION, INITIALISATION,
    CAPACITY, LOSS_FUNCTIONS, BATCH_GENERALISATION, FINE_TUNING, LOSS_SURFACE,
)

LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in CATALOG}  # by name


class LessonNotFound(ValueError):
    """A lesson name that does not exist: names the value and the allowed names."""

    def __init__(self, name: object):
        self.name = name
        super().__init__(f"lesson: {name!r} is not allowed; allowed: one of "
                         + ", ".join(LESSONS))


def get_lesson(name: str) -> Lesson:
    """The lesson called `name`; LessonNotFound (a ValueError) lists the names there are."""
    if not isinstance(name, str) or name not in LESSONS:
        raise LessonNotFound(name)
    return LESSONS[name]
