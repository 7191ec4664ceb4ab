"""A saved run as a standalone PyTorch script: `playground runs export ID --format script`.

The script is a template with the run's settings filled in, and the playground's own code
copied into it: the data generators (playground/points.py), the model (models.py), the
optimizer and loss (engine/optim.py), the schedule (engine/schedule.py) and the batch order
(engine/batches.py) are read from their source files here, so the script trains the way the
playground does and cannot drift from it. It needs PyTorch and NumPy, not the playground.
tests/test_export.py runs exported scripts and checks they reach the run's validation score.
Reading source needs no torch: this module (and `playground runs export`) imports none.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import re
from pathlib import Path
from typing import Any

from playground import paths
from playground.config import DEFAULT_EPOCHS, REGRESSION_DATASETS, HParams
from playground.store import RunInfo

PACKAGE = Path(__file__).resolve().parent

WORKING_FORMATS = "weights, config, csv, json"  # what a run that cannot be a script can be
IMPORTS = {"points": ("json", "math", "sys", "warnings"),  # the script's standard library
           "tabular": ("gzip", "json", "math", "sys", "warnings"),
           "image": ("gzip", "json", "math", "os", "sys", "warnings")}
N_OUT = {"points": 2}  # classes of a classification set, by kind (digits and images: 10)


class ScriptError(ValueError):
    """A run that a script cannot rebuild; the message says why and what can be exported."""


def definitions(module: str) -> dict[str, tuple[str, ast.AST]]:
    """Name -> (source, syntax tree) of each top-level def, class and assignment in the
    playground's module `module` ("models", "engine/optim"), as written in its file (whole
    lines, so trailing comments come along)."""
    source = (PACKAGE / f"{module}.py").read_text()
    lines = source.splitlines()
    found: dict[str, tuple[str, ast.AST]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        found[name] = ("\n".join(lines[node.lineno - 1:node.end_lineno]), node)
    return found


def copied(module: str, *names: str) -> str:
    """The definitions `names` of the playground's `module`, as source, in this order."""
    found = definitions(module)
    missing = [name for name in names if name not in found]
    if missing:
        raise ScriptError(f"script: playground/{module}.py has no {', '.join(missing)} any more;"
                          f" allowed formats for now: {WORKING_FORMATS}")
    return "\n\n\n".join(found[name][0] for name in names)


def constant(module: str, name: str) -> Any:
    """The value of a constant written as a literal in the playground's `module`."""
    node = definitions(module)[name][1]
    assert isinstance(node, ast.Assign)
    return ast.literal_eval(node.value)


def check_scriptable(info: RunInfo, events: list[dict]) -> None:
    """Raise ScriptError for a run whose model or data the script cannot rebuild."""
    model = info.config.get("model")
    own_model = any(event["kind"] == "model" for event in events)
    if own_model or model not in (None, "auto", "builtin", "mlp", "cnn"):
        raise ScriptError(f"script: run {info.id} trained your own model, which a script "
                          f"cannot rebuild from its settings; allowed: {WORKING_FORMATS}")
    if info.config.get("dataset") == "custom":
        raise ScriptError(f"script: run {info.id} trained on your own data, which is not saved "
                          f"with the run; allowed: {WORKING_FORMATS}")
    # pretraining and fine-tuning (engine/transfer.py, data.py) are not written out
    transfer = [name for name, off in (("init_from", ""), ("freeze", 0), ("classes", "all"),
                                       ("train_per_class", 0))
                if info.config.get(name, off) != off]
    if transfer:
        raise ScriptError(f"script: run {info.id} uses {', '.join(transfer)} (pretraining and "
                          "fine-tuning), which the script does not rebuild; allowed: "
                          f"{WORKING_FORMATS}")
    unknown = sorted(set(info.config) - set(HParams.specs()) - {"model"})
    if unknown:
        raise ScriptError(f"script: run {info.id} has settings the script does not know "
                          f"({', '.join(unknown)}); allowed: {WORKING_FORMATS}")


