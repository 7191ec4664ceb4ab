"""Serving a workshop: several tabs at once, each with its own kernel, a session cap, and
closed tabs giving their kernels back."""

import asyncio
import json
import os
import re
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from pages import LOSS_POINTS, wait_until

from playground.cli import build_parser
from playground.plots.widget import PAGE_HAS_BOKEHJS, bokehjs
from playground.serve import NOTEBOOK, offline_template, voila_command
from playground.store import RunStore


def test_serves_this_machine_only_unless_told_otherwise():
    args = build_parser().parse_args(["serve"])
    assert args.ip == "127.0.0.1" and args.max_sessions == 0
    command = voila_command(8866, args.ip, False, "secret", 600, 3, args.closed_tab_grace)
    assert "--Voila.ip=127.0.0.1" in command
    assert not any("secret" in part for part in command)  # `ps` shows a command line
    assert "--CappedKernelManager.max_kernels=3" in command
    assert "--CappedKernelManager.closed_tab_grace=30" in command
    assert "--VoilaExecutor.iopub_timeout=120" in command  # busy tabs keep their widget


def parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def kernels(server_pid: int) -> int:
    """ipykernel processes started under this server (other servers may run beside it)."""
    count = 0
    for entry in os.listdir("/proc"):
        try:
            if not entry.isdigit():
                continue
            if b"ipykernel_launcher" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            pid = int(entry)
            while pid > 1 and pid != server_pid:
                pid = parent(pid)
            count += pid == server_pid
        except (OSError, ValueError):
            pass
    return count


def test_the_template_serves_bokehjs_as_a_file_and_tells_the_kernels(tmp_path):
    import bokeh

    kernel_env = offline_template(tmp_path)
    assert kernel_env == {PAGE_HAS_BOKEHJS: bokeh.__version__}
    static = tmp_path / "voila" / "templates" / "playground" / "static"
    name = f"bokeh-{bokeh.__version__}.min.js"
    assert (static / name).read_text(encoding="utf-8") == bokehjs()
    page = (static.parent / "index.html.j2").read_text()
    url = f"{{{{ resources.base_url }}}}voila/templates/playground/static/{name}"
    assert f'<script defer src="{url}">' in page
    assert "BOKEHJS_FILE" not in page


@pytest.mark.browser
def test_four_tabs_train_at_once_each_in_its_own_kernel(server, browser):
    url = server()
    assert kernels(server.pid) == 0
    pages = [browser.new_page(viewport={"width": 1400, "height": 900}) for _ in range(4)]
    for page in pages:
        page.goto(url, timeout=120_000, wait_until="commit")
    for page in pages:
        page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    assert kernels(server.pid) == 4
    for page in pages:
        page.get_by_role("button", name="Start").click()
    for page in pages:  # every tab streams; none waits for another
        wait_until(lambda page=page: page.evaluate(LOSS_POINTS) > 5, timeout=60)
    runs = RunStore().list_runs()
    assert len(runs) == 4 and len({run.id for run in runs}) == 4


@pytest.mark.browser
def test_a_full_server_says_so(server, browser):
    url = server("--max-sessions", "1")
    first = browser.new_page()
    first.goto(url, timeout=120_000)
    first.get_by_role("button", name="Start").wait_for(timeout=120_000)
    second = browser.new_page()
    response = second.goto(url, timeout=120_000)
    assert response.status == 503
    assert "the playground is full: 1 sessions are open" in second.inner_text("body")


@pytest.mark.browser
def test_closed_tabs_give_their_kernels_back(server, browser):
    # One tab says goodbye as a browser does on closing (Voila's beacon); the other is closed
    # mid-run with no beacon, as a crashed or sleeping laptop would be.
    url = server("--closed-tab-grace", "10")  # 10: a page that is slow to connect keeps it
    pages = [browser.new_page() for _ in range(2)]
    for page in pages:
        page.goto(url, timeout=120_000, wait_until="commit")  # free play: until Stop
    for page in pages:
        page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    assert kernels(server.pid) == 2
    training, other = pages
    training.get_by_role("button", name="Start").click()
    wait_until(lambda: training.evaluate(LOSS_POINTS) > 5, timeout=60)
    other.evaluate("window.dispatchEvent(new Event('beforeunload'))")
    wait_until(lambda: kernels(server.pid) == 1, timeout=30)  # the beacon was honoured
    other.close()
    training.close(run_before_unload=True)
    wait_until(lambda: kernels(server.pid) == 0, timeout=60)
    [run] = RunStore().list_runs()
    wait_until(lambda: RunStore().get(run.id).status != "running", timeout=30)  # reaped
    run = RunStore().get(run.id)
    assert run.status == "interrupted" and run.steps > 0, (run.status, run.steps)
    assert RunStore().points(run.id)  # what it saved survives its kernel


