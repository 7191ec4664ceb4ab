"""Data sets as tensors on a device: 2-D toy sets, 2-D regression, digits and image sets.

Every set is split the same way: shuffled by a generator seeded with `hp.seed`, the first
`round(train_fraction * N)` examples train and the rest validate. Image sets are read from
disk with torchvision and never downloaded while loading; `download` fetches them.
"""

from __future__ import annotations

import gzip
import math
import shutil
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Literal
from urllib.error import URLError

import torch

from playground import paths
from playground.config import (
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    HParams,
    HParamsError,
)
from playground.points import make_points
from playground.tabular import Table


class DownloadError(ValueError):
    """An image set that could not be downloaded: says why and where to put it by hand."""


class DatasetMissingError(RuntimeError):
    """An image set whose files are not on disk; the message says which and how to get them."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set is: for listings, and for choosing plots and losses."""

    name: str
    kind: Literal["points", "tabular", "image"]  # points: the 2-D sets, drawn as heat maps
    task: Literal["classification", "regression"]
    description: str  # one line for a UI or CLI listing
    downloadable: bool = False  # True: `playground data download <name>` fetches it


DATASETS: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("circle", "points", "classification", "A disc inside a ring (2-D, 2 classes)"),
    DatasetInfo("xor", "points", "classification",
                "Opposite quadrants share a class (2-D, 2 classes)"),
    DatasetInfo("gaussian", "points", "classification", "Two Gaussian blobs (2-D, 2 classes)"),
    DatasetInfo("spiral", "points", "classification", "Two interleaved spirals (2-D, 2 classes)"),
    DatasetInfo("moons", "points", "classification",
                "Two interleaving half circles (2-D, 2 classes)"),
    DatasetInfo("regression", "points", "regression",
                "A smooth surface over the plane, plus noise (2-D, one target)"),
    DatasetInfo("digits", "tabular", "classification",
                "8x8 handwritten digits from scikit-learn (1,797 images, 64 features, 10 classes)"),
    DatasetInfo("mnist", "image", "classification",
                "28x28 handwritten digits (70,000 images, 10 classes)", downloadable=True),
    DatasetInfo("fashion_mnist", "image", "classification",
                "28x28 photos of clothing (70,000 images, 10 classes)", downloadable=True),
    DatasetInfo("cifar10", "image", "classification",
                "32x32 colour photos (60,000 images, 10 classes)", downloadable=True),
    DatasetInfo("custom", "tabular", "classification",
                "Your own table: a CSV file (--data-file) or arrays (use_table)"),
)}

# The table behind dataset "custom", per process: each Voilà tab is a kernel of its own.
_custom: Table | None = None


def use_table(table: Table | None) -> None:
    """Make `table` the data of dataset "custom" in this process (None forgets it)."""
    global _custom
    _custom = table


@dataclass
class Dataset:
    """One data set, split into train and validation tensors on one device."""

    info: DatasetInfo
    x_train: torch.Tensor  # float32, (n_train, *input_shape)
    y_train: torch.Tensor  # int64 labels (n_train,), or float32 targets (n_train, 1)
    x_val: torch.Tensor
    y_val: torch.Tensor
    n_classes: int  # 0 for regression
    input_shape: tuple[int, ...]  # of one example: (2,), (64,), (1, 28, 28), (3, 32, 32)
    class_names: tuple[str, ...]  # () for regression
    bounds: tuple[float, float, float, float] | None  # (xmin, xmax, ymin, ymax) of 2-D sets

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def task(self) -> str:
        return self.info.task

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return len(self.x_val)

    @property
    def n_features(self) -> int:
        return math.prod(self.input_shape)


def load_dataset(hp: HParams, device: torch.device | str = "cpu") -> Dataset:
    """Build or read hp.dataset, split it with hp.seed and hp.train_fraction, move it to device."""
    info = DATASETS[hp.dataset]
    if info.name == "custom":
        info, x, y, class_names = _custom_table(hp)
    elif info.kind == "points":
        x, y, class_names = _points(hp)
    elif info.kind == "tabular":
        x, y, class_names = _digits()
    else:
        x, y, class_names = _images(info.name)
    bounds = plane_bounds(x) if info.kind == "points" or x.shape[1:] == (2,) else None
    if hp.classes != "all":
        x, y, class_names = half_of_the_classes(x, y, class_names, hp.classes)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(hp.seed))
    n_train = round(hp.train_fraction * len(x))
    train, val = order[:n_train], order[n_train:]
    if hp.train_per_class:
        if info.task == "regression":  # a custom table's task is known only now
            raise HParamsError("train_per_class", hp.train_per_class,
                               "0 for regression data (it has no classes)")
        train = first_of_each_class(train, y[train], hp.train_per_class)
    y_train = y[train]
    if hp.outliers and info.task == "regression":  # the validation targets stay clean
        y_train = with_outliers(y_train, hp.outliers, hp.seed)
    return Dataset(info, x[train].to(device), y_train.to(device), x[val].to(device),
                   y[val].to(device), n_classes=len(class_names), input_shape=tuple(x.shape[1:]),
                   class_names=class_names, bounds=bounds)


