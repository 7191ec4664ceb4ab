"""K networks of one shape as stacked tensors, and their optimizer written out.

The built-in MLP: weights are (K, in, out) and biases (K, 1, out), so one `torch.baddbmm`
runs a layer of every member. A person's own network: torch.func stacks its parameters
(`stack_module_state`) and maps one `functional_call` over them with `vmap`. torch.optim
keeps one learning rate per parameter group, not per slice of a tensor, so the updates of SGD
(plain, momentum, Nesterov), Adam, AdamW and RMSprop are written here exactly as torch.optim
computes them, with each member's rate, momentum and weight decay along the first dimension.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from playground.engine.scores import r2, squared_residuals
from playground.models import ACTIVATIONS, weight_layers

ADAM_BETA2 = 0.999  # what build_optimizer gives Adam and AdamW
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99  # torch.optim.RMSprop's defaults
RMSPROP_EPS = 1e-8


def member_dropout(h: torch.Tensor, p: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout with member k's rate p[k] on h[k]: survivors are scaled by 1/(1-p)."""
    keep = 1.0 - p.view(-1, *([1] * (h.dim() - 1)))
    noise = torch.rand(h.shape, generator=generator, device=h.device, dtype=h.dtype)
    return h * (noise < keep) / keep


class StackedMLP:
    """K copies of one MLP (no batch norm), starting from the same weights."""

    def __init__(self, model: nn.Module, k: int, activation: str,
                 device: torch.device | str = "cpu"):
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.weights = [_stack(layer.weight.detach().T, k, device) for layer in linears]
        self.biases = [_stack(layer.bias.detach().unsqueeze(0), k, device) for layer in linears]
        self.activation = ACTIVATIONS[activation]()
        self.k = k
        self.layer_names = [f"layer{i + 1}" for i in range(len(linears))]
        self._template = copy.deepcopy(model).cpu()

    def member(self, k: int) -> nn.Module:
        """Member k as the MLP it stands for (to save its weights)."""
        model = copy.deepcopy(self._template)
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for layer, weight, bias in zip(linears, self.weights, self.biases):
                layer.weight.copy_(weight[k].T)
                layer.bias.copy_(bias[k, 0])
        return model

    def train(self, mode: bool = True) -> None:
        """Nothing differs: dropout is given to forward() by rate."""

    def parameters(self) -> list[torch.Tensor]:
        return [t for pair in zip(self.weights, self.biases) for t in pair]

    def forward(self, x: torch.Tensor, dropout: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """x (B, ...) shared by every member -> outputs (K, B, n_out); dropout: rates (K,)."""
        h = x.flatten(1).expand(self.k, -1, -1)
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if i < last:
                h = self.activation(h)
                if dropout is not None:
                    h = member_dropout(h, dropout, generator)
        return h

    def l1(self) -> torch.Tensor:
        """Sum of |weights| per member (biases excluded, as the Trainer does): (K,)."""
        return sum(w.abs().sum((1, 2)) for w in self.weights)


class StackedModule:
    """K copies of a person's own network, starting from the same weights: parameters
    stacked by torch.func, one forward mapped over them. Its nn.Dropout layers drop
    differently in every member; their rate is the model's, the same for all."""

    def __init__(self, model: nn.Module, k: int, device: torch.device | str = "cpu"):
        model = model.to(device)
        params, self.buffers = torch.func.stack_module_state([model] * k)
        self.params = {name: p.detach().clone().contiguous().requires_grad_()
                       for name, p in params.items()}
        layers = weight_layers(model)
        names = {id(module): name for name, module in model.named_modules()}
        self.layer_names = [names[id(layer)] or f"layer{i + 1}" for i, layer in enumerate(layers)]
        self.weights = [self.params[f"{name}.weight"] for name in self.layer_names]
        self.base = copy.deepcopy(model).to("meta")  # only its code and structure are used
        self._template = copy.deepcopy(model).cpu()
        self.k = k

        def one(params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(self.base, (params, buffers), (x,))

        self._forward = torch.func.vmap(one, in_dims=(0, 0, None), randomness="different")

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def member(self, k: int) -> nn.Module:
        """Member k as the person's model (to save its weights)."""
        model = copy.deepcopy(self._template)
        state = {name: t[k].detach() for name, t in {**self.params, **self.buffers}.items()}
        model.load_state_dict(state)
        return model

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def forward(self, x: torch.Tensor, dropout: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """x (B, ...) shared by every member -> outputs (K, B, n_out)."""
        return self._forward(self.params, self.buffers, x)

    def l1(self) -> torch.Tensor:
        return sum(w.abs().flatten(1).sum(1) for w in self.weights)


def unstackable(model: nn.Module) -> str | None:
    """Why K copies of this network cannot train stacked (None: they can)."""
    if any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))
           for m in model.modules()):
        return "it has batch norm, whose statistics the members would share"
    if not weight_layers(model):
        return "it has no linear or convolution layer"
    return None


