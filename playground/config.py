"""HParams: the one source of truth for hyperparameters.

Every field carries its metadata (label, range, scale, step, help, group, whether it can
change while training). Widgets, CLI flags, the URL query of the app, sweep search spaces
and the run store are all generated from that metadata, never written out by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

Kind = Literal["choice", "int", "float", "bool", "run"]  # run: a saved run's id, or ""
Group = Literal["data", "model", "optimisation", "regularisation"]

DATASETS = ("circle", "xor", "gaussian", "spiral", "moons", "regression", "digits",
            "mnist", "fashion_mnist", "cifar10", "custom")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "linear")
INITS = ("default", "xavier", "he", "zeros", "large")
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")
LOSSES = ("auto", "cross_entropy", "mse", "l1", "huber")
REGRESSION_DATASETS = ("regression",)
IMAGE_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # a CNN: two conv layers first
TEN_CLASS_DATASETS = ("digits", *IMAGE_DATASETS)  # what `classes` can split in two halves
CLASS_SPLITS = ("all", "first_half", "second_half")  # digits 0-4 and 5-9
RUN_ID_CHARS = 40  # a run id is 20 characters; a unique start of one is enough
CLASSIFICATION_LOSSES = ("auto", "cross_entropy", "mse")
REGRESSION_LOSSES = ("auto", "mse", "l1", "huber")
DEFAULT_EPOCHS = 30  # the length of a run that must end: CLI, lessons, races, sweeps, curves
UNTIL_STOPPED = 0  # epochs of a run that trains until Stop (the app's free play)


class HParamsError(ValueError):
    """A hyperparameter value that is not allowed: names the field, the value and what is."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.field, self.value, self.allowed = name, value, allowed
        shown = name if name.isidentifier() else repr(name)  # keep hostile names on one line
        value_text = repr(value)  # cut: an echo of a long input must not flood the terminal
        value_text = value_text if len(value_text) <= 80 else value_text[:79] + "…"
        super().__init__(f"{shown[:80]}: {value_text} is not allowed; allowed: {allowed}")


@dataclass(frozen=True)
class Spec:
    """Metadata of one hyperparameter; everything a control, flag or search space needs."""

    label: str  # what a person reads on the slider ("learning rate")
    kind: Kind
    group: Group
    help: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    scale: Literal["linear", "log"] = "linear"
    log_low: float | None = None  # smallest non-zero value on a log slider whose low is 0 (off)
    choices: tuple[str, ...] = ()
    live: bool = False  # True: applied to the running model at the next step
    zero: str | None = None  # what 0 means when it is not an amount (epochs: "until stopped")
    raceable: bool = False  # members of a race may differ in it (one stacked model: no change
    # to the architecture, the data or the batches)
    searchable: bool = True  # a sweep or a sensitivity curve may vary it

    def allowed(self) -> str:
        """Human wording of the allowed values, used in every error message."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "run":
            return ("the id of a saved run with weights (or a unique start of it), or empty "
                    "for fresh weights")
        text = f"{_fmt(self.low)} to {_fmt(self.high)}"
        if self.kind == "int":
            text = "a whole number " + text
        if self.log_low is not None:
            text += f" (0 for off, else at least {_fmt(self.log_low)})"
        if self.zero is not None:
            text += f" (0: {self.zero})"
        return text

    def check(self, name: str, value: Any) -> Any:
        """Return the value in its canonical type, or raise HParamsError."""
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise HParamsError(name, value, self.allowed())
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise HParamsError(name, value, self.allowed())
            return value
        if self.kind == "run":  # whether the run exists is the store's to say, at the start
            if not isinstance(value, str) or len(value) > RUN_ID_CHARS or not all(
                    c.isascii() and (c.isalnum() or c == "-") for c in value):
                raise HParamsError(name, value, self.allowed())
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HParamsError(name, value, self.allowed())
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise HParamsError(name, value, self.allowed())
            value = int(value)
        else:
            value = float(value) + 0.0  # -0.0 becomes 0.0: a low of 0 means not negative
        if not math.isfinite(value) or not (self.low <= value <= self.high):
            raise HParamsError(name, value, self.allowed())
        if self.log_low is not None and 0 < value < self.log_low:
            raise HParamsError(name, value, self.allowed())
        return value

    def parse(self, name: str, text: str) -> Any:
        """Parse a string from a flag, a URL query or a form; raise HParamsError if it can't be."""
        text = text.strip()
        if self.kind == "choice":
            value: Any = text.lower().replace("-", "_")
        elif self.kind == "run":
            value = text
        elif self.kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                value = True
            elif lowered in ("0", "false", "no", "off"):
                value = False
            else:
                raise HParamsError(name, text, self.allowed())
        else:
            try:
                value = int(text) if self.kind == "int" else float(text)
            except ValueError:
                raise HParamsError(name, text, self.allowed()) from None
        return self.check(name, value)