def half_of_the_classes(x: torch.Tensor, y: torch.Tensor, class_names: tuple[str, ...],
                        half: str) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The examples of the first or second half of the classes (digits 0-4 or 5-9), their
    labels numbered from 0 again; the class names stay the digits'."""
    middle = len(class_names) // 2
    kept = range(middle) if half == "first_half" else range(middle, len(class_names))
    mask = (y >= kept.start) & (y < kept.stop)
    return x[mask], y[mask] - kept.start, tuple(class_names[i] for i in kept)


def first_of_each_class(train: torch.Tensor, labels: torch.Tensor, count: int) -> torch.Tensor:
    """The first `count` of each class among the (shuffled) training indices `train`, in
    their order: few labelled examples, the same ones for the same seed."""
    rank = torch.zeros_like(labels)
    for label in labels.unique():  # position of each example within its own class
        members = labels == label
        rank[members] = torch.arange(int(members.sum()))
    return train[rank < count]


OUTLIER_DISTANCE = 10.0  # how far an outlier lies from the mean target, in standard deviations


def with_outliers(y: torch.Tensor, share: float, seed: int) -> torch.Tensor:
    """A copy of regression targets `y` (N, 1) with round(share * N) of them, chosen with
    `seed`, replaced by the mean plus or minus OUTLIER_DISTANCE standard deviations (the sign
    at random): a faulty sensor's readings, far from every clean target."""
    generator = torch.Generator().manual_seed(seed + 2)  # seed + 1 orders the batches
    count = round(share * len(y))
    chosen = torch.randperm(len(y), generator=generator)[:count]
    signs = torch.randint(0, 2, (count, 1), generator=generator).to(y.dtype) * 2 - 1
    far = y.mean() + signs * OUTLIER_DISTANCE * y.std()
    y = y.clone()
    y[chosen] = far
    return y


IMAGE_SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def input_shape(hp: HParams) -> tuple[int, ...] | None:
    """The shape of one example of hp's data set, without loading it (to check that a saved
    run's weights fit before a run starts); None for a custom table not given yet."""
    info = DATASETS[hp.dataset]
    if info.kind == "points":
        return (2,)
    if info.name == "custom":
        return None if _custom is None else (_custom.x.shape[1],)
    return IMAGE_SHAPES.get(info.name, (64,))  # the digits: 8x8 pixels


def plane_bounds(x: torch.Tensor) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of a tidy square around 2-D points, for the boundary plot."""
    lim = max(1.5, math.ceil(2 * x.abs().max().item()) / 2)
    return (-lim, lim, -lim, lim)


# --- your own table ---------------------------------------------------------------------------

def check_loss(hp: HParams) -> None:
    """For dataset "custom": hp.loss must fit the task of the table given to use_table (a
    regression table cannot learn with cross-entropy). HParams checks the other data sets
    itself; a custom table's task is known only here. Called before a run is created."""
    if hp.dataset != "custom" or _custom is None:
        return
    task = _custom.task
    losses = CLASSIFICATION_LOSSES if task == "classification" else REGRESSION_LOSSES
    if hp.loss not in losses:
        raise HParamsError("loss", hp.loss, f"for {task} data: one of {', '.join(losses)}")


def _custom_table(hp: HParams) -> tuple[DatasetInfo, torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """The table given to use_table, features standardised; checks the loss fits its task."""
    if _custom is None:
        raise ValueError("dataset: 'custom' has no data yet; allowed once a CSV file is "
                         "uploaded (app) or given with --data-file (CLI)")
    table = _custom
    check_loss(hp)
    x = torch.from_numpy(table.x)
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    y = torch.from_numpy(table.y)
    y = y.float().view(-1, 1) if table.task == "regression" else y.long()
    description = f"{table.name}: {len(x)} rows, {x.shape[1]} features, target {table.target_name}"
    info = DatasetInfo("custom", "tabular", table.task, description)
    return info, x, y, table.class_names


# --- 2-D sets and digits --------------------------------------------------------------------

def _points(hp: HParams) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """hp.samples points in about [-1.5, 1.5]^2; hp.noise is the std of the jitter. Built by
    playground/points.py, which an exported script inlines: one source for both."""
    x, y = make_points(hp.dataset, hp.samples, hp.noise, hp.seed)
    if hp.dataset == "regression":
        return (torch.tensor(x, dtype=torch.float32),
                torch.tensor(y, dtype=torch.float32).unsqueeze(1), ())
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64), ("0", "1")


