"""Your own model and data: what a person passes to `Runner` or `Playground`, checked and
made into what the engine trains.

- data: `(x_train, y_train, x_val, y_val)` as tensors or arrays, or a pair of
  `torch.utils.data.Dataset`s (train, validation) yielding `(x, y)`. Classification or
  regression is detected as for a CSV file: whole-number labels are classes.
- model: an `nn.Module` (every run starts from its initial weights) or a factory
  `hp -> nn.Module`, called for every run; the fields it reads (depth, width, ...) become its
  controls, and changing one starts a new run, as with the built-in MLP.

Every problem is a ValueError naming the field (`model` or `data`), the value and what is
allowed, raised before anything trains.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from playground.config import HParams
from playground.data import Dataset, DatasetInfo, load_dataset, plane_bounds
from playground.tabular import MAX_CLASSES, MIN_ROWS

REPR_CHARS = 600  # of a model's repr kept with its runs
DATA_FIELDS = HParams.fields_where(group="data")  # what your own data replaces (but the seed)
TRANSFER = ("init_from", "freeze")  # pretraining and fine-tuning: the built-in networks
ARCHITECTURE = tuple(name for name in HParams.fields_where(group="model")  # what only a
                     if name not in TRANSFER)  # factory can read
OwnModelArg = nn.Module | Callable[[HParams], nn.Module]


class OwnError(ValueError):
    """Your model or data cannot be used; the message names which, the value, what is allowed."""


# --- data ---------------------------------------------------------------------------------------

def own_dataset(data: Any, name: str = "your data") -> Dataset:
    """A Dataset (on the CPU) from tensors, arrays or a pair of torch Datasets."""
    if isinstance(data, Sequence) and len(data) == 2 and all(
            isinstance(part, torch.utils.data.Dataset) for part in data):
        (x_train, y_train), (x_val, y_val) = (_stack(part, role)
                                              for part, role in zip(data, ("train", "val")))
    elif isinstance(data, Sequence) and len(data) == 4 and not isinstance(data, str):
        x_train, y_train, x_val, y_val = (_tensor(part, role) for part, role in zip(
            data, ("x_train", "y_train", "x_val", "y_val")))
    else:
        raise OwnError(f"data: {_kind(data)} is not allowed; allowed: (x_train, y_train, x_val, "
                       "y_val) as tensors or arrays, or (train, val) torch Datasets")
    for x, y, role in ((x_train, y_train, "train"), (x_val, y_val, "val")):
        if len(x) != len(y):
            raise OwnError(f"data: y_{role} has {len(y)} values for {len(x)} rows of x_{role}; "
                           "allowed: one label per row")
        _check_finite(x, f"x_{role}")
        _check_finite(y, f"y_{role}")
    if len(x_train) < MIN_ROWS or len(x_val) < 1:
        raise OwnError(f"data: {len(x_train)} training and {len(x_val)} validation rows; "
                       f"allowed: at least {MIN_ROWS} and 1")
    if x_train.shape[1:] != x_val.shape[1:]:
        raise OwnError(f"data: x_val's rows have shape {tuple(x_val.shape[1:])}, x_train's "
                       f"{tuple(x_train.shape[1:])}; allowed: the same shape")
    task, y_train, y_val, class_names = _labels(y_train, y_val)
    input_shape = tuple(x_train.shape[1:])
    kind = "image" if len(input_shape) == 3 else "points" if input_shape == (2,) else "tabular"
    info = DatasetInfo("custom", kind, task, f"{name}: {len(x_train)} training and "
                       f"{len(x_val)} validation rows of shape {input_shape}, {task}")
    x_train, x_val = x_train.float(), x_val.float()
    bounds = plane_bounds(torch.cat([x_train, x_val])) if kind == "points" else None
    return Dataset(info, x_train, y_train, x_val, y_val, n_classes=len(class_names),
                   input_shape=input_shape, class_names=class_names, bounds=bounds)


def _kind(value: Any) -> str:
    """What a person passed, shortly: "'resnet' (a str)", "a list of 3", "a dict"."""
    if isinstance(value, (str, int, float)):
        return f"{str(value)[:40]!r} (a {type(value).__name__})"
    size = f" of {len(value)}" if isinstance(value, Sequence) else ""
    return f"a {type(value).__name__}{size}"


def _tensor(value: Any, role: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError("mixed or ragged values")
        return torch.from_numpy(array.copy())
    except (TypeError, ValueError) as error:
        raise OwnError(f"data: {role} is {_kind(value)} ({error}); allowed: a tensor or a "
                       "numeric array") from None


def _stack(dataset: torch.utils.data.Dataset, role: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (x, y) of a map-style Dataset, stacked: the playground batches by index."""
    try:
        items = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
        xs = torch.stack([_tensor(x, f"{role} x") for x, _ in items])
        ys = torch.stack([_tensor(y, f"{role} y") for _, y in items])
    except OwnError:
        raise
    except Exception as error:  # noqa: BLE001 - any way a Dataset can fail, named
        raise OwnError(f"data: the {role} Dataset gave {type(error).__name__}: {error}; allowed:"
                       " a map-style Dataset of (x, y) pairs of one shape") from None
    return xs, ys