def _fmt(number: float | None) -> str:
    return f"{number:g}"


def spec(default: Any, **kwargs: Any) -> Any:
    """A dataclass field whose metadata is a Spec."""
    return field(default=default, metadata={"spec": Spec(**kwargs)})


@dataclass(frozen=True)
class HParams:
    """Hyperparameters of one run. Immutable: change with `replace`, which validates."""

    # data
    dataset: str = spec("moons", label="dataset", kind="choice", group="data", choices=DATASETS,
                        searchable=False,
                        help="What to learn: 2-D toy sets, 2-D regression, digits, image sets, "
                        "or your own CSV (custom)")
    noise: float = spec(0.1, label="noise", kind="float", group="data", low=0.0, high=0.5,
                        step=0.01, help="Label noise of the 2-D sets (std of the jitter)")
    outliers: float = spec(0.0, label="outliers", kind="float", group="data", low=0.0,
                           high=0.5, step=0.01, searchable=False,
                           help="Share of a regression set's training targets replaced by "
                           "far-off values (10 std from the mean); validation stays clean. "
                           "No effect on classes")
    samples: int = spec(1000, label="samples", kind="int", group="data", low=50, high=20000,
                        step=50, help="Points generated for the 2-D sets (image sets use all)")
    train_fraction: float = spec(0.8, label="train fraction", kind="float", group="data",
                                 low=0.1, high=0.9, step=0.05,
                                 help="Share of the data used for training; the rest validates")
    classes: str = spec("all", label="classes", kind="choice", group="data",
                        choices=CLASS_SPLITS, searchable=False,
                        help="Which classes of a 10-class set to keep: all, the first half "
                        "(digits 0-4) or the second half (5-9), numbered from 0 again")
    train_per_class: int = spec(0, label="labels / class", kind="int", group="data",
                                low=0, high=1000, step=1, searchable=False,
                                help="Labelled training examples kept of each class, the rest "
                                "unused (few labels); 0 keeps them all. Validation keeps all")
    seed: int = spec(0, label="seed", kind="int", group="data", low=0, high=2**31 - 1, step=1,
                     searchable=False,
                     help="Seeds the data split, the initial weights and the batch order")
    # model
    depth: int = spec(2, label="depth", kind="int", group="model", low=0, high=10, step=1,
                      help="Hidden layers of the network")
    width: int = spec(32, label="width", kind="int", group="model", low=1, high=512, step=1,
                      help="Neurons in each hidden layer")
    activation: str = spec("relu", label="activation", kind="choice", group="model",
                           choices=ACTIVATIONS, help="Non-linearity after each hidden layer")
    init: str = spec("default", label="initialisation", kind="choice", group="model",
                     choices=INITS, help="How the weights start: PyTorch's default, Xavier, He, "
                     "all zeros (to show why symmetry must be broken), or large (std 1 "
                     "whatever the layer's size: outputs start huge and saturated)")
    batch_norm: bool = spec(False, label="batch norm", kind="bool", group="model",
                            help="Normalise each hidden layer's inputs over the batch")
    init_from: str = spec("", label="start from run", kind="run", group="model",
                          searchable=False,
                          help="Start from a saved run's weights (pretraining): layers whose "
                          "shapes match are copied, the output layer starts fresh when the "
                          "classes differ")
    freeze: int = spec(0, label="frozen layers", kind="int", group="model", low=0, high=12,
                       step=1, live=True, searchable=False,
                       help="The first K hidden layers are frozen: not trained, skipped by "
                       "the optimizer (for image sets the two conv layers come first); set "
                       "to 0 while training to unfreeze")
    # optimisation
    optimizer: str = spec("adam", label="optimizer", kind="choice", group="optimisation",
                          choices=OPTIMIZERS, raceable=True, help="Update rule, from torch.optim")
    lr: float = spec(0.01, label="learning rate", kind="float", group="optimisation",
                     low=1e-5, high=10.0, scale="log", live=True,
                     raceable=True,
                     help="Step size of each update")
    momentum: float = spec(0.9, label="momentum", kind="float", group="optimisation", low=0.0,
                           high=0.999, step=0.01, live=True,
                           raceable=True,
                           help="Momentum for momentum/nesterov, beta1 for adam/adamw")
    batch_size: int = spec(32, label="batch size", kind="int", group="optimisation", low=1,
                           high=4096, scale="log", live=True,
                           help="Examples per update")
    epochs: int = spec(DEFAULT_EPOCHS, label="epochs", kind="int", group="optimisation", low=0,
                       high=1000, step=1, live=True, zero="until stopped",
                       help="Passes over the training data")
    schedule: str = spec("constant", label="schedule", kind="choice", group="optimisation",
                         choices=SCHEDULES, live=True,
                         raceable=True,
                         help="How the learning rate changes over the run (torch lr_scheduler)")
    step_every: int = spec(10, label="step every", kind="int", group="optimisation", low=1,
                           high=1000, step=1, live=True,
                           raceable=True,
                           help="Epochs between drops of the step schedule")
    gamma: float = spec(0.5, label="decay factor", kind="float", group="optimisation",
                        low=0.01, high=1.0, step=0.01, live=True,
                        raceable=True,
                        help="Rate multiplier per drop (step) or per epoch (exponential)")
    warmup_epochs: int = spec(0, label="warm-up epochs", kind="int", group="optimisation",
                              low=0, high=100, step=1, live=True,
                              raceable=True,
                              help="Epochs of linear warm-up before the schedule")
    grad_clip: float = spec(0.0, label="gradient clip", kind="float", group="optimisation",
                            low=0.0, high=100.0, step=0.1, live=True,
                            raceable=True,
                            help="Largest gradient norm allowed; 0 for no clipping")
    loss: str = spec("auto", label="loss", kind="choice", group="optimisation", choices=LOSSES,
                     help="auto: cross-entropy for classes, mean squared error for regression; "
                     "mse on classes: between softmax probabilities and one-hot labels")
    # regularisation
    weight_decay: float = spec(0.0, label="weight decay", kind="float", group="regularisation",
                               low=0.0, high=1.0, scale="log", log_low=1e-6, live=True,
                               raceable=True,
                               help="L2 penalty (decoupled for adamw)")
    l1: float = spec(0.0, label="L1", kind="float", group="regularisation", low=0.0, high=1.0,
                     scale="log", log_low=1e-6, live=True,
                     raceable=True,
                     help="L1 penalty on weights; drives weights to zero")
    dropout: float = spec(0.0, label="dropout", kind="float", group="regularisation",
                          low=0.0, high=0.9, step=0.05, live=True,
                          raceable=True,
                          help="Chance that each hidden neuron is dropped in training")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = f.metadata["spec"].check(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        self._check_combinations()

    def _check_combinations(self) -> None:
        self._check_transfer()
        if self.dataset == "custom":  # its task is known once the table is loaded
            return
        regression = self.dataset in REGRESSION_DATASETS
        losses = REGRESSION_LOSSES if regression else CLASSIFICATION_LOSSES
        if self.loss not in losses:
            task = "regression" if regression else "classification"
            raise HParamsError("loss", self.loss,
                               f"for {task} dataset {self.dataset!r}: one of {', '.join(losses)}")
        if self.optimizer == "nesterov" and self.momentum == 0:
            raise HParamsError("momentum", self.momentum, "above 0 when optimizer is nesterov")
        if self.batch_norm and self.batch_size < 2:
            raise HParamsError("batch_size", self.batch_size, "at least 2 when batch norm is on")

    def _check_transfer(self) -> None:
        """Frozen layers, class halves and few labels (pretraining and fine-tuning)."""
        hidden = self.depth + (2 if self.dataset in IMAGE_DATASETS else 0)
        if self.freeze > hidden:
            raise HParamsError("freeze", self.freeze, f"0 to {hidden}, the hidden layers of "
                               "this network (the output layer always trains)")
        if self.classes != "all" and self.dataset not in TEN_CLASS_DATASETS:
            raise HParamsError("classes", self.classes, f"all for dataset {self.dataset!r}; "
                               "halves only for " + ", ".join(TEN_CLASS_DATASETS))
        if self.train_per_class and self.dataset in REGRESSION_DATASETS:
            raise HParamsError("train_per_class", self.train_per_class,
                               f"0 for regression dataset {self.dataset!r} (it has no classes)")

    # --- length of the run ----------------------------------------------------------------
    @classmethod
    def free_play(cls, **changes: Any) -> HParams:
        """The app's free-play settings: the defaults, but training until Stop (epochs 0)."""
        return cls(**{"epochs": UNTIL_STOPPED, **changes})

    @property
    def until_stopped(self) -> bool:
        """True when epochs is 0: the run has no last epoch and trains until Stop."""
        return self.epochs == UNTIL_STOPPED

    def with_an_end(self, epochs: int = DEFAULT_EPOCHS) -> HParams:
        """This config if it has a last epoch, else a copy that trains `epochs` (default
        DEFAULT_EPOCHS): for work that must end, like a race, a sweep or a curve."""
        return self.replace(epochs=epochs) if self.until_stopped else self

    # --- metadata -----------------------------------------------------------------------
    @classmethod
    def specs(cls) -> dict[str, Spec]:
        """Field name -> Spec, in declaration order."""
        return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls)}

    @classmethod
    def fields_where(cls, **facts: Any) -> tuple[str, ...]:
        """Names of the fields whose Spec has these facts: `fields_where(raceable=True)`,
        `fields_where(group="data")`."""
        return tuple(name for name, spec in cls.specs().items()
                     if all(getattr(spec, fact) == wanted for fact, wanted in facts.items()))

    @classmethod
    def live_fields(cls) -> frozenset[str]:
        """Fields applied to a running model; a change to any other needs a new run."""
        return frozenset(name for name, s in cls.specs().items() if s.live)

    def needs_new_run(self, other: HParams) -> bool:
        return any(name not in self.live_fields() for name in self.diff(other))

    def diff(self, other: HParams) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: name -> (self's, other's)."""
        return {name: (getattr(self, name), getattr(other, name))
                for name in self.specs() if getattr(self, name) != getattr(other, name)}

    def replace(self, **changes: Any) -> HParams:
        unknown = set(changes) - set(self.specs())
        if unknown:
            name = sorted(unknown)[0]
            allowed = "a field of HParams: " + ", ".join(self.specs())
            raise HParamsError(name, changes[name], allowed)
        return dataclasses.replace(self, **changes)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self.to_dict().items())

    # --- dict / JSON / URL query ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.specs()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HParams:
        """Build from typed values or strings (flags, forms); unknown keys are an error."""
        if not isinstance(values, dict):
            raise HParamsError("config", values, "a mapping of field names to values")
        specs = cls.specs()
        parsed = {}
        for name, value in values.items():
            if name not in specs:
                raise HParamsError(name, value, "a field of HParams: " + ", ".join(specs))
            parsed[name] = specs[name].parse(name, value) if isinstance(value, str) else value
        return cls(**parsed)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HParams:
        try:
            values = json.loads(text)
        except (json.JSONDecodeError, TypeError) as error:
            raise HParamsError("config", str(text)[:80], f"a JSON object ({error})") from None
        except RecursionError:  # thousands of nested [ or {: a config is one flat object
            raise HParamsError("config", str(text)[:80], "a JSON object of field names and "
                               "values, not nested lists or objects") from None
        return cls.from_dict(values)

    def to_query(self, only_changed: bool = True) -> str:
        """URL query string; by default only the fields that differ from the defaults."""
        base = HParams()
        items = {name: value for name, value in self.to_dict().items()
                 if not only_changed or value != getattr(base, name)}
        return urlencode({name: _query_value(value) for name, value in items.items()})

    @classmethod
    def from_query(cls, query: str, ignore: tuple[str, ...] = ()) -> HParams:
        """Parse `lr=0.3&depth=4`; keys listed in `ignore` (like `lesson`) are skipped."""
        pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
        return cls.from_dict({key: value for key, value in pairs if key not in ignore})


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


# Facts about fields that sweeps, races and the app's tabs share, from the Specs above.
RACE_FIELDS = HParams.fields_where(raceable=True)
SEARCHABLE = HParams.fields_where(searchable=True)
DEFAULT_SEARCH = ("lr", "dropout")  # what a sweep searches when told nothing


def with_an_end(hp: HParams, job: str) -> tuple[HParams, str | None]:
    """`hp` with a last epoch, and a line for the person when its epochs 0 (until stopped)
    was replaced by the default length: a race, a sweep or a curve must end to be compared."""
    if not hp.until_stopped:
        return hp, None
    finite = hp.with_an_end()
    return finite, (f"{job} needs an end: epochs 0 (until stopped) became {finite.epochs}, "
                    "the default")


def values_around(field: str, current: Any, points: int = 5) -> list[Any]:
    """Values for a one-at-a-time curve through `current`: every choice of a choice field;
    else `points` values around it within the field's range: by factors of 10 on a log
    scale, of 2 for whole numbers on a log scale or a wide range (batch size, width), in
    eighths of the range otherwise."""
    spec = HParams.specs()[field]
    if spec.zero is not None and current == 0:  # 0 is not an amount (epochs: until stopped)
        current = getattr(HParams(), field)
    if spec.kind == "choice":
        return list(spec.choices)
    if spec.kind == "bool":
        return [False, True]
    low, high, half = spec.low, spec.high, points // 2
    if spec.scale == "log" or (spec.kind == "int" and high / max(low, 1) >= 64):
        factor = 10.0 if spec.kind == "float" else 2.0
        floor = spec.log_low or max(low, 1 if spec.zero is not None else 1e-12)
        if current == 0:  # "off": compare off with a few decades above the smallest value
            raw = [0.0, *(floor * factor ** (i + 1) for i in range(points - 1))]
        else:
            raw = [current * factor ** (i - half) for i in range(points)]
        values = [v if v == 0 else min(max(v, floor), high) for v in raw]
    else:
        step = (high - low) / 8
        values = [min(max(current + step * (i - half), low), high) for i in range(points)]
    if spec.kind == "int":
        values = [int(round(v)) for v in values]
    else:
        values = [v if v == current else float(f"{v:.3g}") for v in values]
    return sorted(set(values))


def scored_by_r2(config: dict[str, Any], summary: dict[str, Any] | None = None) -> bool:
    """Whether a saved run's accuracy values are R² (a regression run): its summary names its
    task once it has ended (a custom table's task is known only there); before that, its
    data set or a loss only regression has (L1, Huber) says."""
    task = (summary or {}).get("task")
    if task is not None:
        return task == "regression"
    return (config.get("dataset") in REGRESSION_DATASETS
            or config.get("loss") in set(REGRESSION_LOSSES) - set(CLASSIFICATION_LOSSES))
