"""The kernel manager `playground serve` gives Voilà: one kernel per tab, with a cap.

A workshop server has a fixed number of cores; past the cap a new tab gets a clear "full"
answer instead of slowing every open tab down.
"""

from __future__ import annotations

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer


class CappedKernelManager(AsyncMappingKernelManager):
    max_kernels = Integer(0, config=True, help="Most kernels (browser tabs) at once; 0: no cap")

    async def start_kernel(self, *args, **kwargs):  # type: ignore[override]
        if self.max_kernels and len(self.list_kernel_ids()) >= self.max_kernels:
            full = (f"the playground is full: {self.max_kernels} sessions are open; try again "
                    "when someone closes a tab")
            raise web.HTTPError(503, full, reason=full)  # the reason is what the page shows
        return await super().start_kernel(*args, **kwargs)