def script_text(info: RunInfo, events: list[dict]) -> str:
    """The standalone script of a saved run (see the module's text)."""
    check_scriptable(info, events)
    hp = HParams.from_dict({key: value for key, value in info.config.items() if key != "model"})
    images = constant("data", "_FOLDER")  # image set -> its folder
    kind = ("image" if hp.dataset in images else "tabular" if hp.dataset == "digits"
            else "points")
    task = "regression" if hp.dataset in REGRESSION_DATASETS else "classification"
    changes: dict[int, dict[str, Any]] = {}
    for event in events:
        if event["kind"] == "change" and event["field"] in HParams.specs():
            changes.setdefault(int(event["step"]), {})[event["field"]] = event["new"]
    summary = {key: _finite(info.summary.get(key)) for key in ("val_accuracy", "val_loss")}
    named = {"val_accuracy": "val_accuracy (R²)"} if task == "regression" else {}
    ended = (", ".join(f"{named.get(key, key)} {value:.4f}" for key, value in summary.items()
                       if isinstance(value, (int, float))) or "no final score")
    fill = {
        "TITLE": info.id if info.name == info.id else f"{_plain(info.name)} ({info.id})",
        "IMPORTS": "\n".join(f"import {name}" for name in sorted(IMPORTS[kind]
                              + (("pickle",) if hp.dataset == "cifar10" else ()))),
        "STATUS": info.status, "STEPS": info.steps,
        "ENDED": ended,
        "SETTINGS": _settings(hp),
        "TOTAL_STEPS": info.steps,
        "CHANGES": _changes(changes),
        "SAVED": repr(summary),
        "DATA": _data_code(hp, kind, images),
        "OUTLIERS": copied("data", "OUTLIER_DISTANCE", "with_outliers"),
        "TASK": task,
        "N_OUT": N_OUT.get(kind, 10) if task == "classification" else 1,
        "MODEL": copied("models", "ACTIVATIONS", "hidden_block", "MLP", "CNN", "build_model",
                        "initialise", "weight_layers", "set_dropout"),
        "OPTIM": copied("engine/optim", "build_optimizer", "apply_live", "SoftmaxMSELoss",
                        "build_loss"),
        "SCHEDULE": copied("engine/schedule", "SCHEDULE_FIELDS", "OPEN_HORIZON", "ENDLESS",
                           "planned_epochs", "LrSchedule", "_build"),
        "DEFAULT_EPOCHS": DEFAULT_EPOCHS,
        "BATCHES": copied("engine/batches", "BatchOrder"),
    }
    # one pass, so that nothing filled in is read as a placeholder in its turn
    return re.sub(r"\{\{(\w+)\}\}", lambda match: str(fill[match[1]]), TEMPLATE)


def _plain(text: str) -> str:
    """A run's name (anyone's text) made safe inside the script's docstring."""
    return "".join(c if c.isprintable() and c not in '"\\' else "_" for c in text)[:80]


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _settings(hp: HParams) -> str:
    """hp as keyword arguments, one a line, each with its label as a comment."""
    lines = []
    for name, spec in HParams.specs().items():
        value = getattr(hp, name)
        note = f"0: {spec.zero}" if spec.zero and value == 0 else spec.help
        lines.append(f"    {name}={value!r},  # {note}")
    return "\n".join(lines)


def _changes(changes: dict[int, dict[str, Any]]) -> str:
    if not changes:
        return "CHANGES: dict[int, dict] = {}  # none were made during this run"
    rows = "\n".join(f"    {step}: {values!r}," for step, values in sorted(changes.items()))
    return ("CHANGES = {  # before step: the settings changed there (the playground's live "
            "sliders)\n" + rows + "\n}")


def _data_code(hp: HParams, kind: str, images: dict[str, str]) -> str:
    """The function `read_data(hp) -> (x, y)` for this run's data set, as source."""
    if kind == "points":
        return copied("points", "make_points") + "\n\n\n" + POINTS_READER.strip()
    if kind == "tabular":  # digits: scikit-learn's bundled file, read as load_digits reads it
        spec = importlib.util.find_spec("sklearn")  # finds it without importing it
        sklearn = Path(spec.origin).parent if spec and spec.origin else Path("sklearn")
        path = sklearn / "datasets" / "data" / "digits.csv.gz"
        return DIGITS_READER.strip().replace("{{PATH}}", repr(str(path)))
    folder = images[hp.dataset]  # the first root holding the set's folder, as data.py looks
    roots = [root for root in paths.dataset_roots() if (root / folder).is_dir()]
    root = roots[0] if roots else paths.datasets_dir()
    stats = constant("data", "_STATS")[hp.dataset]
    reader = CIFAR_READER if hp.dataset == "cifar10" else MNIST_READER
    return (reader.strip().replace("{{ROOT}}", repr(str(root / folder)))
            .replace("{{MEAN}}", repr(stats[0])).replace("{{STD}}", repr(stats[1])))


