"""Figures as ipywidgets: jupyter_bokeh's BokehModel, minus the echo of our own changes.

jupyter_bokeh 4.1's browser side sends every patch it applies back to the kernel (events
raised while a patch is applied are queued and sent afterwards), and the kernel applies them
a second time. Each `stream(...)` of the pump comes back and streams the same rows into the
Python data source again; echoes that no longer fit (a source that was replaced, a glyph
property sent back as a `value(...)`) raise, and ipywidgets formats every such traceback
with pygments. While a run trains that is tens of messages a second, more than a busy 2-core
kernel handles: the clicks queue up behind them (Stop took a minute to act in Voilà).

So the widget draws one way. In the page, a script that runs once the figures are drawn
detaches jupyter_bokeh's listener: the app reads no Bokeh state back from the browser, and
the echoes (every stream's rows, every auto-range change: about a hundred messages a second
while a run trains) cost the browser, the Voilà server and the kernel's thread CPU for
nothing. In the kernel, streams and patches that still come back (sent before the script
ran) are dropped before they are decoded, and an event that cannot be applied is logged and
skipped instead of raising.

The other way, changes made inside `one_patch()` (each pump round) go out as one PATCH-DOC
message instead of one per change (see _batch.py), and a property set several times in a
round goes out once, with its last value: BokehJS lays the whole figure out again for each
change of a plot's renderers, so adding a run's three glyphs costs one layout, not three.
Every view draws the current document. jupyter_bokeh's view draws the document of the
widget's `render_bundle`, which BokehModel builds once, and then applies the patches that
arrive while it is shown. A view made later (the page reloaded with the kernel running, "Create
New View for Cell Output", the widget displayed again) drew that first document, without the
runs' lines made since, and every later patch naming them failed: the plots stayed empty. So
the page script reports a view's first drawing, and a page that attaches asks for the widget's
whole state; then, if patches went out since the bundle was built, the widget builds it again
from the current document (between pump rounds) and sends it: every view of the widget draws
it anew, and the patches that follow apply to it. (After a reload in JupyterLab some reports
did not reach the kernel; the state request always does.)
What this reaches of jupyter_bokeh's and BokehJS's internals is in _compat.py.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import bokeh
import ipywidgets as widgets
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsPatchedEvent,
    ColumnsStreamedEvent,
    DocumentPatchedEvent,
    ModelChangedEvent,
)
from bokeh.models import CustomJS, LayoutDOM
from bokeh.resources import Resources

from playground.plots import _batch
from playground.plots._compat import (
    BOKEHJS_FIXES_JS,
    DETACH_LISTENER_JS,
    VIEW_SHOWN,
    BokehWidget,
    page_theme_js,
    synced_models,
    theme_attrs,
    unsent,
)

log = logging.getLogger(__name__)
ECHOED_KINDS = ("ColumnsStreamed", "ColumnsPatched")
DARK_ALPHAS = ("grid_line_alpha", "outline_line_alpha", "background_fill_alpha")
CHANGES_OF_A_MODEL = (ModelChangedEvent, ColumnDataChangedEvent, ColumnsStreamedEvent,
                      ColumnsPatchedEvent)
# The figures' colours in a dark page: those of Bokeh's "dark_minimal" theme (its fonts and
# sizes are left out: the figures keep theirs, sized for a projector).
DARK_THEME = {kind: {attr: value for attr, value in attrs.items()
                     if attr.endswith("_color") or attr in DARK_ALPHAS}
              for kind, attrs in theme_attrs("dark_minimal").items()}
# Run in the page once a FiguresWidget's figures are drawn: fix BokehJS (if the loader did
# not), report, draw one way, follow the page's theme.
# Set by `playground serve` to the Bokeh version whose BokehJS its page loads (a script file)
PAGE_HAS_BOKEHJS = "PLAYGROUND_PAGE_HAS_BOKEHJS"
ONE_WAY_JS = BOKEHJS_FIXES_JS + DETACH_LISTENER_JS + page_theme_js(DARK_THEME)


class FiguresWidget(BokehWidget):
    """BokehModel that draws one way, kernel to browser.

    In the browser a small script detaches jupyter_bokeh's change listener once the figures
    are drawn; in the kernel, column streams and patches that still come back are dropped.
    """

    @classmethod
    def prepare_document(cls, document: Document) -> None:
        callbacks = document.callbacks.js_event_callbacks
        if not any(getattr(c, "code", None) == ONE_WAY_JS
                   for c in callbacks.get("document_ready", [])):
            document.js_on_event("document_ready", CustomJS(code=ONE_WAY_JS))

    def browser_event(self, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("event") != "jsevent" or content.get("kind") in ECHOED_KINDS:
            return
        if content.get("kind") == "MessageSent" and content.get("msg_type") == VIEW_SHOWN:
            self.view_shown()
            return
        try:
            super().browser_event(content, buffers)
        except Exception as error:  # an echo that no longer fits the document
            log.debug("browser event %s not applied: %s", content.get("kind"), error)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held_events: list[DocumentPatchedEvent] = []  # during a one_patch() round
        self.patches_sent = 0  # comm messages of patches, ever
        self._bundle_at = 0  # patches_sent when render_bundle was built
        self.bundles_built = 0
        self.views_reported = 0  # first drawings reported by the page
        self.on_view_shown: list[Callable[[], None]] = []  # called at each report
        super().__init__(*args, **kwargs)

    def update_from_model(self, model: Any) -> None:
        with _batch.ROUND_LOCK:
            self._bundle_at = self.patches_sent  # first: setting the bundle reads the state
            self.bundles_built += 1
            super().update_from_model(model)

    def send(self, content: Any, buffers: Any = None) -> None:
        if isinstance(content, dict) and content.get("msg") == "patch":
            self.patches_sent += 1
        super().send(content, buffers)

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        if key is None:  # the whole state: a page attaches (reloaded, or opened anew)
            # The bundle goes out in this state. Sent first on its own, as an answer to the
            # page's request, it was taken for the whole state: with no model class in it, the
            # page made the figure's widget an error widget ("No version of module undefined").
            with unsent(self, "render_bundle"):
                self.refresh()
        return super().get_state(key=key, drop_defaults=drop_defaults)

    def view_shown(self) -> None:
        """A view drew `render_bundle` for the first time (reported by the page)."""
        self.views_reported += 1
        self.refresh()
        for callback in self.on_view_shown:
            callback()

    def refresh(self) -> None:
        """If patches went out since `render_bundle` was built, a view drawing it lacks them:
        build it again from the document (every view of the widget draws it anew)."""
        with _batch.ROUND_LOCK:  # not in the middle of a round: its patches are sent after
            if self.patches_sent != self._bundle_at and self._model.document is not None:
                self.update_from_model(self._model)

    def document_changed(self, event: DocumentPatchedEvent) -> None:
        if _batch.hold(self, self._send_held):
            self._held_events.append(event)
            return
        super().document_changed(event)

    def _send_held(self) -> None:
        """The events held during a round, as one message (the base class sends one)."""
        events, self._held_events = last_values(self._held_events), []
        events = only_events_on_known_models(events)
        if len(events) == 1:
            super().document_changed(events[0])
        elif events:
            self.send_patch(events)


def last_values(events: list[DocumentPatchedEvent]) -> list[DocumentPatchedEvent]:
    """`events` without the property changes that a later change of the same property makes
    moot. A ModelChangedEvent carries the whole new value, so the last one alone gives the
    same end state; streams and column changes depend on order and all stay, in order."""
    last = {(event.model.id, event.attr): index for index, event in enumerate(events)
            if isinstance(event, ModelChangedEvent)}
    # A column source's data replaced in the round goes out whole, as it is when the patch is
    # built: rows streamed into it in the round are in it already. Sent again as streams they
    # drew the line twice (back to its start: a zig-zag when the shown run changed mid-round).
    replaced = {model_id for model_id, attr in last if attr == "data"} | {
        event.model.id for event in events if isinstance(event, ColumnDataChangedEvent)}
    return [event for index, event in enumerate(events)
            if (isinstance(event, ModelChangedEvent)
                and last[(event.model.id, event.attr)] == index)
            or (not isinstance(event, ModelChangedEvent)
                and not (isinstance(event, (ColumnsStreamedEvent, ColumnsPatchedEvent))
                         and event.model.id in replaced))]


def only_events_on_known_models(events: list[DocumentPatchedEvent]) -> list[DocumentPatchedEvent]:
    """`events` without those on models the browser has not seen yet: a patch carries a new
    model whole, in its state when the patch is built, at the first place that refers to it.
    A change to it (a new line dimmed, rows streamed into its source) would arrive twice, and
    would break the patch when it comes before that place: BokehJS cannot resolve the id,
    drops the whole message, and every later patch naming the model fails too. That froze the
    plots after a race, whose members' lines are made and dimmed in one round and whose
    `renderers` change `last_values` moves to the end."""
    if all(isinstance(event, ColumnsStreamedEvent) for event in events):
        return events  # a plain streaming round: nothing new (skips the scan below)
    synced = synced_models(events[0].document)
    return [event for event in events
            if not isinstance(event, CHANGES_OF_A_MODEL) or event.model in synced]


def bokehjs_loader() -> widgets.Output:
    """A widget that loads BokehJS into the page, once, from the kernel: put it before any
    figure in the layout (BokehJS must be there when jupyter_bokeh makes a figure's view).

    BokehJS (1.3 MB, its core only: the plots use no Bokeh widget, table, WebGL or maths) comes
    inline, so the page needs no CDN (Voila offline, a workshop room). It travels in a widget's
    state rather than as a cell output: `output_notebook(INLINE)` stored all of BokehJS, twice,
    in the saved notebook (8 MB once run), while widget state is saved only if asked for, and
    a page that draws the app gets the widgets, this one first, from the kernel (JupyterLab's
    jupyter_bokeh extension renders Bokeh but does not bring BokehJS). A page that has BokehJS
    of this version already (a second view, the cell run again) does not run it again, so
    `Bokeh.documents` holds every figure of the page. Then BokehJS is fixed (BOKEHJS_FIXES_JS)
    before any figure's view is made.

    `playground serve` puts BokehJS in its page (a script file of Voilà's template) and says
    so in PAGE_HAS_BOKEHJS: then this widget brings only the fixes. The page state shrinks
    from 1.9 MB to 0.6 MB, and the browser compiles BokehJS while the page loads instead of
    on the page's main thread once the widgets arrive."""
    script = BOKEHJS_FIXES_JS
    if not page_has_bokehjs():
        code = json.dumps(bokehjs()).replace("</", "<\\/")  # no "</script>" ends the tag
        script = (f'if (!(window.Bokeh && window.Bokeh.version === "{bokeh.__version__}")) {{\n'
                  '  const script = document.createElement("script");\n'  # runs on insertion
                  f"  script.textContent = {code};\n"
                  "  document.head.appendChild(script);\n}\n") + script
    loader = widgets.Output(layout=widgets.Layout(height="0px", overflow="hidden"))
    loader.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"text/html": f"<script>{script}</script>",
                                "text/plain": "BokehJS"}},)
    return loader


