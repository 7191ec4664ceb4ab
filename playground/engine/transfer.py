"""Pretraining and fine-tuning: start a network from a saved run's weights (`init_from`) and
freeze its first layers (`freeze`).

Layers are matched by their place in the network: every layer must be there in the saved
run with the same shapes, except the output layer, which starts fresh when the classes
differ (another number of them, or other ones: digits 5-9 after 0-4). The first layer that
cannot be matched is named in the error, an HParamsError of field init_from: one line in
the CLI (exit 2), a red line in the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from playground.config import HParams, HParamsError
from playground.data import input_shape
from playground.models import build_model, weight_layers
from playground.store import RunNotFound, RunStore


class InitFromError(HParamsError):
    """A run to start from that cannot be used: not saved, no weights, or layers that differ."""

    def __init__(self, value: str, allowed: str):
        super().__init__("init_from", value, allowed)


@dataclass
class Source:
    """The saved run a network starts from: its id, name and checkpoint (engine/sinks.py)."""

    run_id: str
    name: str
    checkpoint: dict[str, Any]

    @property
    def state(self) -> dict[str, torch.Tensor]:
        return self.checkpoint["state_dict"]


@dataclass
class Plan:
    """What starting from a source does to each layer of the new network."""

    copied: list[str]  # layer names whose tensors are copied
    fresh: list[str]  # layer names that keep their fresh initial weights (the output layer)
    keys: list[str]  # state_dict keys to copy
    why_fresh: str = ""


def read_source(store: RunStore, run_id: str) -> Source:
    """The saved run `run_id` (or a unique start of its id) with its weights; InitFromError
    when there is no such run or it saved no weights."""
    try:
        info = store.get(run_id)
    except RunNotFound as error:
        raise InitFromError(run_id, f"the id of a saved run with weights; {error}") from None
    path = store.weights_path(info.id)
    if not path.exists():
        raise InitFromError(run_id, f"a run with saved weights; run {info.name!r} "
                            f"({info.status}) has none: a run saves them when it ends, "
                            "unless it failed")
    return Source(info.id, info.name, _load(path, run_id))


def _load(path: Path, run_id: str) -> dict[str, Any]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file: say so, go on
        raise InitFromError(run_id, f"a run whose weights file can be read; "
                            f"{type(error).__name__} reading {path.name}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise InitFromError(run_id, f"a run whose weights file holds a state_dict; "
                            f"{path.name} does not")
    return checkpoint


# --- layers --------------------------------------------------------------------------------
def layer_blocks(model: nn.Module) -> list[tuple[str, list[str]]]:
    """(name, module prefixes) of each layer, input to output: a layer of weights (named
    layer1, layer2, ... as on the gradient-norm plot) with the modules that hold tensors
    after it (its batch norm)."""
    firsts = {id(layer) for layer in weight_layers(model)}
    blocks: list[tuple[str, list[str]]] = []
    for prefix, module in model.named_modules():
        holds = any(True for _ in module.parameters(recurse=False)) or \
            any(True for _ in module.buffers(recurse=False))
        if id(module) in firsts:
            blocks.append((f"layer{len(blocks) + 1}", [prefix]))
        elif holds and blocks:
            blocks[-1][1].append(prefix)
        elif holds:  # tensors before the first layer of weights: a layer of their own
            blocks.append((prefix or "model", [prefix]))
    return blocks


def _keys(state: dict[str, Any], prefix: str) -> list[str]:
    """The state_dict keys of the module at `prefix` itself (not of its children)."""
    start = prefix + "." if prefix else ""
    return [key for key in state if key.startswith(start) and "." not in key[len(start):]]


def _shape(tensor: Any) -> str:
    return "x".join(str(n) for n in tensor.shape) or "a number"


def plan(model: nn.Module, source: Source, class_names: tuple[str, ...] | None) -> Plan:
    """Which layers to copy from `source` into `model`; InitFromError naming the first layer
    that cannot be matched. `class_names` of the new data (None: not known yet, so only the
    number of classes is compared)."""
    state, theirs = model.state_dict(), source.state
    blocks = layer_blocks(model)
    fits = ("a run whose layers fit this network (same depth, width and input; only the "
            "output layer may differ)")
    copied, fresh, keys, why_fresh = [], [], [], ""
    for index, (name, prefixes) in enumerate(blocks):
        ours = [key for prefix in prefixes for key in _keys(state, prefix)]
        output = index == len(blocks) - 1
        missing = [key for key in ours if key not in theirs]
        if missing:
            raise InitFromError(source.run_id, f"{fits}; {name} ({missing[0]}) is not in "
                                "its network")
        differ = [key for key in ours if theirs[key].shape != state[key].shape]
        if not differ:
            reason = _other_classes(source, class_names) if output else ""
            if not reason:
                copied.append(name)
                keys += ours
                continue
        elif not (output and all(theirs[key].shape[1:] == state[key].shape[1:]
                                 for key in differ)):
            key = differ[0]
            raise InitFromError(source.run_id, f"{fits}; {name} ({key}) is "
                                f"{_shape(theirs[key])} there, {_shape(state[key])} here")
        else:
            reason = (f"{theirs[differ[0]].shape[0]} outputs there, "
                      f"{state[differ[0]].shape[0]} here")
        fresh.append(name)
        why_fresh = reason
    extra = [key for key in theirs if key not in state]
    if extra:
        raise InitFromError(source.run_id, f"{fits}; its {extra[0]} has no place here "
                            "(a deeper network?)")
    return Plan(copied, fresh, keys, why_fresh)


def _other_classes(source: Source, class_names: tuple[str, ...] | None) -> str:
    """Why the output layer starts fresh though its shape fits: other classes; else ''."""
    theirs = source.checkpoint.get("class_names")
    if class_names is None or theirs is None or list(theirs) == list(class_names):
        return ""
    return f"classes {_names(theirs)} there, {_names(class_names)} here"


def _names(names: Any) -> str:
    names = [str(name) for name in names]
    return f"{names[0]}-{names[-1]}" if len(names) > 3 else ", ".join(names)


def start_from(model: nn.Module, source: Source, class_names: tuple[str, ...] | None) -> str:
    """Copy the matching layers of `source` into `model` (in place: an optimizer built on
    it keeps its parameters) and say what was done, for the run's events."""
    steps = plan(model, source, class_names)
    state = model.state_dict()
    with torch.no_grad():
        for key in steps.keys:
            state[key].copy_(source.state[key])
    named = f"{source.name!r} ({source.run_id})" if source.name != source.run_id else source.run_id
    text = f"weights from run {named}: "
    text += ", ".join(steps.copied) + " copied" if steps.copied else "nothing copied"
    if steps.fresh:
        text += f"; {', '.join(steps.fresh)} starts fresh ({steps.why_fresh})"
    return text


