"""Changes to the figures' model graphs, with Bokeh's bookkeeping walk done once at most.

A change that adds or removes a model (a new line, a legend entry) makes a Bokeh document
walk all its models again (`recompute`: 30 ms a figure here, growing with the runs drawn).
Bokeh's `models.freeze()` defers the walk to the end of a block, and then walks every frozen
document whether its graph changed or not. Adding a run whose glyphs were made ahead
(CurvePlot.prepare) changes only properties: no figure needs walking at all.
How the walk is held off is in _compat.py (Bokeh's `doc.models.invalidate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from bokeh.document import Document

from playground.plots._compat import hold_walks, release_walks, walk


@contextmanager
def one_walk(documents: Iterable[Document]) -> Iterator[None]:
    """Within the block, a document whose graph changes notes it instead of walking; at the
    end, each one that changed walks once. Nested blocks leave that to the outermost."""
    changed: set[Document] = set()
    ours = [doc for doc in set(documents)
            if hold_walks(doc, lambda doc=doc: changed.add(doc))]
    try:
        yield
    finally:
        for doc in ours:
            release_walks(doc)
            if doc in changed:
                walk(doc)
