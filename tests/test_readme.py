"""Every ```python block of the README runs as pasted, each in a fresh interpreter with its
own PLAYGROUND_HOME, in an IPython shell as a notebook cell would run it. A block that ends
by showing the app (`Playground()`) must display a widget: that display is checked, not
skipped (the shell has no page, so the check is the widget view the cell would show)."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Runs one block as a cell; prints the MIME types each display produced, as JSON, last
# (after the shell's "Out[n]:" prompt, which has no line end of its own).
RUN_CELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

shell = InteractiveShell.instance()
with capture_output() as captured:
    result = shell.run_cell(sys.stdin.read())
sys.stdout.write(captured.stdout)
sys.stderr.write(captured.stderr)
result.raise_error()
print("\\nDISPLAYED", json.dumps([sorted(output.data) for output in captured.outputs]))
"""


def shows_the_app(block: str) -> bool:
    """The block's last statement is an expression that makes the app (it is displayed)."""
    last = ast.parse(block).body[-1]
    return isinstance(last, ast.Expr) and "Playground" in ast.unparse(last)


def test_the_readme_has_its_python_blocks():
    assert len(BLOCKS) >= 3 and any(shows_the_app(block) for block in BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_a_readme_block_runs_as_pasted(block, tmp_path):
    env = {**os.environ, "PLAYGROUND_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", RUN_CELL], input=block, text=True,
                          capture_output=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    displayed = json.loads(done.stdout.rsplit("DISPLAYED", 1)[1])
    if shows_the_app(block):
        assert any(WIDGET_VIEW in types for types in displayed), displayed