def _check_finite(values: torch.Tensor, role: str) -> None:
    if not (values.is_floating_point() or values.dtype in (torch.int64, torch.int32,
                                                            torch.int16, torch.int8,
                                                            torch.uint8, torch.bool)):
        raise OwnError(f"data: {role} has dtype {values.dtype}; allowed: numbers")
    if values.is_floating_point():
        bad = ~torch.isfinite(values.flatten(1) if values.dim() > 1 else values)
        if bad.any():
            row = int(bad.nonzero()[0][0])
            raise OwnError(f"data: {role} row {row} has {values[row].flatten()[:4].tolist()}"
                           "...; allowed: finite numbers (no NaN or infinity)")
        if values.abs().max() > torch.finfo(torch.float32).max:
            raise OwnError(f"data: {role} has values beyond float32's range; allowed: "
                           f"at most {torch.finfo(torch.float32).max:.3g} in size")


def _labels(y_train: torch.Tensor, y_val: torch.Tensor,
            ) -> tuple[str, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Classes (whole numbers, at most MAX_CLASSES of them, or any integer dtype) as 0..C-1,
    else regression targets as (N, 1) floats."""
    if y_train.dim() > 2 or (y_train.dim() == 2 and y_train.shape[1] != 1):
        raise OwnError(f"data: y_train has shape {tuple(y_train.shape)}; allowed: (rows,) "
                       "labels or (rows, 1) targets")
    y_train, y_val = y_train.flatten(), y_val.flatten()
    both = torch.cat([y_train.double(), y_val.double()])
    whole = bool((both == both.round()).all())
    values = torch.unique(both)
    if not y_train.is_floating_point() or (whole and len(values) <= MAX_CLASSES):
        if len(values) < 2:
            raise OwnError(f"data: the labels have one value ({values[0].item():g}); allowed: "
                           "at least 2 classes, or real-valued targets for regression")
        index = torch.searchsorted(values, both).long()
        names = tuple(f"{v:g}" for v in values.tolist())
        return "classification", index[:len(y_train)], index[len(y_train):], names
    return ("regression", y_train.float().view(-1, 1), y_val.float().view(-1, 1), ())


def on_device(data: Dataset, device: torch.device | str) -> Dataset:
    device = torch.device(device)
    if data.x_train.device == device:
        return data
    return Dataset(data.info, data.x_train.to(device), data.y_train.to(device),
                   data.x_val.to(device), data.y_val.to(device), data.n_classes,
                   data.input_shape, data.class_names, data.bounds)


# --- model --------------------------------------------------------------------------------------

class OwnModel:
    """Your network: a module (copied for every run) or a factory `hp -> nn.Module`."""

    def __init__(self, model: OwnModelArg):
        if isinstance(model, nn.Module):
            self._initial: nn.Module | None = copy.deepcopy(model).cpu()
            self.factory = None
        elif callable(model):
            self._initial, self.factory = None, model
        else:
            raise OwnError(f"model: {_kind(model)} is not allowed; allowed: an nn.Module, or a "
                           "function hp -> nn.Module")
        self.reads: frozenset[str] = frozenset()  # the fields the factory read, last call

    def build(self, hp: HParams) -> nn.Module:
        """A fresh network for a new run (seeded by hp.seed, as the built-in ones are)."""
        if self._initial is not None:
            return copy.deepcopy(self._initial)
        torch.manual_seed(hp.seed)
        seen: set[str] = set()
        try:
            model = self.factory(_Reading(hp, seen))  # type: ignore[misc]
        except Exception as error:  # noqa: BLE001 - the factory is the person's code
            raise OwnError(f"model: your function raised {type(error).__name__}: {error}; "
                           "allowed: a function hp -> nn.Module that works for these "
                           "settings") from error
        if not isinstance(model, nn.Module):
            raise OwnError(f"model: your function returned {_kind(model)}; allowed: an "
                           "nn.Module")
        self.reads = frozenset(seen)
        return model

    def check(self, hp: HParams, data: Dataset) -> nn.Module:
        """Build once and run two examples through it: an output that does not fit the
        labels is said here, not as a cryptic error at the first step."""
        model = self.build(hp)
        model.eval()
        with torch.no_grad():
            try:
                output = model(data.x_train[:2].float().cpu())
            except Exception as error:  # noqa: BLE001 - the person's forward()
                raise OwnError(f"model: forward() on 2 examples of shape {data.input_shape} "
                               f"raised {type(error).__name__}: {error}; allowed: a model that "
                               "takes a batch of these examples") from error
        want = (2, data.n_classes) if data.task == "classification" else (2, 1)
        if not isinstance(output, torch.Tensor) or tuple(output.shape) != want:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else _kind(output)
            what = (f"{data.n_classes} classes need one score per class"
                    if data.task == "classification" else "regression needs one number")
            raise OwnError(f"model: its output has shape {shape} for 2 examples; allowed: "
                           f"{want} ({what})")
        return model

    def not_applicable(self, model: nn.Module) -> dict[str, str]:
        """Field -> why its control cannot apply to this model."""
        why = "your model sets its own architecture" if self.factory is None else \
            "your function does not read it"
        fields = {name: why for name in ARCHITECTURE if name not in self.reads}
        fields |= {name: "for the built-in networks only" for name in TRANSFER}
        if not any(isinstance(module, nn.Dropout) for module in model.modules()):
            fields["dropout"] = "your model has no nn.Dropout"
        return fields


class _Reading:
    """HParams that remember which fields were read (to tell what a factory depends on)."""

    def __init__(self, hp: HParams, seen: set[str]):
        object.__setattr__(self, "_hp", hp)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name: str) -> Any:
        if name in HParams.specs():
            self._seen.add(name)
        return getattr(self._hp, name)


def describe(model: nn.Module) -> str:
    """Class name, parameter count and repr (cut): what a saved run says of its model."""
    count = sum(p.numel() for p in model.parameters())
    text = repr(model)
    text = text if len(text) <= REPR_CHARS else text[:REPR_CHARS] + " ..."
    return f"{type(model).__name__}, {count:,} parameters: {text}"


def layer_names(model: nn.Module, layers: list[nn.Module]) -> list[str]:
    """The names a person gave these layers in their model ("fc1", "features.0")."""
    names = {id(module): name for name, module in model.named_modules()}
    return [names.get(id(layer)) or f"layer{i + 1}" for i, layer in enumerate(layers)]


def first_dropout(model: nn.Module) -> float | None:
    return next((module.p for module in model.modules() if isinstance(module, nn.Dropout)), None)


# --- both ---------------------------------------------------------------------------------------

class Own:
    """What a person brought (a model, data, or both) and how runs use it: every way of
    training (the runner, races, sweeps, the learning-rate test) asks this for its network
    and data."""

    def __init__(self, model: OwnModelArg | None = None, data: Any = None):
        self.model = OwnModel(model) if model is not None else None
        self.data = own_dataset(data) if data is not None else None

    def __bool__(self) -> bool:
        return self.model is not None or self.data is not None

    def hparams(self, hp: HParams) -> HParams:
        """hp made to fit: dataset "custom" for your data, the dropout slider at your model's
        rate; checked by building the model once (OwnError if it does not fit the data)."""
        if self.data is not None and hp.dataset != "custom":
            hp = hp.replace(dataset="custom", loss="auto")
        if self.model is not None:
            model = self.model.check(hp, self.load(hp, "cpu"))
            rate = first_dropout(model)
            if rate is not None and self.model.factory is None:
                hp = hp.replace(dropout=rate)
        return hp

    def load(self, hp: HParams, device: torch.device | str) -> Dataset:
        if self.data is not None:
            return on_device(self.data, device)
        return load_dataset(hp, device)

    def network(self, hp: HParams) -> nn.Module | None:
        """Your network for a new run; None: the built-in one."""
        return self.model.build(hp) if self.model is not None else None

    def not_applicable(self, hp: HParams) -> dict[str, str]:
        """Field -> why its control does not apply to your model or data."""
        fields = {}
        if self.data is not None:
            fields |= {name: "your own data" for name in DATA_FIELDS if name != "seed"}
        if self.model is not None:
            fields |= self.model.not_applicable(self.model.build(hp))
        return fields
