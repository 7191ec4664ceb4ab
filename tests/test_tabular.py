"""Bring your own data: CSV files and arrays, checked with clear errors, then trained on."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from playground import data
from playground.config import HParams, HParamsError
from playground.tabular import MAX_BYTES, TableError, columns, from_arrays, read_csv


def csv_text(rows=40, target=lambda i: "yes" if i % 2 else "no"):
    lines = ["age,height,label"] + [f"{20 + i},{150 + (i % 2) * 30 + i % 5},{target(i)}"
                                    for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_classification_is_detected_from_text_labels():
    table = read_csv(csv_text().encode())
    assert table.task == "classification" and table.class_names == ("no", "yes")
    assert table.x.shape == (40, 2) and table.feature_names == ("age", "height")
    assert table.y.tolist()[:2] == [0, 1]


def test_regression_is_detected_from_real_valued_targets():
    table = read_csv(csv_text(target=lambda i: f"{i * 0.37:.2f}"))
    assert table.task == "regression" and table.class_names == ()


def test_few_whole_numbers_are_classes_and_columns_can_be_chosen():
    table = read_csv(csv_text(target=lambda i: str(i % 3)), target="label", features=["age"])
    assert table.task == "classification" and table.class_names == ("0", "1", "2")
    assert table.feature_names == ("age",)
    assert columns(csv_text()) == ["age", "height", "label"]


@pytest.mark.parametrize("text, words", [
    ("age,height,label\n1,2,a\n3,4\n", "row 3: has 2 values, the header has 3 columns"),
    (csv_text().replace("21,", "twenty,", 1), "row 3, column 'age': 'twenty' is not a number"),
    (csv_text().replace(",yes\n", ",\n", 1), "row 3, column 'label': the target is missing"),
    (csv_text(rows=5), "rows: 5 is too few; allowed: at least 20"),
    ("", "file: it is empty"),
    (csv_text().replace("age,height", "age,age"), "repeated names"),
    (csv_text(target=lambda i: "same"), "only one class ('same')"),
    (csv_text().replace("150,", "nan,", 1), "'nan' is not allowed"),
])
def test_bad_files_get_one_clear_message(text, words):
    with pytest.raises(TableError) as caught:
        read_csv(text.encode())
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_columns_and_large_or_binary_files_are_refused(tmp_path):
    with pytest.raises(TableError, match="target: 'colour' is not a column; allowed: age"):
        read_csv(csv_text(), target="colour")
    with pytest.raises(TableError, match="file: .* MB is too large; allowed: at most 0.0 MB"):
        read_csv(csv_text().encode(), max_bytes=10)
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * (MAX_BYTES // 4 + 1))
    with pytest.raises(TableError, match="too large"):
        read_csv(big)
    with pytest.raises(TableError, match="not UTF-8"):
        read_csv(b"\xff\xfe\x00garbage")


def test_a_pickle_is_parsed_as_text_never_loaded():
    import pickle
    with pytest.raises(TableError):
        read_csv(pickle.dumps({"x": [1, 2, 3]}))


def test_arrays_from_python_train_like_any_data_set():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    table = from_arrays(x, y)
    assert table.task == "classification"
    data.use_table(table)
    ds = data.load_dataset(HParams(dataset="custom"))
    assert ds.task == "classification" and ds.n_classes == 2 and ds.input_shape == (3,)
    assert ds.n_train == 160 and ds.bounds is None
    broken = np.zeros((20, 3))
    broken[1, 2] = np.nan
    with pytest.raises(TableError, match="x: row 1, column 2 is nan"):
        from_arrays(broken, np.arange(20) % 2)


def test_loss_must_fit_the_tables_task():
    data.use_table(read_csv(csv_text()))
    with pytest.raises(HParamsError, match="loss: 'l1'.*classification data"):
        data.load_dataset(HParams(dataset="custom", loss="l1"))


def test_custom_without_a_table_says_how_to_give_one():
    with pytest.raises(ValueError, match="dataset: 'custom' has no data yet"):
        data.load_dataset(HParams(dataset="custom"))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "playground.cli", *args], capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())


def test_cli_trains_on_a_csv_and_refuses_a_broken_one(tmp_path):
    good = tmp_path / "people.csv"
    good.write_text(csv_text(rows=200))
    result = run_cli("train", "--data-file", str(good), "--target", "label", "--epochs", "5",
                     "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["config"]["dataset"] == "custom" and summary["status"] == "finished"
    assert summary["val_accuracy"] > 0.9
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text().replace("22,", "x,", 1))
    result = run_cli("train", "--data-file", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == ("playground: error: row 4, column 'age': 'x' is not a "
                                     "number; allowed: numbers in every feature column")
