"""DESIGN.md's layer rule, read from the source of every file (imports inside functions too):
importing a package alone does not load its lazy imports, so a test that only imports it
passes while a panel still pulls in the engine when a button is pressed."""

import ast
from pathlib import Path

import pytest
from fresh import modules_loaded

PACKAGE = Path(__file__).resolve().parent.parent / "playground"
PAGE_LIBRARIES = ("ipywidgets", "traitlets", "bokeh", "jupyter_bokeh", "IPython")
# What the page layers (ui/, plots/) may not reach: torch, and everything that trains.
TRAINING = ("torch", "torchvision", "playground.engine", "playground.sweeps", "playground.jobs",
            "playground.data", "playground.models", "playground.lessons._run")
# What the training layers may not reach: the page, and the app that composes it.
PAGE = (*PAGE_LIBRARIES, "playground.ui", "playground.plots", "playground.app")
# Optional and slow to import (issue 18): loaded when their tab or command is first used.
HEAVY_OPTIONAL = ("optuna", "sklearn", "ray")
# Imports of our own modules inside functions: only where a module loads torch (the CLI's
# handlers, a lesson run, a race), a backend chosen by name, or the app from the package.
MOST_LAZY_IMPORTS = 10


def sources(*parts: str) -> list[Path]:
    found = []
    for part in parts:
        path = PACKAGE / part
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def imported(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def reaches(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in names
                  if any(name == bad or name.startswith(bad + ".") for bad in forbidden))


@pytest.mark.parametrize("path", sources("ui", "plots"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_page_layers_never_import_torch_or_training(path):
    assert reaches(imported(path), TRAINING) == []


@pytest.mark.parametrize("path", sources("engine", "sweeps", "lessons", "data.py", "models.py",
                                         "store.py", "config.py", "links.py", "tabular.py",
                                         "jobs.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_training_layers_never_import_the_page(path):
    assert reaches(imported(path), PAGE) == []


@pytest.mark.parametrize("path", sources("ui"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_ui_panels_own_no_thread(path):
    """Background work belongs to playground/jobs.py and the engine's Runner."""
    tree = ast.parse(path.read_text())
    threads = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr in ("Thread", "Timer")
               or isinstance(node, ast.Name) and node.id in ("Thread", "Timer")]
    assert "threading" not in imported(path) and threads == []


def test_the_rule_catches_a_lazy_import(tmp_path):
    """The check itself: an import inside a method is found."""
    panel = tmp_path / "panel.py"
    panel.write_text("def press():\n    from playground.sweeps.race import Race\n")
    assert reaches(imported(panel), TRAINING) == ["playground.sweeps.race",
                                                  "playground.sweeps.race.Race"]


def lazy_imports(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """Each import of a playground module made inside a function, as "file:line module"."""
    tree = ast.parse(path.read_text(), str(path))
    found = {}
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):  # a nested function's imports are seen once
            if isinstance(node, ast.ImportFrom) and (
                    node.level or (node.module or "").startswith("playground")):
                names = [node.module or "." * node.level]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("playground")]
            else:
                continue
            found.update({(node.lineno, name): None for name in names})
    return [f"{path.relative_to(root)}:{line} {name}" for line, name in sorted(found)]


def test_few_imports_of_our_own_modules_hide_inside_functions():
    """Issue 17: imports inside functions dodged cycles between our modules. Laziness
    belongs at the boundary to a heavy library, which the modules keep to themselves."""
    lazy = [found for path in sources(".") for found in lazy_imports(path)]
    assert len(lazy) <= MOST_LAZY_IMPORTS, "\n".join(lazy)


def test_the_counter_sees_each_lazy_import_once(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import json\nfrom playground import paths\n"
                      "def outer():\n    def inner():\n        from . import config\n"
                      "    import playground.data, json\n")
    assert lazy_imports(module, tmp_path) == ["module.py:5 .", "module.py:6 playground.data"]


@pytest.mark.parametrize("module", ["playground.cli", "playground.jobs", "playground.app"])
def test_composition_roots_load_no_optional_heavy_library(module):
    """Optuna, scikit-learn and Ray load when a sweep, an importance or a data set needs
    them, not with the app's kernel or `playground --help` (issue 18)."""
    assert modules_loaded(f"import {module}", HEAVY_OPTIONAL) == []
