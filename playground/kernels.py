"""The kernel manager `playground serve` gives Voilà: one kernel per tab, with a cap.

A workshop server has a fixed number of cores; past the cap a new tab gets a clear "full"
answer instead of slowing every open tab down. A closed tab must give its kernel (and the
training threads in it) back, so two ways free it:

- Voilà's page sends a shutdown beacon when it unloads. The server refuses that POST unless
  the page carries an `_xsrf` cookie, and Voilà streams its page before anything sets one,
  so every beacon was refused (403). Starting a tab's kernel now sets the cookie.
- A browser that crashes, sleeps or drops its network sends no beacon, and a training kernel
  is never idle, so idle culling never frees it. A kernel whose page had connected and now
  has no connection for `closed_tab_grace` seconds is shut down, mid-run or not. Its run
  shows as interrupted in the store, and the points it saved are kept.
- A page fetched without JavaScript (curl, a link preview) starts a kernel that never
  connects; it is shut down `closed_tab_grace` seconds after its notebook went quiet.

A tab that stops answering (a sleeping laptop, a frozen page) is dropped by the server's
ping; the kernel's messages to it until then are dropped quietly (ClosedTabConnection).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from jupyter_server.base.call_context import CallContext
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketClosedError
from traitlets import Dict, Integer


class CappedKernelManager(AsyncMappingKernelManager):
    max_kernels = Integer(0, config=True, help="Most kernels (browser tabs) at once; 0: no cap")
    closed_tab_grace = Integer(30, config=True, help="Seconds a kernel whose tab closed or "
                               "lost its connection is kept for a reconnect; 0: kept until "
                               "idle culling")
    _tab_changes = Dict()  # kernel id -> count of its connects and last disconnects

    async def start_kernel(self, *args, **kwargs):  # type: ignore[override]
        if self.max_kernels and len(self.list_kernel_ids()) >= self.max_kernels:
            full = (f"the playground is full: {self.max_kernels} sessions are open; try again "
                    "when someone closes a tab")
            raise web.HTTPError(503, full, reason=full)  # the reason is what the page shows
        page_asked = set_xsrf_cookie()
        quiet_closed_sockets()
        kernel_id = await super().start_kernel(*args, **kwargs)
        # a kernel preheated for the pool waits for a page: only one a page asked for and
        # never connected to is freed; idle culling frees a pooled one handed to a curl
        if self.closed_tab_grace > 0 and page_asked:
            IOLoop.current().call_later(self.closed_tab_grace, self._free_if_never_connected,
                                        kernel_id)
        return kernel_id

    async def _free_if_never_connected(self, kernel_id: str) -> None:
        # A page with no JavaScript never connects: free its kernel once it has been quiet
        # (its notebook executed) for the grace. Any connect, even a closed one, ends this.
        if kernel_id not in self or kernel_id in self._tab_changes:
            return
        quiet = (datetime.now(timezone.utc) - self.get_kernel(kernel_id).last_activity)
        if quiet.total_seconds() < self.closed_tab_grace:
            IOLoop.current().call_later(self.closed_tab_grace - quiet.total_seconds() + 0.5,
                                        self._free_if_never_connected, kernel_id)
            return
        self.log.info("Shutting down kernel %s: no page connected to it within %s s",
                      kernel_id, self.closed_tab_grace)
        await self.shutdown_kernel(kernel_id)

    def notify_connect(self, kernel_id: str) -> None:
        super().notify_connect(kernel_id)
        self._tab_changes[kernel_id] = self._tab_changes.get(kernel_id, 0) + 1

    def notify_disconnect(self, kernel_id: str) -> None:
        super().notify_disconnect(kernel_id)
        if self.closed_tab_grace > 0 and self._kernel_connections.get(kernel_id) == 0:
            change = self._tab_changes[kernel_id] = self._tab_changes.get(kernel_id, 0) + 1
            IOLoop.current().call_later(self.closed_tab_grace, self._free_if_closed, kernel_id,
                                        change)

    async def _free_if_closed(self, kernel_id: str, change: int) -> None:
        # A tab that reconnected (and maybe dropped again) since then is judged by a later call.
        if self._tab_changes.get(kernel_id) != change:
            return
        del self._tab_changes[kernel_id]
        if kernel_id in self:
            self.log.info("Shutting down kernel %s: its tab closed %s s ago", kernel_id,
                          self.closed_tab_grace)
            await self.shutdown_kernel(kernel_id)


def set_xsrf_cookie() -> bool:
    """Give the page whose request starts a kernel the cookie its close beacon must echo;
    False when no page asked for the kernel (Voilà filling its preheated pool).

    Reading `xsrf_token` is what makes tornado set the cookie; it has to happen before Voilà
    sends the first bytes of the page, which is after the kernel starts. A pooled kernel
    starts before its page, so that page has no cookie: its beacon is refused, and its kernel
    is freed `closed_tab_grace` seconds after the tab's connection drops instead.
    """
    handler = CallContext.get(CallContext.JUPYTER_HANDLER)
    if handler is not None and not handler._headers_written:
        handler.xsrf_token  # noqa: B018 - read for its side effect
    return handler is not None


NO_PROTOCOL = object()


class ClosedTabConnection(ZMQChannelsWebsocketConnection):
    """A tab's websocket to its kernel that drops the kernel's messages once it is closing.

    Between a tab's socket closing and the server noticing, every message the kernel sent
    raised WebSocketClosedError: a traceback each (thousands a minute from a training tab).
    Worse, after the server's ping closed a silent tab, the connection forgot its protocol
    and re-encoded binary messages in the legacy format, which Voila's handler then parsed
    as the new one: a garbage count of parts, a loop that never ended, the server at 100%
    CPU and gigabytes of memory.
    """

    _protocol = NO_PROTOCOL
    _said_closed = False

    @property
    def subprotocol(self):  # type: ignore[override]
        if self._protocol is NO_PROTOCOL:  # chosen at the handshake; unreadable once closed
            self._protocol = super().subprotocol
        return self._protocol

    def handle_outgoing_message(self, stream, outgoing_msg) -> None:  # type: ignore[override]
        socket = self.websocket_handler.ws_connection
        if socket is None or socket.is_closing():
            if not self._said_closed:
                self._said_closed = True
                self.log.info("Kernel %s: its tab's connection closed; its messages to that "
                              "tab are dropped", self.kernel_id)
            return
        super().handle_outgoing_message(stream, outgoing_msg)


class OnceClosedSocket(logging.Filter):
    """Let one WebSocketClosedError through, as a line without its traceback; drop the rest.

    Writes that were pending when a tab's socket closed fail together, each logged by asyncio
    as "Task exception was never retrieved" with a traceback."""

    said = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, WebSocketClosedError):
            return True
        if OnceClosedSocket.said:
            return False
        OnceClosedSocket.said = True
        record.msg, record.args = ("a tab's connection closed while its kernel was sending "
                                   "(expected; said once)"), ()
        record.exc_info = record.exc_text = None
        return True


def quiet_closed_sockets() -> None:
    """Install OnceClosedSocket on the loggers that report failed websocket writes."""
    for name in ("asyncio", "tornado.general", "tornado.application"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OnceClosedSocket) for f in logger.filters):
            logger.addFilter(OnceClosedSocket())