def check_start(store: RunStore, hp: HParams, shapes: bool = True) -> HParams:
    """Before a run is created: `hp` with init_from resolved to the full run id, or
    InitFromError. `shapes`: also check the layers against the built-in network for hp,
    made on the meta device (no memory, no data loaded); a person's own model is checked
    as its run builds."""
    if not hp.init_from:
        return hp
    source = read_source(store, hp.init_from)
    shape = input_shape(hp) if shapes else None
    if shape is not None:
        with torch.device("meta"):
            plan(build_model(hp, shape, 2), source, None)  # the output layer may differ
    return hp.replace(init_from=source.run_id)


# --- freezing ------------------------------------------------------------------------------
def freeze(model: nn.Module, count: int) -> list[str]:
    """Freeze the first `count` layers (requires_grad off, gradients dropped, so that the
    optimizer skips them: torch's optimizers pass over a parameter without a gradient,
    momentum and weight decay included); unfreeze the others. Returns the frozen names."""
    blocks = layer_blocks(model)
    if count > len(blocks) - 1:
        raise HParamsError("freeze", count, f"0 to {len(blocks) - 1}, the hidden layers of "
                           "this network (the output layer always trains)")
    modules = dict(model.named_modules())
    for index, (_, prefixes) in enumerate(blocks):
        for prefix in prefixes:
            for parameter in modules[prefix].parameters(recurse=False):
                parameter.requires_grad_(index >= count)
                if index < count:
                    parameter.grad = None
    return [name for name, _ in blocks[:count]]
