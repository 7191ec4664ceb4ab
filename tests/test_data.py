"""Data sets: the contract every set keeps, and image loaders checked against files we write."""

from __future__ import annotations

import gzip
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from playground import config, data, paths
from playground.config import HParams

POINTS = [name for name, info in data.DATASETS.items() if info.kind == "points"]
IMAGES = [name for name, info in data.DATASETS.items() if info.kind == "image"]
BUILT_IN = [name for name in config.DATASETS if name != "custom"]  # custom: test_tabular.py
SHAPES = {"digits": (64,), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
          "cifar10": (3, 32, 32)}
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh PLAYGROUND_HOME, and a repo data folder that is empty, for every test."""
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "REPO_DATASETS", tmp_path / "repo_datasets")
    return tmp_path / "home"


def hparams(name: str, **changes) -> HParams:
    loss = "mse" if name in config.REGRESSION_DATASETS else "auto"
    return HParams(**{"dataset": name, "loss": loss, "samples": 200, **changes})


# --- writing image sets in their real on-disk formats ------------------------------------------

def make_images(n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 images whose first pixel is their index, and their labels."""
    rng = np.random.default_rng(123)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(n)
    return images, rng.integers(0, 10, n)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    """An idx file of unsigned bytes: magic (type 0x08, number of dims), big-endian dims, data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with (gzip.open(f"{path}.gz", "wb") if gz else open(path, "wb")) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """20 train and 10 test images, as torchvision lays them out under root/folder/raw."""
    images, labels = make_images(30, (28, 28))
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, part in (("train", slice(0, 20)), ("t10k", slice(20, 30))):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images[part], gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[part], gz)
    return images, labels


def write_cifar(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Five train batches of 3 images and a test batch of 4, pickled as CIFAR's python version."""
    images, labels = make_images(19, (3, 32, 32))
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, batch in enumerate(batches):
        part = slice(3 * i, 3 * i + 3 if i < 5 else None)
        entry = {"batch_label": batch, "labels": labels[part].tolist(),
                 "data": images[part].reshape(-1, 3 * 32 * 32),  # rows of R, then G, then B
                 "filenames": [f"{j}.png" for j in range(len(labels[part]))]}
        (folder / batch).write_bytes(pickle.dumps(entry))
    meta = {"label_names": CIFAR_NAMES, "num_cases_per_batch": 3, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return images, labels


def write_files(name: str, root: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if name == "mnist":
        return write_mnist(root, "MNIST")
    if name == "fashion_mnist":
        return write_mnist(root, "FashionMNIST", gz=True)
    if name == "cifar10":
        return write_cifar(root)
    return None


# --- the contract of every set -------------------------------------------------------------------

def test_registry_matches_config():
    assert tuple(data.DATASETS) == config.DATASETS
    assert [n for n, i in data.DATASETS.items() if i.downloadable] == IMAGES
    assert [n for n, i in data.DATASETS.items() if i.task == "regression"] == ["regression"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", BUILT_IN)
def test_loads_with_shapes_types_and_split(name, device, home):
    write_files(name, home / "datasets")
    ds = data.load_dataset(hparams(name, train_fraction=0.7), device=device)
    n = ds.n_train + ds.n_val
    assert n == {"digits": 1797, "mnist": 30, "fashion_mnist": 30, "cifar10": 19}.get(name, 200)
    assert ds.n_train == round(0.7 * n)
    assert ds.name == name and ds.info is data.DATASETS[name]
    assert ds.input_shape == SHAPES.get(name, (2,))
    assert ds.n_features == math.prod(ds.input_shape)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):
        assert x.dtype == torch.float32 and x.device.type == device
        assert x.shape == (len(x), *ds.input_shape) and y.device.type == device
        assert torch.isfinite(x).all()
        if ds.task == "regression":
            assert y.dtype == torch.float32 and y.shape == (len(x), 1)
        else:
            assert y.dtype == torch.int64 and y.shape == (len(x),)
            assert 0 <= y.min() and y.max() < ds.n_classes
    if ds.task == "regression":
        assert ds.n_classes == 0 and ds.class_names == ()
    else:
        assert ds.n_classes == len(ds.class_names) == (2 if name in POINTS else 10)
    if name in POINTS:
        xmin, xmax, ymin, ymax = ds.bounds
        assert xmin <= ds.x_train[:, 0].min() and ds.x_train[:, 0].max() <= xmax
        assert ymin <= ds.x_train[:, 1].min() and ds.x_train[:, 1].max() <= ymax
    else:
        assert ds.bounds is None


@pytest.mark.parametrize("name", BUILT_IN)
def test_split_is_seeded(name, home):
    write_files(name, home / "datasets")
    a, b = data.load_dataset(hparams(name)), data.load_dataset(hparams(name))
    for field in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    c = data.load_dataset(hparams(name, seed=1))
    assert not torch.equal(a.x_train, c.x_train)


# --- 2-D sets ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", POINTS)
def test_noise_jitters_the_points(name):
    clean, noisy = data.load_dataset(hparams(name, noise=0.0)), data.load_dataset(hparams(name))
    assert not (torch.equal(clean.x_train, noisy.x_train)
                and torch.equal(clean.y_train, noisy.y_train))
    assert clean.x_train.abs().max() <= 1.5 + 1e-6  # clean points sit in the standard square
    assert clean.bounds == (-1.5, 1.5, -1.5, 1.5)


@pytest.mark.parametrize("name", [n for n in POINTS if n != "regression"])
def test_binary_sets_are_balanced(name):
    ds = data.load_dataset(hparams(name, samples=1000))
    y = torch.cat([ds.y_train, ds.y_val])
    assert 0.4 < y.float().mean() < 0.6


def test_digits_are_scaled_to_unit_interval():
    ds = data.load_dataset(hparams("digits"))
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1


# --- image sets against the files we wrote --------------------------------------------------------

@pytest.mark.parametrize("name", IMAGES)
def test_images_match_the_files(name, home):
    images, labels = write_files(name, home / "datasets")
    ds = data.load_dataset(hparams(name))
    mean, std = (torch.tensor(s).view(-1, 1, 1) for s in data._STATS[name])
    seen = []
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val)):
        pixels = ((x * std + mean) * 255).round().to(torch.uint8)
        index = pixels.flatten(1)[:, 0].long()  # each image carries its index in its first pixel
        expected = torch.from_numpy(images[index.numpy()]).reshape(pixels.shape)
        assert torch.equal(pixels, expected)
        assert torch.equal(y, torch.from_numpy(labels[index.numpy()]))
        seen += index.tolist()
    assert sorted(seen) == list(range(len(images)))  # train and test files, each image once
    expected_names = {"mnist": [str(i) for i in range(10)], "cifar10": CIFAR_NAMES}
    assert list(ds.class_names) == expected_names.get(name, ["T-shirt/top", "Trouser", "Pullover",
                                                             "Dress", "Coat", "Sandal", "Shirt",
                                                             "Sneaker", "Bag", "Ankle boot"])


def test_images_are_also_found_in_the_repo_folder():
    write_mnist(paths.REPO_DATASETS, "MNIST", gz=True)
    assert data.load_dataset(hparams("mnist")).n_train == 24


@pytest.mark.parametrize("name", IMAGES)
def test_missing_images_say_how_to_get_them(name, home):
    with pytest.raises(data.DatasetMissingError) as caught:
        data.load_dataset(hparams(name))
    message = str(caught.value)
    assert f"playground data download {name}" in message
    assert str(home / "datasets") in message and str(paths.REPO_DATASETS) in message
    assert ("test_batch" if name == "cifar10" else "t10k-images-idx3-ubyte") in message


def test_partly_copied_set_names_only_the_missing_file(home):
    write_mnist(home / "datasets", "MNIST")
    (home / "datasets" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DatasetMissingError, match="t10k-labels-idx1-ubyte") as caught:
        data.load_dataset(hparams("mnist"))
    assert "train-images" not in str(caught.value)


@pytest.mark.parametrize("name", ["moons", "digits", "nope"])
def test_download_refuses_sets_that_are_not_downloadable(name):
    with pytest.raises(ValueError, match="mnist"):
        data.download(name)
