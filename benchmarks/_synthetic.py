"""A synthetic MNIST: 70,000 28x28 images and labels in the real on-disk format (idx files
under MNIST/raw, as torchvision lays them out), for the items that train the small CNN. No
data set can be downloaded here; only the shape and the format matter for a step's cost.
"""

from __future__ import annotations

import struct
from pathlib import Path

N_TRAIN, N_TEST = 60_000, 10_000  # MNIST's own split (the app re-splits by train_fraction)


def write_mnist(datasets: Path, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    """Write MNIST/raw/*-ubyte under `datasets` (a PLAYGROUND_HOME's datasets folder) unless
    they are there; returns the raw folder. Each class is a fixed random blob plus noise, so a
    run learns something and its curves move."""
    import numpy as np

    raw = datasets / "MNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    if all((raw / name).is_file() for name in names):
        return raw
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, (10, 28, 28)).astype(np.float32)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        noise = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images = (0.5 * templates[labels] + 0.5 * noise).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def _write_idx(path: Path, array: object) -> None:
    """An idx file of unsigned bytes: magic (0x08, number of dims), big-endian dims, data."""
    partial = path.with_name(path.name + ".partial")
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    partial.write_bytes(header + array.tobytes())
    partial.replace(path)
