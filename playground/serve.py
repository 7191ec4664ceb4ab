"""`playground serve`: the app as a Voilà web page, with workshop defaults.

Voilà starts one kernel per browser tab. Each kernel gets a share of the cores (torch threads)
so several tabs leave the machine responsive; the kernels of closed tabs and idle ones are shut
down (kernels.py), and an optional cap on sessions answers "full" rather than slowing everyone
down. The page runs only the app's notebook: Voilà offers no way to run other code, and exports
go to the store's folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "playground.ipynb"
TEMPLATE = Path(__file__).resolve().parent / "voila_template"  # lab, with local icons
IOPUB_TIMEOUT = 120  # seconds Voila waits for a cell's output after it ran
TOKEN_VARIABLE = "PLAYGROUND_TOKEN"  # the token, out of `ps` (a --token flag is in it)
STOP_GRACE = 20  # seconds Voila gets to shut its kernels down when told to stop
# seconds before a preheated pool replaces a kernel a tab took (Voilà's default is 1 s): the
# refills then do not compete with the pages of a class arriving together
PREHEAT_FILL_DELAY = 30


def voila_command(port: int, ip: str, open_browser: bool, token: str | None,
                  cull_after: int, max_sessions: int = 0,
                  closed_tab_grace: int = 30, preheat: int = 0) -> list[str]:
    return [
        sys.executable, "-m", "voila", str(NOTEBOOK),
        f"--port={port}", f"--Voila.ip={ip}", f"--Voila.open_browser={open_browser}",
        "--Voila.port_retries=0",  # a taken port is an error, not a surprise address
        # a token goes in a config file (token_config): any local user can read `ps`
        *([] if token else ["--Voila.token="]),
        "--VoilaConfiguration.show_tracebacks=False",
        # The app's cell shows its widget after the execute reply; with several tabs starting
        # at once on a few cores that output took longer than nbclient's 4 s, was dropped,
        # and the tab stayed blank (seen with 4 tabs on 2 cores).
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}",
        f"--MappingKernelManager.cull_idle_timeout={cull_after}",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_connected=False",  # an open tab keeps its kernel
        "--VoilaConfiguration.multi_kernel_manager_class="
        "playground.kernels.CappedKernelManager",
        f"--CappedKernelManager.max_kernels={max_sessions}",
        # a closed tab's kernel keeps training and holding threads until this frees it
        f"--CappedKernelManager.closed_tab_grace={closed_tab_grace}",
        # drops a closing tab's messages: no traceback each, no runaway after a ping timeout
        "--Voila.kernel_websocket_connection_class=playground.kernels.ClosedTabConnection",
        *(preheat_flags(preheat) if preheat else []),
    ]


def preheat_flags(pool: int) -> list[str]:
    """Voilà keeps `pool` kernels that have run the notebook up to the page's URL: a tab that
    takes one skips the kernel's start and torch's import (benchmarks item 7 measures it). The app
    reads the URL's settings once the page has connected (`Playground.from_url`)."""
    return ["--VoilaConfiguration.preheat_kernel=True",
            f"--VoilaConfiguration.default_pool_size={pool}",
            f"--VoilaKernelManager.fill_delay={PREHEAT_FILL_DELAY}"]


def token_config(folder: Path, token: str) -> Path:
    """voila.json with the token, readable by this user only, in `folder` (a
    JUPYTER_CONFIG_PATH entry): a token on the command line shows in everyone's `ps`."""
    path = folder / "voila.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps({"Voila": {"token": token}}))
    return path


def offline_template(share: Path) -> dict[str, str]:
    """Voila's template "playground" under `share` (a JUPYTER_PATH entry): the lab template
    with Font Awesome from the fontawesome-free package on this machine, not from a CDN, and
    with this Bokeh's BokehJS as a script file. Returns what the kernels' environment needs
    with it: PAGE_HAS_BOKEHJS, so that they leave BokehJS out of the page's state."""
    import bokeh  # here: `playground --help` does not wait for Bokeh

    from playground.plots.widget import PAGE_HAS_BOKEHJS, bokehjs

    template = share / "voila" / "templates" / "playground"
    shutil.copytree(TEMPLATE, template)
    (template / "static").mkdir()
    # copied, not linked: Tornado's static handler refuses (403) a link out of its folder
    for part in ("css", "webfonts"):
        shutil.copytree(fontawesome_dir() / part, template / "static" / "fontawesome" / part)
    # the version in the name: a browser's cached copy of another Bokeh's is never used
    name = f"bokeh-{bokeh.__version__}.min.js"
    (template / "static" / name).write_text(bokehjs(), encoding="utf-8")
    page = template / "index.html.j2"
    page.write_text(page.read_text().replace("BOKEHJS_FILE", name))
    return {PAGE_HAS_BOKEHJS: bokeh.__version__}


