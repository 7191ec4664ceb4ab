"""Bring your own data: a CSV file (or arrays) checked and turned into a feature table.

Uploaded files are parsed as text by the csv module: never executed, never unpickled.
Every problem is one message naming the row or column, the value and what is allowed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_BYTES = 10 * 1024 * 1024  # largest file accepted, so one upload cannot eat a shared server
MIN_ROWS = 20  # fewer cannot be split into training and validation sensibly
MAX_CLASSES = 20  # a whole-number target with at most this many values is a class label
FLOAT32_MAX = float(np.finfo(np.float32).max)  # about 3.4e38: tables train in float32
FINITE = "finite numbers within float32's range (about -3.4e38 to 3.4e38)"


class TableError(ValueError):
    """A CSV file or array that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Table:
    x: np.ndarray  # float32 (rows, features)
    y: np.ndarray  # int64 class indices, or float32 targets
    task: str  # "classification" or "regression"
    feature_names: tuple[str, ...]
    target_name: str
    class_names: tuple[str, ...]  # () for regression
    name: str = "custom"


def read_csv(source: str | Path | bytes, *, target: str | None = None,
             features: list[str] | None = None, name: str = "custom",
             max_bytes: int = MAX_BYTES) -> Table:
    """Read a CSV with a header row; the target defaults to the last column."""
    header, rows = _rows(_text(source, max_bytes))
    target = header[-1] if target is None else target
    _check_columns("target", [target], header)
    features = [c for c in header if c != target] if features is None else features
    _check_columns("features", features, header)
    if target in features:
        raise TableError(f"features: {target!r} is the target; allowed: the other columns")
    index = {column: i for i, column in enumerate(header)}
    x = np.empty((len(rows), len(features)), dtype=np.float32)
    targets = []
    for r, row in enumerate(rows):
        line = r + 2  # 1-based, after the header: what an editor shows
        for j, column in enumerate(features):
            x[r, j] = _number(row[index[column]], line, column)
        value = row[index[target]].strip()
        if not value:
            raise TableError(f"row {line}, column {target!r}: the target is missing; "
                             "allowed: a value in every row")
        targets.append(value)
    y, task, class_names = _target(targets, target, first_row=2)
    return Table(x, y, task, tuple(features), target, class_names, name)


def columns(source: str | Path | bytes, max_bytes: int = MAX_BYTES) -> list[str]:
    """The header of a CSV file, to choose the target from."""
    return _rows(_text(source, max_bytes))[0]


def from_arrays(x: np.ndarray, y: np.ndarray, *, task: str | None = None,
                feature_names: list[str] | None = None, name: str = "custom") -> Table:
    """A table from Python arrays; the task is detected from y unless given."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2:
        raise TableError(f"x: shape {x.shape} is not allowed; allowed: (rows, features)")
    if len(y) != len(x):
        raise TableError(f"y: {len(y)} values for {len(x)} rows; allowed: one per row")
    if len(x) < MIN_ROWS:
        raise TableError(f"rows: {len(x)} is too few; allowed: at least {MIN_ROWS}")
    _check_finite("x", x)
    names = feature_names or [f"x{i + 1}" for i in range(x.shape[1])]
    if task == "regression":
        try:
            y_float = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        except (TypeError, ValueError):
            raise TableError("y: not numbers; allowed: numbers for regression") from None
        _check_finite("y", y_float)
        y_out, class_names = y.astype(np.float32), ()
    else:
        y_out, detected, class_names = _target([str(v) for v in y.tolist()], "y")
        if task == "classification" and detected == "regression":
            raise TableError(f"y: {len(set(y.tolist()))} distinct values; allowed for "
                             f"classification: at most {MAX_CLASSES} classes")
        task = detected
    return Table(x.astype(np.float32), y_out, task or "regression", tuple(names), "y",
                 class_names, name)


def _check_finite(name: str, values: np.ndarray) -> None:
    """Every value finite and within float32's range, or the first bad one is named."""
    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > FLOAT32_MAX)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise TableError(f"{name}: row {row}, column {column} is {values[row, column]}; "
                         f"allowed: {FINITE}")