def http_status(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    try:
        return urllib.request.urlopen(request, timeout=30).status
    except urllib.error.HTTPError as error:
        return error.code


def kernel_replies(ws_url: str, requests: list[tuple[str, dict]], last: str) -> list[str]:
    """Send shell requests over a kernel's websocket; the types of the replies, up to `last`.

    A kernel answers shell requests in order, so a reply to an earlier request comes first."""
    from tornado.websocket import websocket_connect

    async def talk() -> list[str]:
        ws = await websocket_connect(ws_url)
        for msg_type, content in requests:
            await ws.write_message(json.dumps({
                "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test",
                           "session": "test", "date": "", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}))
        replies, deadline = [], time.monotonic() + 60
        while last not in replies and time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(ws.read_message(), 0.5)
            except asyncio.TimeoutError:
                continue
            if isinstance(message, str) and json.loads(message)["channel"] == "shell":
                replies.append(json.loads(message)["header"]["msg_type"])
        ws.close()
        return replies

    return asyncio.run(talk())


@pytest.mark.slow
def test_the_page_offers_no_way_to_run_code(server, tmp_path):
    command = voila_command(8866, "127.0.0.1", False, None, 600)
    assert command[2:4] == ["voila", str(NOTEBOOK)]  # one notebook: no file tree, no editor
    assert "--VoilaConfiguration.show_tracebacks=False" in command
    url = server()
    page = urllib.request.urlopen(url, timeout=180).read().decode()  # renders the app
    kernel = re.search(r'"kernelId":\s*"([0-9a-f-]+)"', page).group(1)
    for path in ("api/kernels", "api/sessions", "api/contents", "api/terminals", "lab", "tree",
                 "voila/render/playground.ipynb", "api/kernelspecs"):
        for method in ("GET", "POST"):
            assert http_status(url + path, method) in (403, 404, 405), (method, path)
    # The page's own kernel answers widget traffic but refuses code, even from a hand-made
    # client that knows its id.
    proof = tmp_path / "ran"
    code = f"open({str(proof)!r}, 'w').write('code ran')"
    replies = kernel_replies(
        url.replace("http", "ws") + f"api/kernels/{kernel}/channels?session_id=test",
        [("execute_request", {"code": code, "silent": False, "store_history": False,
                              "user_expressions": {}, "allow_stdin": False}),
         ("kernel_info_request", {})], last="kernel_info_reply")
    assert replies == ["kernel_info_reply"] and not proof.exists()


@pytest.mark.browser
@pytest.mark.slow
def test_a_preheated_kernel_opens_the_link_of_the_page_that_takes_it(server, browser,
                                                                     tmp_path):
    url = server("--preheat", "1")
    # the pool's kernel runs the notebook before any page asks, and waits for one
    wait_until(lambda: kernels(server.pid) == 1, timeout=120)
    time.sleep(20)  # let it get as far as it goes (torch imported, waiting for a page)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(url + "?lesson=capacity&lr=0.3", timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=120_000)
    assert "Using pre-heated kernel" in (tmp_path / "serve.log").read_text()  # Voilà's word
    text = page.inner_text("body")
    assert "Two interleaved spirals" in text  # the link's lesson, read after the page came
    readout = page.locator(".widget-slider", has=page.locator(
        "label", has_text="learning rate")).first.locator(".widget-readout")
    assert readout.inner_text().strip() in ("0.3", "0.300")
    page.get_by_role("button", name="Start").click()
    wait_until(lambda: page.evaluate(LOSS_POINTS) > 5, timeout=60)
