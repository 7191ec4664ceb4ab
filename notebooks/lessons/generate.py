"""Write one notebook per lesson from the catalog: `python notebooks/lessons/generate.py`.

The notebooks are generated, not hand-edited, so their words always match the app's; a test
checks that they are up to date. They are written without outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from playground.lessons import LESSONS, Lesson

HERE = Path(__file__).resolve().parent


def notebook_path(number: int, lesson: Lesson) -> Path:
    return HERE / f"{number:02d}-{lesson.name}.ipynb"


def build(lesson: Lesson) -> nbformat.NotebookNode:
    """Explanation, the app opened on the lesson, and the cell that plays it."""
    intro = (f"# {lesson.title}\n\n{lesson.explanation}\n\n**Watch:** {lesson.watch}\n\n"
             "Run the cells in order. The app opens on this lesson with its settings "
             "loaded; the last cell starts the lesson's runs.")
    play = ("Play the lesson: its runs train one after another in the background (this "
            "cell returns at once) and each stays on the plots. The same runs, without the "
            f"app: `playground lessons run {lesson.name}` in a terminal.")
    notebook = new_notebook(cells=[
        new_markdown_cell(intro),
        new_code_cell(f'from playground import Playground\n\napp = Playground(lesson='
                      f'"{lesson.name}")\napp'),
        new_markdown_cell(play),
        new_code_cell("app.play_lesson()"),
    ])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for cell in notebook.cells:  # stable ids: regenerating changes nothing that did not
        cell.id = f"{lesson.name.replace('_', '-')}-{notebook.cells.index(cell)}"
    return notebook


def write_all() -> list[Path]:
    paths = []
    for number, lesson in enumerate(LESSONS.values(), start=1):
        path = notebook_path(number, lesson)
        nbformat.write(build(lesson), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all():
        print(written.relative_to(HERE.parent.parent))