def _text(source: str | Path | bytes, max_bytes: int) -> str:
    if isinstance(source, (str, Path)) and not (isinstance(source, str) and "\n" in source):
        path = Path(source)
        if not path.is_file():
            raise TableError(f"file: {str(path)!r} does not exist; allowed: a CSV file")
        if path.stat().st_size > max_bytes:
            raise TableError(_too_large(path.stat().st_size, max_bytes))
        source = path.read_bytes()
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise TableError(_too_large(len(source), max_bytes))
        try:
            return source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise TableError("file: not UTF-8 text; allowed: a CSV file saved as UTF-8") from None
    if len(source.encode()) > max_bytes:
        raise TableError(_too_large(len(source.encode()), max_bytes))
    return source


def _too_large(size: int, limit: int) -> str:
    return f"file: {size / 1e6:.1f} MB is too large; allowed: at most {limit / 1e6:.1f} MB"


def _rows(text: str) -> tuple[list[str], list[list[str]]]:
    try:
        lines = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    except csv.Error as error:
        raise TableError(f"file: not a readable CSV ({error})") from None
    if not lines:
        raise TableError("file: it is empty; allowed: a header row and at least "
                         f"{MIN_ROWS} rows")
    header = [c.strip() for c in lines[0]]
    if len(set(header)) != len(header) or not all(header):
        raise TableError(f"header: {header!r} has empty or repeated names; allowed: one "
                         "unique name per column")
    if len(header) < 2:
        raise TableError(f"header: {len(header)} column; allowed: at least 2 (features and "
                         "a target)")
    rows = lines[1:]
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise TableError(f"row {r + 2}: has {len(row)} values, the header has "
                             f"{len(header)} columns; allowed: {len(header)} in every row")
    if len(rows) < MIN_ROWS:
        raise TableError(f"rows: {len(rows)} is too few; allowed: at least {MIN_ROWS}")
    return header, rows


def _check_columns(field: str, names: list[str], header: list[str]) -> None:
    for column in names:
        if column not in header:
            raise TableError(f"{field}: {column!r} is not a column; allowed: "
                             + ", ".join(header))
    if not names:
        raise TableError(f"{field}: none chosen; allowed: one or more of " + ", ".join(header))


def _number(text: str, line: int, column: str, what: str = "every feature column") -> float:
    try:
        value = float(text)
    except ValueError:
        shown = text.strip()[:80] or "(empty)"
        raise TableError(f"row {line}, column {column!r}: {shown!r} is not a number; "
                         f"allowed: numbers in {what}") from None
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:  # 1e39 overflows float32
        raise TableError(f"row {line}, column {column!r}: {text.strip()[:80]!r} is not "
                         f"allowed; allowed: {FINITE}")
    return value


def _target(values: list[str], name: str, first_row: int = 0,
            ) -> tuple[np.ndarray, str, tuple[str, ...]]:
    """Class labels (text, or few whole numbers) or regression targets (other numbers, each
    finite and within float32: a row of nan would otherwise look like a learning rate too
    high). `first_row` numbers the rows in messages (2 in a CSV, after its header)."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = None
    distinct = sorted(set(values), key=lambda v: (float(v), v) if numbers else (0, v))
    whole = numbers is not None and all(n.is_integer() for n in numbers)
    if numbers is not None and not (whole and len(distinct) <= MAX_CLASSES):
        for row, value in enumerate(values, start=first_row):
            _number(value, row, name, "the target")
        return np.asarray(numbers, dtype=np.float32), "regression", ()
    if len(distinct) < 2:
        raise TableError(f"{name}: only one class ({distinct[0]!r}); allowed: at least 2")
    if len(distinct) > MAX_CLASSES:
        raise TableError(f"{name}: {len(distinct)} classes; allowed: at most {MAX_CLASSES}")
    index = {value: i for i, value in enumerate(distinct)}
    return np.asarray([index[v] for v in values], dtype=np.int64), "classification", \
        tuple(distinct)
