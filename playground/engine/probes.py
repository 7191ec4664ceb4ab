"""Probes: callbacks that take pictures of the model for the live plots, a few times a second.

They run in the training thread between steps, in eval mode and without gradients, and use
no random numbers, so a run with probes trains exactly as one without. They look at the clock
when step metrics are read back (at least every 50 ms while training), not on every step.
"""

from __future__ import annotations

import time

import torch

from playground.engine.events import Callback
from playground.engine.surface import SurfaceProbe
from playground.engine.trainer import Trainer


class Probe(Callback):
    """Calls `snapshot` at most every `every` seconds, and once at the start and the end."""

    every = 0.3

    def __init__(self, every: float | None = None):
        self.every = every if every is not None else self.every
        self._last = 0.0

    def wants(self, trainer: Trainer) -> bool:
        return True

    def before_fit(self, trainer: Trainer) -> None:
        self._take(trainer)

    def on_points(self, trainer: Trainer, rows: list[dict]) -> None:
        if time.monotonic() - self._last >= self.every:
            self._take(trainer)

    def after_fit(self, trainer: Trainer) -> None:
        self._take(trainer)

    def _take(self, trainer: Trainer) -> None:
        self._last = time.monotonic()
        if self.wants(trainer):
            was_training = trainer.model.training
            trainer.model.eval()
            with torch.no_grad():
                self.snapshot(trainer)
            trainer.model.train(was_training)

    def snapshot(self, trainer: Trainer) -> None:
        raise NotImplementedError


class BoundaryProbe(Probe):
    """The model's output over a grid of the 2-D plane: the decision boundary heat map."""

    def __init__(self, resolution: int = 60, every: float | None = None):
        super().__init__(every)
        self.resolution = resolution

    def wants(self, trainer: Trainer) -> bool:
        return trainer.data.bounds is not None

    def snapshot(self, trainer: Trainer) -> None:
        x0, x1, y0, y1 = trainer.data.bounds
        xs = torch.linspace(x0, x1, self.resolution)
        ys = torch.linspace(y0, y1, self.resolution)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points = torch.stack([grid_x.flatten(), grid_y.flatten()], 1).to(trainer.device)
        output = trainer.model(points)
        if trainer.data.task == "regression":
            z = output[:, 0]
        elif output.shape[1] == 2:
            z = output.softmax(1)[:, 1]
        else:
            z = output.argmax(1).float() / (output.shape[1] - 1)
        trainer.publish("boundary", {
            "x0": x0, "y0": y0, "dw": x1 - x0, "dh": y1 - y0,
            "z": z.reshape(self.resolution, self.resolution).cpu().tolist()})


class HistogramProbe(Probe):
    """Histograms of each layer's weights (L1 piles them at zero, L2 only shrinks them)."""

    every = 0.5

    def __init__(self, bins: int = 40, every: float | None = None):
        super().__init__(every)
        self.bins = bins

    def snapshot(self, trainer: Trainer) -> None:
        layers = {}
        for name, layer in zip(trainer.layer_names, trainer.layers):
            weights = layer.weight.detach().flatten().float().cpu()
            edge = max(float(weights.abs().max()), 1e-6)
            counts, edges = torch.histogram(weights, bins=self.bins, range=(-edge, edge))
            layers[name] = {"edges": edges.tolist(), "counts": counts.tolist()}
        trainer.publish("histogram", {"layers": layers})


class SamplesProbe(Probe):
    """Predicted and true labels of a few validation images."""

    every = 1.0

    def __init__(self, count: int = 16, every: float | None = None):
        super().__init__(every)
        self.count = count

    def wants(self, trainer: Trainer) -> bool:
        return trainer.data.info.kind == "image" or trainer.data.name == "digits"

    def snapshot(self, trainer: Trainer) -> None:
        x = trainer.data.x_val[:self.count]
        predictions = trainer.model(x).argmax(1).tolist()
        images = x.reshape(len(x), 8, 8) if trainer.data.name == "digits" else x
        if images.dim() == 4:  # (N, C, H, W) -> (N, H, W[, C]), scaled to 0..1 for display
            images = images.permute(0, 2, 3, 1)
            images = images[..., 0] if images.shape[-1] == 1 else images
        low = images.flatten(1).min(1).values.view(-1, *[1] * (images.dim() - 1))
        high = images.flatten(1).max(1).values.view(-1, *[1] * (images.dim() - 1))
        images = (images - low) / (high - low).clamp_min(1e-6)
        trainer.publish("samples", {"images": images.cpu().tolist(), "pred": predictions,
                                    "true": trainer.data.y_val[:self.count].tolist(),
                                    "class_names": list(trainer.data.class_names)})


def default_probes() -> list[Callback]:
    # the loss surface's slices: every 10 s at most (1% of the run's time), and at its end
    return [BoundaryProbe(), HistogramProbe(), SamplesProbe(), SurfaceProbe()]
