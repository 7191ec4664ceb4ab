"""One browser message per pump round: changes made inside `one_patch()` are held by the
widgets showing them and sent together when it ends.

jupyter_bokeh sends each document change as its own PATCH-DOC message, and building one walks
every model of the document (Bokeh's Serializer) and costs three comm sends. A pump round
makes about ten changes (a stream per line, a snapshot or two), so one message instead of ten
takes most of the pump's work, which competes with training for the GIL, off the kernel.
The hold is per thread: a UI handler's change on the kernel's thread is sent at once.

A round also holds `ROUND_LOCK`, which a widget takes to draw its document whole for a new
view (widget.py): the drawing then never carries a change whose patch is still held, which
the page would apply a second time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_held = threading.local()  # .flushes: the senders to call when this thread's round ends
ROUND_LOCK = threading.RLock()  # held for a whole round, its sends included


@contextmanager
def one_patch() -> Iterator[None]:
    """Hold the patches of this thread's changes; send them as one message per widget."""
    if getattr(_held, "flushes", None) is not None:  # nested: the outer round sends
        yield
        return
    with ROUND_LOCK:
        _held.flushes = {}
        try:
            yield
        finally:
            flushes, _held.flushes = _held.flushes, None
            for flush in flushes.values():
                flush()


def hold(owner: object, flush: Callable[[], None]) -> bool:
    """Called by a widget with a change to send: True if a round is open on this thread (the
    widget keeps the change, and `flush` is called once when the round ends)."""
    flushes = getattr(_held, "flushes", None)
    if flushes is None:
        return False
    flushes.setdefault(id(owner), flush)
    return True
