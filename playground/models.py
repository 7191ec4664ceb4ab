"""Networks built from HParams: an MLP for points and tables, a small CNN for images."""

from __future__ import annotations

import math

import torch
from torch import nn

from playground.config import HParams

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}


def hidden_block(n_in: int, n_out: int, hp: HParams) -> list[nn.Module]:
    """Linear, optional batch norm, activation, dropout: one hidden layer."""
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if hp.batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers += [ACTIVATIONS[hp.activation](), nn.Dropout(hp.dropout)]
    return layers


class MLP(nn.Sequential):
    """depth hidden layers of `width` neurons, then a linear read-out."""

    def __init__(self, n_in: int, n_out: int, hp: HParams):
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(hp.depth):
            layers += hidden_block(n_in if i == 0 else hp.width, hp.width, hp)
        layers.append(nn.Linear(hp.width if hp.depth else n_in, n_out))
        super().__init__(*layers)


class CNN(nn.Module):
    """Two conv blocks then an MLP head of the given depth and width, for 28x28 or 32x32 images."""

    def __init__(self, input_shape: tuple[int, ...], n_out: int, hp: HParams):
        super().__init__()
        channels, height, width = input_shape
        act = ACTIVATIONS[hp.activation]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), act(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), act(), nn.MaxPool2d(2),
        )
        self.head = MLP(32 * (height // 4) * (width // 4), n_out, hp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(hp: HParams, input_shape: tuple[int, ...], n_out: int) -> nn.Module:
    """The network for this data: a CNN for images (C, H, W), else an MLP. Seeded by hp.seed."""
    torch.manual_seed(hp.seed)
    if len(input_shape) == 3:
        model: nn.Module = CNN(input_shape, n_out, hp)
    else:
        model = MLP(math.prod(input_shape), n_out, hp)
    initialise(model, hp.init, hp.activation)
    return model


def initialise(model: nn.Module, scheme: str, activation: str) -> None:
    """Re-initialise weights of every linear and conv layer; "default" keeps PyTorch's."""
    if scheme == "default":
        return
    gain_name = {"leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid",
                 "relu": "relu"}.get(activation, "linear")
    for layer in weight_layers(model):
        if scheme == "zeros":
            nn.init.zeros_(layer.weight)
        elif scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain(gain_name))
        elif scheme == "he":
            nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
            nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity)
        elif scheme == "large":  # std 1 ignores the fan-in: each layer multiplies the signal
            nn.init.normal_(layer.weight, 0.0, 1.0)
        nn.init.zeros_(layer.bias)


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose weights are plotted and penalised, input to output."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def mode_matters(hp: HParams) -> bool:
    """Whether a model built from hp computes differently in train and eval mode."""
    return hp.batch_norm or hp.dropout > 0


def set_dropout(model: nn.Module, p: float) -> None:
    """Change the drop rate of every dropout layer; used for live changes while training."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