def _digits() -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """scikit-learn's bundled 8x8 digits, pixels scaled from 0..16 to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    return x, torch.tensor(digits.target, dtype=torch.int64), tuple(str(i) for i in range(10))


# --- image sets -----------------------------------------------------------------------------

_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "cifar-10-batches-py"}
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")
_STATS = {  # per-channel mean and std of the training pixels, scaled to [0, 1]
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def available() -> list[str]:
    """The data sets a run can load now: image sets whose files are on disk (nothing is
    downloaded at run time), and custom once a table is given."""
    roots = paths.dataset_roots()
    return [name for name, info in DATASETS.items()
            if (info.kind != "image" or any(not _missing(name, root) for root in roots))
            and (name != "custom" or _custom is not None)]


def _files(name: str) -> list[str]:
    """Files an image set needs, relative to its root, in torchvision's layout."""
    if name == "cifar10":
        return [f"{_FOLDER[name]}/{file}" for file in _CIFAR_FILES]
    return [f"{_FOLDER[name]}/raw/{file}" for file in _MNIST_FILES]


def _missing(name: str, root: Path) -> list[str]:
    endings = ("",) if name == "cifar10" else ("", ".gz")  # MNIST files may still be gzipped
    return [f for f in _files(name) if not any((root / (f + e)).is_file() for e in endings)]


def _find_root(name: str) -> Path:
    """The first of paths.dataset_roots() that holds all of the set's files."""
    roots = paths.dataset_roots()
    for root in roots:
        if not _missing(name, root):
            return root
    closest = min(roots, key=lambda root: len(_missing(name, root)))
    raise DatasetMissingError(
        f"{name} is not on disk: missing {', '.join(_missing(name, closest))} (looked in "
        f"{', '.join(str(root) for root in roots)}). To get it, run `playground data download "
        f"{name}` where the internet is reachable, or copy the files into {paths.datasets_dir()}")


def _gunzip(raw: Path) -> None:
    """torchvision reads MNIST files uncompressed: unpack those that are only there as .gz."""
    for packed in raw.glob("*.gz"):
        target = packed.with_suffix("")
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            with gzip.open(packed) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)


def _images(name: str) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """torchvision's train and test images together, normalised, as (N, C, H, W)."""
    import torchvision.datasets as tvd  # slow to import, and only the image sets need it

    root = _find_root(name)
    if name == "cifar10":
        class CIFAR10(tvd.CIFAR10):
            # torchvision checks the md5 sums of the real files; check only that they exist,
            # so that hand-made files (such as the tests') load too.
            train_list = [[file, None] for file, _ in tvd.CIFAR10.train_list]
            test_list = [[file, None] for file, _ in tvd.CIFAR10.test_list]
            meta = {**tvd.CIFAR10.meta, "md5": None}

        parts = [CIFAR10(root, train=train) for train in (True, False)]
        pixels = torch.cat([torch.from_numpy(p.data).permute(0, 3, 1, 2) for p in parts])
        labels = torch.cat([torch.tensor(p.targets, dtype=torch.int64) for p in parts])
        class_names = tuple(parts[0].classes)
    else:
        _gunzip(root / _FOLDER[name] / "raw")
        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        parts = [cls(root, train=train) for train in (True, False)]
        pixels = torch.cat([p.data for p in parts]).unsqueeze(1)
        labels = torch.cat([p.targets for p in parts]).long()
        class_names = tuple(str(i) for i in range(10)) if name == "mnist" else tuple(cls.classes)
    mean, std = (torch.tensor(s).view(-1, 1, 1) for s in _STATS[name])
    return (pixels.float() / 255 - mean) / std, labels, class_names


def download(name: str, root: Path | None = None) -> Path:
    """Fetch an image set with torchvision into root (default: paths.datasets_dir()).

    Returns the set's own folder. Raises ValueError for sets that are built in.
    """
    info = DATASETS.get(name)
    if info is None or not info.downloadable:
        allowed = ", ".join(n for n, i in DATASETS.items() if i.downloadable)
        raise ValueError(f"{name!r} cannot be downloaded: one of {allowed} can "
                         "(the other data sets are built in)")
    import torchvision.datasets as tvd

    root = Path(root) if root is not None else paths.datasets_dir()
    cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        cls(root, train=True, download=True)  # fetches the test files too
    except (OSError, RuntimeError, HTTPException) as error:  # URLError is an OSError
        raise DownloadError(_download_failed(name, root, error)) from None
    return root / _FOLDER[name]


def _download_failed(name: str, root: Path, error: BaseException) -> str:
    """One line: why the download failed, and where to put the files by hand."""
    if isinstance(error, OSError) and not isinstance(error, URLError) and error.filename:
        # our disk, not the network (an HTTPError's filename is its URL)
        return f"{name}: cannot write {error.filename} ({error.strerror})"
    reason = getattr(error, "reason", None) or error
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    reason = (lines[-1] if lines else type(error).__name__)[:80]  # torchvision's last try
    if name == "cifar10":
        by_hand = f"unpack cifar-10-python.tar.gz into {root} (it makes {_FOLDER[name]})"
    else:
        files = ", ".join(file + ".gz" for file in _MNIST_FILES)
        by_hand = f"copy {files} into {root / _FOLDER[name] / 'raw'}"
    return (f"{name}: cannot download it: the network is unreachable ({reason}); get the "
            f"files where it is reachable and {by_hand}")
