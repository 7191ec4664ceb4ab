"""Pretraining and fine-tuning: a network trained on digits 0-4 starts one for 5-9 that has
only 20 labelled examples of each digit.

The claim is measured in tests/test_lesson_fine_tuning.py over four seeds: over the first 50
steps both pretrained starts are ahead of the network trained from scratch (mean validation
accuracy 0.36 fine-tuning everything, 0.29 frozen, 0.25 scratch, on every seed); after 300
steps fine-tuning everything is still ahead (0.86 against 0.77) and freezing ends lowest
(0.62). Measured outside the tests: at lr 0.05 scratch passes fine-tuning after about 175
steps (0.93 against 0.91 at 200), and with Adam scratch leads from the first steps.
"""

from __future__ import annotations

from playground.config import HParams
from playground.lessons._base import Lesson, LessonRun, hide_all_but

PRETRAIN = "pretrain on 0-4"

FINE_TUNING = Lesson(
    name="fine_tuning",
    title="Pretraining and fine-tuning: a head start from another task",
    explanation=(
        "Labels are often scarce. Here the task is to tell the digits 5-9 apart with only "
        "<i>20 labelled examples of each</i>. First a network is <i>pretrained</i> on digits "
        "0-4, of which there are plenty. Its hidden layers are then copied into the new "
        "network (<b>start from run</b>); only the output layer starts fresh, since its "
        "classes are new. <i>Fine-tune everything</i> trains every layer from there, at a "
        "smaller learning rate than the pretraining's; <i>freeze all but the last</i> keeps "
        "the copied layers fixed (<b>frozen layers</b>) and trains only the output layer. "
        "Both are compared with the same network trained <i>from scratch</i>, at the same "
        "steps. What does not hold: freezing helps only for the first few dozen steps, then "
        "falls behind and ends lowest, since features made for 0-4 miss much of what tells "
        "5-9 apart. And these 8x8 digits are easy: at a learning rate of 0.05 the scratch "
        "network catches up after about 175 steps and ends ahead, and with Adam there is no "
        "head start to see at all."),
    watch=("the dashed validation lines on the <b>accuracy</b> plot: both pretrained starts "
           "rise first while the scratch line stays near chance (0.2); fine-tune everything "
           "stays ahead to the end, the frozen line flattens out lowest. On the "
           "<b>gradient-norm</b> plot of the frozen run the copied layers read <i>frozen</i>: "
           "set <b>frozen layers</b> to 0 while it trains to unfreeze them and watch its "
           "accuracy climb."),
    base=HParams(dataset="digits", classes="second_half", train_per_class=20, depth=2,
                 width=64, optimizer="sgd", lr=0.02, batch_size=20, epochs=60),
    runs=(LessonRun(PRETRAIN, {"classes": "first_half", "train_per_class": 0, "lr": 0.05,
                               "batch_size": 32, "epochs": 14}),
          LessonRun("from scratch", {}),
          LessonRun("fine-tune everything", {}, start_from=PRETRAIN),
          LessonRun("freeze all but the last", {"freeze": 2}, start_from=PRETRAIN)),
    hidden=hide_all_but("classes", "train_per_class", "init_from", "freeze", "lr",
                        "batch_size", "epochs"),
    figure="accuracy",
)