POINTS_READER = '''
def read_data(hp):
    """The run's 2-D points as tensors: x (N, 2), y labels (N,) or targets (N, 1)."""
    x, y = make_points(hp.dataset, hp.samples, hp.noise, hp.seed)
    if TASK == "regression":
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)[:, None]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
'''

DIGITS_READER = '''
# scikit-learn's 8x8 digits (1,797 images) ship with it as this file; without scikit-learn,
# copy the file from a machine that has it and change the path.
DIGITS_FILE = {{PATH}}


def read_data(hp):
    """The digits as x (1797, 64), pixels scaled from 0..16 to [0, 1], and labels y."""
    with gzip.open(DIGITS_FILE) as file:
        table = np.loadtxt(file, delimiter=",")  # 64 pixels, then the digit
    x = torch.tensor(table[:, :-1] / 16.0, dtype=torch.float32)
    return x, torch.tensor(table[:, -1].astype(int), dtype=torch.int64)
'''

MNIST_READER = '''
# The image files must be in this folder, in torchvision's layout: raw/train-images-idx3-ubyte,
# raw/train-labels-idx1-ubyte, raw/t10k-images-idx3-ubyte, raw/t10k-labels-idx1-ubyte (each
# may be gzipped, .gz). `playground data download` or torchvision's MNIST class fetches them.
IMAGE_FOLDER = {{ROOT}}
MEAN, STD = {{MEAN}}, {{STD}}  # of the training pixels, scaled to [0, 1]


def read_idx(path):
    """An idx file of unsigned bytes: a 4-byte magic number, big-endian sizes, the bytes."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as file:
        raw = file.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_data(hp):
    """Training then test images as x (N, 1, 28, 28), normalised, and labels y."""
    def read(name):
        path = os.path.join(IMAGE_FOLDER, "raw", name)
        return read_idx(path if os.path.exists(path) else path + ".gz")

    pixels = np.concatenate([read("train-images-idx3-ubyte"), read("t10k-images-idx3-ubyte")])
    labels = np.concatenate([read("train-labels-idx1-ubyte"), read("t10k-labels-idx1-ubyte")])
    x = torch.tensor(pixels, dtype=torch.float32)[:, None] / 255
    x = (x - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(STD).view(-1, 1, 1)
    return x, torch.tensor(labels, dtype=torch.int64)
'''

CIFAR_READER = '''
# The CIFAR-10 files must be in this folder, as its authors pack them: data_batch_1 to
# data_batch_5 and test_batch (Python pickles). torchvision's CIFAR10 class fetches them.
IMAGE_FOLDER = {{ROOT}}
MEAN, STD = {{MEAN}}, {{STD}}  # per channel, of the training pixels scaled to [0, 1]


def read_data(hp):
    """The 50,000 training then 10,000 test images as x (N, 3, 32, 32), normalised, and y."""
    pixels, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(os.path.join(IMAGE_FOLDER, name), "rb") as file:
            batch = pickle.load(file, encoding="latin1")  # only open files you trust
        pixels.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels += list(batch["labels"])
    x = torch.tensor(np.concatenate(pixels), dtype=torch.float32) / 255
    x = (x - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(STD).view(-1, 1, 1)
    return x, torch.tensor(labels, dtype=torch.int64)
'''

