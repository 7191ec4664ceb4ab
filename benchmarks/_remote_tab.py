"""A participant's tab as the server sees it, without a browser on the server's cores.

In a workshop each page renders on its participant's laptop; the server only answers it.
`open_remote_tab` asks the server for what a page of the app asks for, in the same order:
the page (Voilà takes a kernel for it), the page's scripts and style sheets, then on the
kernel's socket the kernel's info, every widget's state (the control comm's
`request_states`, as Voilà's widget manager does), and for each Bokeh figure the two
messages its view sends once drawn (`document_ready`, and the app's own "view shown", which
fills the figure grid). It returns once the kernel has answered the last of them.

Not sent: the figures' sizes (a view's `inner_width` and the like), which only change
properties. The messages were read from a real page's socket (Chromium, Voilà 0.5).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]+)"')
CONTROL_PROTOCOL = "1.0.0"  # ipywidgets 8's widget control comm
BOKEH_MODEL = "BokehModel"  # jupyter_bokeh's widget: one per figure
VIEW_SHOWN = "playground_view_shown"  # playground.plots._compat.VIEW_SHOWN


class _Assets(HTMLParser):
    """The URLs of a page's scripts and style sheets."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(found["src"] or "")
        elif tag == "link" and found.get("rel") == "stylesheet" and found.get("href"):
            self.urls.append(found["href"] or "")


def _message(msg_type: str, content: dict[str, Any], session: str,
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session,
              "username": "remote-tab", "date": "", "version": "5.3"}
    return {"header": header, "parent_header": {}, "metadata": metadata or {}, "content": content,
            "channel": "shell", "buffers": []}


def _shown(comm_id: str, msg_type: str, msg_data: dict[str, Any],
           session: str) -> dict[str, Any]:
    """A Bokeh view's message to its document in the kernel, as jupyter_bokeh sends it."""
    return _message("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": {
        "kind": "MessageSent", "msg_type": msg_type, "msg_data": msg_data,
        "event": "jsevent"}}}, session)


async def open_remote_tab(url: str, start: float, timeout: float = 300) -> float:
    """Seconds from `start` (a perf_counter) until the server has answered everything a page
    of the app at `url` asks for (see the module's text)."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    http = AsyncHTTPClient()
    page = await http.fetch(url, request_timeout=timeout)
    html = page.body.decode()
    found = KERNEL_ID.search(html)
    if found is None:
        raise RuntimeError(f"no kernel id in the page at {url}")
    assets = _Assets()
    assets.feed(html)
    cookies = "; ".join(value.split(";", 1)[0] for value in page.headers.get_list("Set-Cookie"))
    await asyncio.gather(*(http.fetch(urljoin(page.effective_url, asset),
                                      request_timeout=timeout) for asset in assets.urls))
    session = uuid.uuid4().hex
    socket_url = urljoin(page.effective_url.replace("http", "ws", 1),
                         f"/api/kernels/{found.group(1)}/channels?session_id={session}")
    socket = await websocket_connect(HTTPRequest(
        socket_url, connect_timeout=timeout, headers={"Cookie": cookies} if cookies else None))
    try:
        return await asyncio.wait_for(_talk(socket, session, start), timeout)
    finally:
        socket.close()


async def _talk(socket: Any, session: str, start: float) -> float:
    async def send(message: dict[str, Any]) -> str:
        await socket.write_message(json.dumps(message))
        return message["header"]["msg_id"]

    async def until(wanted: Any) -> dict[str, Any]:
        while True:
            text = await socket.read_message()
            if text is None:
                raise RuntimeError("the kernel's socket closed")
            message = json.loads(text)
            if wanted(message):
                return message

    def idle_after(msg_id: str) -> Any:
        return lambda m: (m["header"]["msg_type"] == "status"
                          and m["parent_header"].get("msg_id") == msg_id
                          and m["content"].get("execution_state") == "idle")

    await until(idle_after(await send(_message("kernel_info_request", {}, session))))
    control = uuid.uuid4().hex
    await send(_message("comm_open", {"comm_id": control, "target_name":
                                      "jupyter.widget.control", "data": {}}, session,
                        {"version": CONTROL_PROTOCOL}))
    await send(_message("comm_msg", {"comm_id": control,
                                     "data": {"method": "request_states"}}, session))
    reply = await until(lambda m: m["header"]["msg_type"] == "comm_msg"
                        and m["content"]["data"].get("method") == "update_states")
    await send(_message("comm_close", {"comm_id": control, "data": {}}, session))
    states = reply["content"]["data"]["states"]
    figures = [comm for comm, state in states.items() if state.get("model_name") == BOKEH_MODEL]
    if not figures:
        raise RuntimeError("the page's widget state holds no Bokeh figure")
    last = ""
    for comm in figures:
        await send(_shown(comm, "bokeh_event", {"type": "event", "name": "document_ready",
                                                "values": {"type": "map"}}, session))
        last = await send(_shown(comm, VIEW_SHOWN, {"type": "map"}, session))
    await until(idle_after(last))
    return time.perf_counter() - start
