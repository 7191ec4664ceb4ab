"""Hardening the served app (issue 16): a tab that goes silent must not flood the log nor
wedge the server, and a page fetched without JavaScript must not hold a session."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import urllib.request

import pytest
from pages import LOSS_POINTS, wait_until
from test_serve import http_status, kernels

from playground.serve import voila_command


def test_serve_gives_voila_the_quiet_connection_class():
    command = voila_command(8866, "127.0.0.1", False, None, 600)
    assert ("--Voila.kernel_websocket_connection_class=playground.kernels.ClosedTabConnection"
            in command)


def silent_client(port: int, kernel: str) -> socket.socket:
    """A websocket to `kernel` that then neither reads nor answers a ping: a laptop that went
    to sleep, a page whose JavaScript froze."""
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall((
        f"GET /api/kernels/{kernel}/channels?session_id=silent HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: v1.kernel.websocket.jupyter.org\r\n\r\n").encode())
    assert client.recv(1000).startswith(b"HTTP/1.1 101")
    return client


@pytest.mark.browser
def test_a_silent_tab_is_dropped_with_one_line_and_the_server_stays_responsive(
        server, browser, tmp_path, monkeypatch):
    # The server's ping every second, not 30 s: the silent tab is dropped within seconds.
    config = tmp_path / "config"
    config.mkdir()
    (config / "voila.json").write_text(json.dumps({"Voila": {"tornado_settings": {
        "ws_ping_interval": 1000, "ws_ping_timeout": 2000}}}))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))
    url = server()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    page = browser.new_page()
    page.goto(url + "?epochs=1000", timeout=120_000)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    kernel = re.search(r'"kernelId":\s*"([0-9a-f-]+)"', page.content()).group(1)
    page.get_by_role("button", name="Start").click()
    wait_until(lambda: page.evaluate(LOSS_POINTS) > 5, timeout=60)
    log = tmp_path / "serve.log"
    with silent_client(port, kernel):
        wait_until(lambda: "ping timeout" in log.read_text(errors="replace"), timeout=30)
        time.sleep(8)  # past tornado's 5 s wait for the silent side to close
        # Before: the closed connection re-encoded binary messages that Voila then parsed
        # forever; the server never answered again.
        started = time.monotonic()
        assert http_status(url + "api/kernels") in (403, 404)
        assert time.monotonic() - started < 10
        seen = page.evaluate(LOSS_POINTS)
        wait_until(lambda: page.evaluate(LOSS_POINTS) > seen, timeout=30)  # the tab goes on
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "WebSocketClosedError" not in text, text[-3000:]
    about = [line for line in text.splitlines() if "connection closed" in line
             or line.strip() == "[Voila] WARNING |"]
    assert len(about) <= 2, about


@pytest.mark.browser
@pytest.mark.slow
def test_pages_fetched_without_javascript_free_their_sessions_within_the_grace(server,
                                                                               browser):
    url = server("--max-sessions", "2", "--closed-tab-grace", "5")
    for _ in range(2):  # curl: the notebook runs in a kernel, no page ever connects
        assert urllib.request.urlopen(url, timeout=180).status == 200
    assert kernels(server.pid) == 2
    started = time.monotonic()
    page = browser.new_page()
    while page.goto(url, timeout=120_000).status == 503:  # full, for the grace
        assert time.monotonic() - started < 5 + 30, "the plain GETs still hold the sessions"
        time.sleep(1)
    page.get_by_role("button", name="Start").wait_for(timeout=180_000)
    assert kernels(server.pid) == 1
