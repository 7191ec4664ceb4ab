"""Pure data layer of the snapshot plots: weight histograms, decision boundary, sample images.

Each function takes one row as the training thread produced it and returns a NamedTuple or a
column dict that the Bokeh classes assign to a source. numpy is used for images; nothing here
knows Bokeh or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from playground.plots.series import Columns, color_at

CORRECT_COLOR = "#009E73"  # Okabe-Ito bluish green
WRONG_COLOR = "#D55E00"  # Okabe-Ito vermillion: tells apart from green without red-green vision

HIST_KEYS = ("left", "right", "top", "bottom", "layer", "color", "count")


def histogram_columns(layers: Mapping[str, Mapping[str, Sequence[float]]]) -> Columns:
    """{layer: {"edges", "counts"}} -> quad columns, one bar per bin, heights as shares.

    Counts are divided by the layer's total so layers of different sizes share one y axis.
    """
    out: Columns = {key: [] for key in HIST_KEYS}
    for i, (name, hist) in enumerate(layers.items()):
        edges = [float(edge) for edge in hist.get("edges", [])]
        counts = [float(count) for count in hist.get("counts", [])]
        if len(edges) != len(counts) + 1:
            raise ValueError(f"histogram of {name!r}: {len(edges)} edges for {len(counts)} "
                             "counts; allowed: one more edge than counts")
        total = sum(counts) or 1.0
        for left, right, count in zip(edges[:-1], edges[1:], counts, strict=True):
            out["left"].append(left)
            out["right"].append(right)
            out["top"].append(count / total)
            out["bottom"].append(0.0)
            out["layer"].append(str(name))
            out["color"].append(color_at(i))
            out["count"].append(count)
    return out


class BoundaryInfo(NamedTuple):
    """What the boundary image needs: placement, the grid and the colour range."""

    x: float
    y: float
    dw: float
    dh: float
    image: np.ndarray  # rows are y, row 0 at the bottom (Bokeh's image convention)
    low: float
    high: float


def boundary_info(row: Mapping[str, Any]) -> BoundaryInfo:
    """A boundary row -> BoundaryInfo. Values in [0, 1] keep the range 0..1 (probabilities,
    predicted class index / (n_classes - 1)); anything else (a regression surface) spans its
    own min..max."""
    image = np.asarray(row["z"], dtype=float)
    if image.ndim != 2:
        raise ValueError(f"boundary z: shape {image.shape} is not allowed; allowed: 2-D")
    finite = image[np.isfinite(image)]
    low, high = 0.0, 1.0
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        low, high = float(finite.min()), float(finite.max())
        if high <= low:
            high = low + 1.0
    return BoundaryInfo(float(row["x0"]), float(row["y0"]), float(row["dw"]), float(row["dh"]),
                        image, low, high)


def point_columns(features: Sequence[Sequence[float]], labels: Sequence[float],
                  n_classes: int | None = None) -> Columns:
    """Data points (N x 2 features, N labels) -> columns x, y, value, label for a scatter.

    `value` is on the boundary image's scale: for classes label / (n_classes - 1), which is
    the label itself for two (the image holds P(class 1)) and the image's predicted class
    index / (n_classes - 1) for more; for regression (n_classes None) the value itself.
    """
    if len(features) != len(labels):
        raise ValueError(f"points: {len(features)} features for {len(labels)} labels; "
                         "allowed: one label per point")
    out: Columns = {"x": [], "y": [], "value": [], "label": []}
    for point, label in zip(features, labels, strict=True):
        out["x"].append(float(point[0]))
        out["y"].append(float(point[1]))
        value = float(label)
        if n_classes is not None and n_classes > 2:
            value /= n_classes - 1
        out["value"].append(value)
        out["label"].append(label)
    return out


def to_rgba(image: Sequence) -> np.ndarray:
    """A grayscale (H x W) or colour (H x W x 3) image in 0..1 -> uint32 RGBA, flipped so the
    picture's first row is drawn at the top (Bokeh puts row 0 at the bottom)."""
    array = np.clip(np.nan_to_num(np.asarray(image, dtype=float)), 0.0, 1.0)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"sample image: shape {array.shape} is not allowed; "
                         "allowed: H x W or H x W x 3")
    rgba = np.empty(array.shape[:2] + (4,), dtype=np.uint8)
    rgba[:, :, :3] = np.round(array[:, :, :3] * 255)
    rgba[:, :, 3] = 255
    return np.ascontiguousarray(rgba[::-1]).view(np.uint32)[:, :, 0]


class SamplesInfo(NamedTuple):
    """Sample images laid out on a grid, one cell per image, with their caption columns."""

    images: Columns  # image, x, y, dw, dh
    captions: Columns  # x, y, text, color, correct
    width: float  # extent of the grid in plot units
    height: float


def samples_info(row: Mapping[str, Any], columns: int = 8, gap: float = 0.15,
                 caption: float = 0.35) -> SamplesInfo:
    """A samples row -> images in cells of size 1, each captioned "pred / true" above it.

    Captions start with ✓ or ✗ as well as being coloured, so they read without colour vision.
    """
    images = row.get("images", [])
    preds, trues = row.get("pred", []), row.get("true", [])
    names = list(row.get("class_names") or [])
    columns = max(1, min(columns, len(images))) if images else 1
    rows = math.ceil(len(images) / columns) if images else 0
    cell_h = 1.0 + caption + gap
    image_cols: Columns = {"image": [], "x": [], "y": [], "dw": [], "dh": []}
    caption_cols: Columns = {"x": [], "y": [], "text": [], "color": [], "correct": []}

    def name(index: Any) -> str:
        return names[index] if isinstance(index, int) and 0 <= index < len(names) else str(index)

    for i, image in enumerate(images):
        col, line = i % columns, i // columns
        x = col * (1.0 + gap)
        y = (rows - 1 - line) * cell_h  # first image top left
        image_cols["image"].append(to_rgba(image))
        image_cols["x"].append(x)
        image_cols["y"].append(y)
        image_cols["dw"].append(1.0)
        image_cols["dh"].append(1.0)
        pred = preds[i] if i < len(preds) else None
        true = trues[i] if i < len(trues) else None
        correct = pred is not None and pred == true
        caption_cols["x"].append(x + 0.5)
        caption_cols["y"].append(y + 1.05)
        caption_cols["text"].append(f"{'✓' if correct else '✗'} {name(pred)} / {name(true)}")
        caption_cols["color"].append(CORRECT_COLOR if correct else WRONG_COLOR)
        caption_cols["correct"].append(correct)
    width = columns * (1.0 + gap) - gap
    height = rows * cell_h - gap if rows else 1.0
    return SamplesInfo(image_cols, caption_cols, width, height)