def per_member(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(K,) values shaped to broadcast over a stacked tensor (K, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def _stack(tensor: torch.Tensor, k: int, device: torch.device | str) -> torch.Tensor:
    stacked = tensor.unsqueeze(0).repeat(k, *([1] * tensor.dim()))
    return stacked.to(device).contiguous().requires_grad_()


def member_losses(output: torch.Tensor, y: torch.Tensor, task: str, loss: str,
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean loss per member (K,), and each member's score (K,): accuracy for classification,
    R² for regression (NaN when the targets have no spread; see engine/scores.py)."""
    k, batch = output.shape[:2]
    if task == "classification":
        if loss == "mse":  # as engine/optim.py's SoftmaxMSELoss, per member
            one_hot = F.one_hot(y, output.shape[-1]).to(output.dtype)
            losses = (output.softmax(-1) - one_hot).pow(2).sum(-1).mean(1)
        else:
            losses = F.cross_entropy(output.reshape(k * batch, -1), y.repeat(k),
                                     reduction="none").view(k, batch).mean(1)
        return losses, (output.argmax(-1) == y).float().mean(1)
    target = y.expand(k, *y.shape)
    fn = {"l1": F.l1_loss, "huber": F.huber_loss}.get(loss, F.mse_loss)
    return (fn(output, target, reduction="none").flatten(1).mean(1),
            r2(squared_residuals(output.detach(), y), y))


class StackedOptimizer:
    """Per-member optimizer: each member its own kind, rate, momentum and weight decay."""

    def __init__(self, params: Sequence[torch.Tensor], kinds: Sequence[str],
                 momentum: torch.Tensor, weight_decay: torch.Tensor):
        self.params = list(params)
        self.kinds = list(kinds)
        self.momentum = momentum.flatten()  # momentum; beta1 for Adam and AdamW
        self.weight_decay = weight_decay.flatten()
        self.t = 0
        self.state = [{} for _ in self.params]
        self.set_active(range(len(self.kinds)))

    def set_active(self, members: Sequence[int]) -> None:
        """Only these members are updated from now on (the others diverged or stopped)."""
        device = self.params[0].device
        groups: dict[str, list[int]] = {}
        for k in members:
            groups.setdefault(self.kinds[k], []).append(k)
        whole = len(groups) == 1 and len(members) == len(self.kinds)
        self.groups = {kind: None if whole else torch.tensor(index, device=device)
                       for kind, index in groups.items()}

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        """One update with each member's rate this step, lr (K,)."""
        self.t += 1
        for param, state in zip(self.params, self.state):
            for kind, index in self.groups.items():
                self._update(kind, index, param, state, lr)

    def _update(self, kind: str, index: torch.Tensor | None, param: torch.Tensor,
                state: dict[str, torch.Tensor], lr: torch.Tensor) -> None:
        def part(t: torch.Tensor) -> torch.Tensor:
            return t if index is None else t[index]

        p, g = part(param), part(param.grad)
        lr, beta, decay = (part(per_member(values, param))
                           for values in (lr.flatten(), self.momentum, self.weight_decay))
        if kind in ("sgd", "momentum", "nesterov"):
            g = g + decay * p
            if kind != "sgd":
                buf = part(_slot(state, "momentum_buffer", param))
                buf = beta * buf + g
                g = g + beta * buf if kind == "nesterov" else buf
                _put(state["momentum_buffer"], index, buf)
            p = p - lr * g
        elif kind in ("adam", "adamw"):
            if kind == "adamw":
                p = p * (1 - lr * decay)
            else:
                g = g + decay * p
            m = part(_slot(state, "exp_avg", param)).lerp(g, 1 - beta)
            v = part(_slot(state, "exp_avg_sq", param)) * ADAM_BETA2 + (1 - ADAM_BETA2) * g * g
            correction1 = 1 - beta ** self.t
            correction2 = (1 - ADAM_BETA2 ** self.t) ** 0.5
            p = p - (lr / correction1) * m / (v.sqrt() / correction2 + ADAM_EPS)
            _put(state["exp_avg"], index, m)
            _put(state["exp_avg_sq"], index, v)
        elif kind == "rmsprop":
            g = g + decay * p
            sq = part(_slot(state, "square_avg", param)) * RMSPROP_ALPHA \
                + (1 - RMSPROP_ALPHA) * g * g
            p = p - lr * g / (sq.sqrt() + RMSPROP_EPS)
            _put(state["square_avg"], index, sq)
        else:
            raise ValueError(f"optimizer: {kind!r} is not allowed in a race")
        _put(param, index, p)


def _slot(state: dict[str, torch.Tensor], name: str, param: torch.Tensor) -> torch.Tensor:
    if name not in state:
        state[name] = torch.zeros_like(param)
    return state[name]


def _put(target: torch.Tensor, index: torch.Tensor | None, value: torch.Tensor) -> None:
    if index is None:
        target.copy_(value)
    else:
        target[index] = value
