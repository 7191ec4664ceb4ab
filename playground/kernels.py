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
"""

from __future__ import annotations

from jupyter_server.base.call_context import CallContext
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from tornado.ioloop import IOLoop
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
        set_xsrf_cookie()
        return await super().start_kernel(*args, **kwargs)

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


def set_xsrf_cookie() -> None:
    """Give the page whose request starts a kernel the cookie its close beacon must echo.

    Reading `xsrf_token` is what makes tornado set the cookie; it has to happen before Voilà
    sends the first bytes of the page, which is after the kernel starts.
    """
    handler = CallContext.get(CallContext.JUPYTER_HANDLER)
    if handler is not None and not handler._headers_written:
        handler.xsrf_token  # noqa: B018 - read for its side effect