def fontawesome_dir() -> Path:
    """The folder holding Font Awesome 5's css/ and webfonts/ (package fontawesome-free)."""
    for file in importlib.metadata.files("fontawesome-free") or ():
        if str(file).endswith("fontawesome_free/css/all.min.css"):
            return Path(file.locate()).resolve().parent.parent
    raise FileNotFoundError("fontawesome-free: its css/all.min.css is missing; reinstall "
                            "the playground (pip install -e .)")


def serve(port: int = 8866, ip: str = "127.0.0.1", open_browser: bool = True,
          token: str | None = None, threads: int | None = None, cull_after: int = 600,
          max_sessions: int = 0, closed_tab_grace: int = 30, preheat: int = 0) -> int:
    if not 0 < port < 65536:
        raise ValueError(f"port: {port} is not allowed; allowed: 1 to 65535")
    if max_sessions < 0:
        raise ValueError(f"max-sessions: {max_sessions} is not allowed; allowed: 0 (no cap) "
                         "or more")
    if closed_tab_grace < 0:
        raise ValueError(f"closed-tab-grace: {closed_tab_grace} is not allowed; allowed: 0 "
                         "(free on idle only) or more seconds")
    if preheat < 0 or (max_sessions and preheat >= max_sessions):
        most = f"0 to {max_sessions - 1} (waiting kernels count as sessions)" if max_sessions \
            else "0 (off) or more"
        raise ValueError(f"preheat: {preheat} is not allowed; allowed: {most}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads: {threads} is not allowed; allowed: 1 or more")
    if not NOTEBOOK.exists():
        raise ValueError(f"notebook: {NOTEBOOK} is missing; serve runs from a checkout of "
                         "the repository (pip install -e .)")
    threads = threads or max(1, (os.cpu_count() or 2) // 2)
    env = {**os.environ, "PLAYGROUND_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    # PLAYGROUND_TOKEN keeps the token off this command's line too; the kernels never see it
    token = token or env.pop(TOKEN_VARIABLE, None) or None
    env.pop(TOKEN_VARIABLE, None)
    url = f"http://{ip}:{port}/" + (f"?token={token}" if token else "")
    print(f"playground: serving on {url} (Ctrl-C stops)", flush=True)
    share = Path(tempfile.mkdtemp(prefix="playground-voila-"))
    try:
        env.update(offline_template(share))
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(share),
                                                            env.get("JUPYTER_PATH")]))
        if token:
            token_config(share, token)
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
                filter(None, [str(share), env.get("JUPYTER_CONFIG_PATH")]))
        command = voila_command(port, ip, open_browser, token, cull_after, max_sessions,
                                closed_tab_grace, preheat)
        return run_voila([*command, "--VoilaConfiguration.template=playground"], env)
    finally:
        shutil.rmtree(share, ignore_errors=True)


def run_voila(command: list[str], env: dict[str, str]) -> int:
    """Run Voilà until it exits. SIGTERM and SIGHUP (a `kill`, a closed terminal) are passed
    on to it, so it shuts down its kernels and frees the port, rather than living on as an
    orphan; Ctrl-C reaches it directly (one process group). Past STOP_GRACE it is killed."""
    process = subprocess.Popen(command, env=env)
    stopping = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(time.monotonic())
        process.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = process.wait(timeout=1.0)
                return 0 if stopping else code
            except subprocess.TimeoutExpired:  # told to stop and still going past the grace
                if stopping and time.monotonic() - stopping[0] > STOP_GRACE:
                    process.kill()
                    process.wait()
                    return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
