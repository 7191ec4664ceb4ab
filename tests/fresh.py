"""What a piece of code loads, seen from a fresh interpreter (the test's own has loaded
everything by then)."""

import ast
import subprocess
import sys


def modules_loaded(code: str, watched: tuple[str, ...]) -> list[str]:
    """The names of `watched` that are in sys.modules, themselves or a submodule, after
    `code` (Python statements: "import playground.cli") runs in a new Python process."""
    probe = (f"{code}\nimport sys\nprint(sorted({{w for w in {watched!r} for m in sys.modules "
             "if m == w or m.startswith(w + '.')}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])