def bokehjs() -> str:
    """BokehJS's core (bokeh.min.js) of the installed Bokeh, as text."""
    return Resources(mode="inline", components=["bokeh"]).js_raw[0]


def page_has_bokehjs() -> bool:
    """True in a kernel whose page loads this Bokeh's BokehJS itself (`playground serve`)."""
    return os.environ.get(PAGE_HAS_BOKEHJS) == bokeh.__version__


MIN_FIGURE_PX = 400  # narrowest a figure gets when two share a row
FIRST_ROW = ("loss", "accuracy")  # the figures a page draws first (see FigureGrid)
REST_AFTER_S = 5.0
# Two columns of at least half the width less the gap (never three), each at least
# MIN_FIGURE_PX; below that the grid's auto-fill makes one.
GRID_COLUMNS = f"repeat(auto-fill, minmax(max({MIN_FIGURE_PX}px, calc(50% - 1px)), 1fr))"


class FigureGrid:
    """Figures two to a row, each in a FiguresWidget of its own; one to a row where two would
    be narrower than MIN_FIGURE_PX (JupyterLab's default width with the file browser open
    left 237 px a figure: titles and legends were cut off).

    BokehJS lays out a whole embedded root again, reading the CSS of every text it draws,
    whenever one plot in it changes size (a new line or legend entry, a wider tick label).
    With every figure in one root a run's first Start cost two such passes over all of them,
    about 1 s each in Chromium on this 2-core machine; one root per figure keeps that work to
    the figure that changed.

    A page draws the FIRST_ROW first and the other figures once it reports one of those
    drawn (or REST_AFTER_S after the app is displayed, should no report come): each figure
    took the page about 0.15 s to build, and the page was usable 3.6 s after a preheated
    kernel took it with all of them, 3.0 s with the first row alone.
    """

    def __init__(self, figures: Mapping[str, LayoutDOM]) -> None:
        self.figures = dict(figures)
        self.views = {name: FiguresWidget(figure, layout=widgets.Layout(min_width="0"))
                      for name, figure in figures.items()}
        first = [self.views[name] for name in FIRST_ROW if name in self.views]
        self.widget = widgets.GridBox(first or list(self.views.values()), layout=widgets.Layout(
            width="100%", grid_template_columns=GRID_COLUMNS))
        self._lock = threading.Lock()
        for view in first:
            view.on_view_shown.append(self.draw_the_rest)

    def show(self, name: str, shown: bool) -> None:
        """Show or hide one figure and the room it takes."""
        self.views[name].layout.display = None if shown else "none"
        self.figures[name].visible = shown

    def draw_the_rest(self) -> None:
        """Put every figure in the grid (the first row is there from the start).

        Called again once the grid is full (a page reports a first-row figure drawn), it
        sends the grid's children once more. A page that is still making its widgets drops
        a change to one it has not made yet: filled by the timer while a cold page loaded
        (12 s on this machine), the grid stayed at the first row for good in one page of
        three."""
        with self._lock:  # (a closed app's grid has no comm: nothing to fill)
            if self.widget.comm is None:
                return
            if len(self.widget.children) < len(self.views):
                self.widget.children = tuple(self.views.values())
            else:
                self.widget.send_state("children")

    def draw_the_rest_after(self, seconds: float = REST_AFTER_S) -> None:
        """Should the page's report not come (it can be lost in JupyterLab), the grid fills
        anyway: `seconds` after now."""
        timer = threading.Timer(seconds, self.draw_the_rest)
        timer.daemon = True
        timer.start()
