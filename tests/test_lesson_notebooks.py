"""The lesson notebooks: one per lesson, generated from the catalog, clean, and each runs
top to bottom in a real kernel (the conftest's PLAYGROUND_HOME is inherited by it)."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from playground.lessons import LESSONS

FOLDER = Path(__file__).resolve().parent.parent / "notebooks" / "lessons"
CELL_TIMEOUT = 180  # seconds; a cell that hangs fails the test instead of the whole run


def _generator():
    spec = importlib.util.spec_from_file_location("generate_lessons", FOLDER / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()
NOTEBOOKS = {lesson.name: generate.notebook_path(number, lesson)
             for number, lesson in enumerate(LESSONS.values(), start=1)}


def test_one_notebook_per_lesson_and_no_strays():
    assert sorted(FOLDER.glob("*.ipynb")) == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize("name", list(LESSONS))
def test_notebook_is_generated_from_the_catalog_and_clean(name):
    on_disk = nbformat.read(NOTEBOOKS[name], as_version=4)
    fresh = generate.build(LESSONS[name])
    # up to date: `python notebooks/lessons/generate.py` rewrites them after a catalog change
    assert [cell.source for cell in on_disk.cells] == [cell.source for cell in fresh.cells]
    assert LESSONS[name].explanation in on_disk.cells[0].source
    for cell in on_disk.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    nbformat.validate(on_disk)


# After the notebook's own cells: the lesson was loaded and Play started its first run.
CHECK = """
import time
lesson = app.lesson
assert lesson is not None and lesson.name == {name!r}, lesson
first = lesson.labels[0]
deadline = time.monotonic() + 120
while time.monotonic() < deadline and not any(
        run.name == first for run in app.store.list_runs()):
    time.sleep(0.2)
print(json.dumps(sorted(run.name for run in app.store.list_runs())))
app.stop()
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LESSONS))
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_THREADS", "1")  # tiny networks: one thread is quickest
    notebook = nbformat.read(NOTEBOOKS[name], as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import json" + CHECK.format(name=name)))
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the traceback, if any cell fails
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs
                      if output.output_type == "stream")
    names = json.loads(printed.strip().splitlines()[-1])
    assert LESSONS[name].labels[0] in names  # Play started the lesson's first run
