"""The figures as one ipywidget: jupyter_bokeh's BokehModel, minus the echo of our own changes.

jupyter_bokeh 4.1's browser side sends every patch it applies back to the kernel (events
raised while a patch is applied are queued and sent afterwards), and the kernel applies them
a second time. Each `stream(...)` of the pump comes back and streams the same rows into the
Python data source again; echoes that no longer fit (a source that was replaced, a glyph
property sent back as a `value(...)`) raise, and ipywidgets formats every such traceback
with pygments. While a run trains that is tens of messages a second, more than a busy 2-core
kernel handles: the clicks queue up behind them (Stop took a minute to act in Voilà).

So: streams and patches from the browser are dropped before they are decoded (the browser
never streams or patches columns itself in this app), and an event that cannot be applied
is logged and skipped instead of raising.

The other way, changes made inside `one_patch()` (each pump round) go out as one PATCH-DOC
message instead of one per change (see _batch.py).
"""

from __future__ import annotations

import logging
from typing import Any

from bokeh.document.events import DocumentPatchedEvent
from jupyter_bokeh.widgets import BokehModel

from playground.plots import _batch

log = logging.getLogger(__name__)
ECHOED_KINDS = ("ColumnsStreamed", "ColumnsPatched")


class FiguresWidget(BokehModel):
    """BokehModel that ignores column streams and patches coming back from the browser."""

    def _sync_model(self, model: BokehModel, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("event") != "jsevent" or content.get("kind") in ECHOED_KINDS:
            return
        try:
            super()._sync_model(model, content, buffers)
        except Exception as error:  # an echo that no longer fits the document
            log.debug("browser event %s not applied: %s", content.get("kind"), error)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held_events: list[DocumentPatchedEvent] = []  # during a one_patch() round
        super().__init__(*args, **kwargs)

    def _document_patched(self, event: DocumentPatchedEvent) -> None:
        if event.setter is self:
            return
        if _batch.hold(self, self._send_held):
            self._held_events.append(event)
            return
        super()._document_patched(event)

    def _send_held(self) -> None:
        """The events held during a round, as one message (the base class sends one)."""
        events, self._held_events = self._held_events, []
        if len(events) == 1:
            super()._document_patched(events[0])
        elif events:
            self._send_patch(events)

    def _send_patch(self, events: list[DocumentPatchedEvent]) -> None:
        """What BokehModel._document_patched sends, for several events at once."""
        import json

        from bokeh.protocol import Protocol

        msg = Protocol().create("PATCH-DOC", events)
        self.send({"msg": "patch", "payload": msg.header_json})
        self.send({"msg": "patch", "payload": msg.metadata_json})
        self.send({"msg": "patch", "payload": msg.content_json})
        for buffer in msg.buffers:
            self.send({"msg": "patch", "payload": json.dumps(buffer.ref)})
            self.send({"msg": "patch"}, [buffer.to_bytes()])
