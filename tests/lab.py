"""A real JupyterLab for browser tests: `jupyter lab` on a free port in a temp folder, no
token, its settings and workspaces in that folder too, the app's object exposed in the page
(`window.jupyterapp`) so a test runs Lab's own commands: run a cell, save, change theme."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from pages import free_port

# Lab asks whether to fetch news on first start; the toast covers the page's corner.
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False}}


def notebook(path: Path, *cells: str) -> Path:
    """Write a notebook of code cells (no outputs) to `path`."""
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}",
                   "metadata": {}, "outputs": [], "source": source}
                  for i, source in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


@contextmanager
def jupyter_lab(root: Path):
    """Start `jupyter lab` serving `root`; yields its base URL; stops it (and its kernels)."""
    settings = root.parent / "lab-settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port = free_port()
    log = (root.parent / "lab.log").open("ab")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root.parent / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(root.parent / "jupyter-runtime")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={root.parent / 'lab-workspaces'}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         "--ServerApp.shutdown_no_activity_timeout=600", "--allow-root"],
        cwd=root, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(url + "api/status", timeout=2)
                break
            except OSError:
                assert process.poll() is None, "jupyter lab exited: see " + log.name
                assert time.monotonic() < deadline, "jupyter lab did not answer in 90 s"
                time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def lab_command(page, command: str, args: dict | None = None):
    """Run one of Lab's commands in the page (`notebook:run-all-cells`, `docmanager:save`)."""
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)",
                         [command, args or {}])


def open_notebook(page, url: str, name: str, timeout: float = 120_000) -> None:
    """Open `name` in Lab and wait until its kernel is idle."""
    page.goto(f"{url}lab/tree/{name}", timeout=timeout)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout)


# The current notebook's kernel has started and is idle.
KERNEL_IDLE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext;
  return !!(session && session.session && session.session.kernel
            && session.kernelDisplayStatus === 'idle');
}"""
# Text of every output of the current notebook's cell `index`.
CELL_OUTPUT = """(index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cell = panel.content.widgets[index];
  return cell.outputArea ? cell.outputArea.node.innerText : '';
}"""