TEMPLATE = '''"""Run {{TITLE}} of the hyperparameter playground, as plain PyTorch.

It rebuilds the run's data, model, optimizer and learning-rate schedule, makes the changes
that were made while it trained at the same steps, trains as many steps as it did, and
prints one JSON line with the final validation loss and accuracy (R² for regression).
Needs torch and numpy.

    python this_file.py

The saved run: {{STATUS}} after {{STEPS}} steps; {{ENDED}}.
The functions below are copied from the playground's source, so this trains the same way.
"""

from __future__ import annotations

{{IMPORTS}}
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.optim import lr_scheduler


# --- the run's settings ---------------------------------------------------------------------
class HParams(SimpleNamespace):
    """The hyperparameters, under the playground's names (hp.lr, hp.batch_size...)."""

    @property
    def until_stopped(self):  # epochs 0: the run had no planned end
        return self.epochs == 0


hp = HParams(
{{SETTINGS}}
)
TOTAL_STEPS = {{TOTAL_STEPS}}  # optimizer updates the run made
{{CHANGES}}
# what the playground measured at the end of the run
SAVED = {{SAVED}}
DEVICE = "cpu"  # or "cuda"
TASK = "{{TASK}}"
N_OUT = {{N_OUT}}  # the model's outputs: one per class, or one value for regression
DEFAULT_EPOCHS = {{DEFAULT_EPOCHS}}  # the playground's default length of a run


# --- the data -------------------------------------------------------------------------------
{{DATA}}


{{OUTLIERS}}


def load_data(hp):
    """Shuffle with a generator seeded by hp.seed; the first train_fraction trains."""
    x, y = read_data(hp)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(hp.seed))
    n_train = round(hp.train_fraction * len(x))
    train, val = order[:n_train], order[n_train:]
    y_train = y[train]
    if hp.outliers and TASK == "regression":  # the validation targets stay clean
        y_train = with_outliers(y_train, hp.outliers, hp.seed)
    return x[train].to(DEVICE), y_train.to(DEVICE), x[val].to(DEVICE), y[val].to(DEVICE)


# --- the model ------------------------------------------------------------------------------
{{MODEL}}


# --- optimizer, loss and learning-rate schedule ---------------------------------------------
{{OPTIM}}


{{SCHEDULE}}


# --- batches --------------------------------------------------------------------------------
{{BATCHES}}


# --- training -------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, loss_fn, x, y, chunk=4096):
    """Mean loss and score in eval mode (no dropout): accuracy for classes; for regression
    R² = 1 - SS_res / SS_tot (scikit-learn's r2_score), None when y has no spread."""
    model.eval()
    total_loss, correct, residuals = 0.0, 0, 0.0
    for start in range(0, len(x), chunk):
        output, target = model(x[start:start + chunk]), y[start:start + chunk]
        total_loss += loss_fn(output, target).item() * len(target)
        if TASK == "classification":
            correct += (output.argmax(1) == target).sum().item()
        else:
            residuals += (output - target).pow(2).sum().item()
    n = max(len(x), 1)
    if TASK == "classification":
        return total_loss / n, correct / n
    spread = (y - y.mean(0)).pow(2).sum().item()  # SS_tot, about the mean of all of y
    return total_loss / n, (1 - residuals / spread if spread > 1e-10 * y.pow(2).sum().item()
                            else None)


def main():
    x_train, y_train, x_val, y_val = load_data(hp)
    model = build_model(hp, tuple(x_train.shape[1:]), N_OUT).to(DEVICE)
    optimizer = build_optimizer(model, hp)
    loss_fn = build_loss(hp, TASK)
    layers = weight_layers(model)
    steps_per_epoch = max(1, len(x_train) // hp.batch_size)
    schedule = LrSchedule(hp, steps_per_epoch)
    batches = BatchOrder(len(x_train), torch.Generator().manual_seed(hp.seed + 1), DEVICE)
    epoch = 0
    for step in range(TOTAL_STEPS):
        # live changes: the settings moved at this step while the run trained
        changed = CHANGES.get(step, {})
        if changed:
            for name, value in changed.items():
                setattr(hp, name, value)
            apply_live(optimizer, hp)
            if "dropout" in changed:
                set_dropout(model, hp.dropout)
            if any(name in changed for name in SCHEDULE_FIELDS + ("batch_size",)):
                steps_per_epoch = max(1, len(x_train) // hp.batch_size)
                schedule = LrSchedule(hp, steps_per_epoch)
            print(f"step {step}: {changed}", file=sys.stderr)
        # set the learning rate for this step
        lr = hp.lr * schedule.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # forward, backward
        index = batches.next(hp.batch_size)
        x, y = x_train[index], y_train[index]
        model.train()
        output = model(x)
        loss = loss_fn(output, y)
        if hp.l1:
            objective = loss + hp.l1 * sum(layer.weight.abs().sum() for layer in layers)
        else:
            objective = loss
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        # clip, step
        if hp.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp.grad_clip)
        optimizer.step()
        # log at the end of each epoch
        if batches.position == 0:
            epoch += 1
            val_loss, val_accuracy = evaluate(model, loss_fn, x_val, y_val)
            score = "accuracy" if TASK == "classification" else "R²"
            shown = "" if val_accuracy is None else f"  val {score} {val_accuracy:.4f}"
            print(f"epoch {epoch}  step {step + 1}  val loss {val_loss:.4f}{shown}",
                  file=sys.stderr)
    val_loss, val_accuracy = evaluate(model, loss_fn, x_val, y_val)
    print(json.dumps({"val_accuracy": val_accuracy, "val_loss": val_loss, "steps": TOTAL_STEPS,
                      "saved": SAVED}))


if __name__ == "__main__":
    main()
'''
