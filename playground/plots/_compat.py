"""Every place the plots reach into Bokeh's, BokehJS's, jupyter_bokeh's or ipywidgets' internals.

Each piece says what library behaviour it relies on and why we need it; the modules that use
them (widget.py, _graph.py, _numbers.py, curves.py) say what they do with it.
tests/test_library_contracts.py checks each behaviour relied on, so that an upgrade which
changes one fails a test instead of the page going quiet or slow. All were checked against
CHECKED_WITH; pyproject.toml bounds those libraries above, at their next minor release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from bokeh.model import Model
from bokeh.models import DataRange1d
from bokeh.protocol import Protocol
from bokeh.themes import built_in_themes
from ipywidgets import Widget
from jupyter_bokeh.widgets import BokehModel

CHECKED_WITH = {"bokeh": "3.9.2", "jupyter_bokeh": "4.1.0", "ipywidgets": "8.1.9"}

# --- jupyter_bokeh's widget --------------------------------------------------------------


class BokehWidget(BokehModel):
    """jupyter_bokeh's BokehModel with its private override points as named hooks.

    BokehModel has no public way to change what it sends or applies. It relies on, in
    jupyter_bokeh 4.1: `update_from_model` builds the page's bundle with the classmethod
    `_model_to_traits(model)`; every custom message from the page goes to
    `_sync_model(widget, content, buffers)` (registered with `on_msg` in `__init__`); every
    change of the document reaches `_document_patched(event)` (Bokeh's
    `Document.on_change_dispatch_to`), with `event.setter` the widget for a change that it
    applied from the page; and one PATCH-DOC goes out as the comm messages `send_patch` sends.
    """

    @classmethod
    def prepare_document(cls, document: Document) -> None:
        """Called before the page's bundle is built from `document`."""

    def browser_event(self, content: dict[str, Any], buffers: list[Any]) -> None:
        """A message from the page; by default applied to the document as BokehModel does."""
        super()._sync_model(self, content, buffers)

    def document_changed(self, event: DocumentPatchedEvent) -> None:
        """A change of the document not applied from the page; by default sent on its own."""
        super()._document_patched(event)

    def send_patch(self, events: list[DocumentPatchedEvent]) -> None:
        """One PATCH-DOC message with several events, sent as BokehModel sends one with one
        (header, metadata, content, then each buffer's reference and bytes): jupyter_bokeh
        can only send an event at a time, and a pump round makes about ten."""
        msg = Protocol().create("PATCH-DOC", events)
        self.send({"msg": "patch", "payload": msg.header_json})
        self.send({"msg": "patch", "payload": msg.metadata_json})
        self.send({"msg": "patch", "payload": msg.content_json})
        for buffer in msg.buffers:
            self.send({"msg": "patch", "payload": json.dumps(buffer.ref)})
            self.send({"msg": "patch"}, [buffer.to_bytes()])

    def close(self) -> None:
        """BokehModel's close, safe to call twice (a closed app's widgets are closed again
        when they are collected): jupyter_bokeh 4.1 raises KeyError on the second call."""
        try:
            super().close()
        except KeyError:  # the document's listener is gone already
            pass

    # The private methods of BokehModel, each turned into its hook above.
    @classmethod
    def _model_to_traits(cls, model: Any) -> Any:
        if model.document is None:
            Document().add_root(model)
        cls.prepare_document(model.document)
        return super()._model_to_traits(model)

    def _sync_model(self, model: BokehModel, content: dict[str, Any], buffers: list[Any]) -> None:
        self.browser_event(content, buffers)

    def _document_patched(self, event: DocumentPatchedEvent) -> None:
        if event.setter is self:  # applied from the page: it has the change already
            return
        self.document_changed(event)


# Run in the page once BokehJS is there (`Bokeh`), before any figure's view is made, and again
# at each figure's "document_ready" (a page where BokehJS came some other way): two BokehJS 3.9
# costs that made a page with 10 runs drawn spend 77% of its time in long tasks while a run
# streamed, 45% with the fixes (one profile each; benchmark 4's levers "style" and "legend"
# measured them first, and its lever "unfixed" measures the page without them).
# - Every paint set each renderer's `<style>` to the text it had (bokeh#15286). Each set made
#   the page's styles stale, and the next read of a colour (BokehJS reads CSS variables for
#   every tick label) recomputed the whole page's styles. The text is now set when it differs.
#   Relies on core/dom's InlineStyleSheet keeping its text in `el` and setting it in `_update`.
# - A legend redraws all its entries, new canvases each, when anything its items reference
#   changes, recursively: each stream into a line's rows (its data source, and the CDSView
#   that re-indexes them) redrew every entry of that figure's legend. The legend still
#   follows its items, their lines and glyphs (a dimmed run, a hidden one), not their rows.
#   (The fix is the page's: in JupyterLab, a legend of another Bokeh figure in the notebook
#   whose labels come from a data source's column would not follow new rows.)
#   Relies on LegendView watching its items with `on_transitive_change(property, fn,
#   {recursive, signal})`, whose `signal(model)` names the signal to connect for each model.
# The flag keeps a page from patching twice (a second view, the cell run again); a BokehJS
# that lacks what they rely on is left as it is.
BOKEHJS_FIXES_JS = """
if (window.Bokeh && Bokeh.require && !Bokeh.playground_fixes) try {
  Bokeh.playground_fixes = true;
  const sheet = Bokeh.require("core/dom").InlineStyleSheet.prototype, update = sheet._update;
  sheet._update = function (css) { if (this.el.textContent !== css) update.call(this, css); };
  const legend = Bokeh.require("models/annotations/legend").LegendView.prototype;
  const {DataSource} = Bokeh.require("models/sources/data_source");
  const {CDSView} = Bokeh.require("models/sources/cds_view");
  const {Signal0} = Bokeh.require("core/signaling");
  const never = new Signal0({}, "never");  // nothing emits it
  const watch = legend.on_transitive_change;
  legend.on_transitive_change = function (property, fn, options = {}) {
    const signal = options.signal ?? ((model) => model.change);
    const rows = (model) => model instanceof DataSource || model instanceof CDSView;
    return watch.call(this, property, fn,
                      {...options, signal: (model) => rows(model) ? never : signal(model)});
  };
} catch (error) {  // another BokehJS: left as it is, slower, rather than broken
  console.warn("playground: BokehJS left unfixed:", error);
}
"""


# Run in the page (as a "document_ready" callback; `cb_obj` is the BokehJS document): tell the
# kernel when a view is drawn for the first time in its element, then detach jupyter_bokeh's
# change listener, so that the page stops sending its changes to the kernel.
# Relies on BokehJS 3.9's Document keeping its listeners as the keys of the Map `_callbacks`
# and removing one with `remove_on_change`, and on jupyter_bokeh 4.1's listener being
# `e => this._change_event(e)`: found by its text. Should a release rename either, nothing
# is detached, the kernel still drops the echoes, and tests/test_browser.py fails.
# The report is a `MessageSentEvent` handed to that listener, which sends it as a jsevent
# (kind "MessageSent", msg_type VIEW_SHOWN). jupyter_bokeh's view draws the document of its
# widget's `render_bundle` when it is made and again when the bundle changes, always in the
# same element (the widget view's `el`, parent of the bundle's `div`, which has the attribute
# data-root-id and holds the root's element): a mark on that element tells
# a first drawing (a page reloaded, a new view of the output, the widget shown again) from a
# redrawing, which needs no report (the kernel sent that bundle; patches follow in order).
VIEW_SHOWN = "playground_view_shown"
DETACH_LISTENER_JS = """
const listener = [...cb_obj._callbacks.keys()].find(l => String(l).includes("_change_event"));
const root = Bokeh.index.roots.find(view => view.model.document === cb_obj);
const element = root && root.el.closest("[data-root-id]")?.parentElement;
if (listener && element && !element.dataset.pgShown) {
  element.dataset.pgShown = "1";
  const {MessageSentEvent} = Bokeh.require("document/events");
  listener(new MessageSentEvent(cb_obj, "VIEW_SHOWN", {}));
}
if (listener) cb_obj.remove_on_change(listener);
""".replace("VIEW_SHOWN", VIEW_SHOWN)


# Run in the page after DETACH_LISTENER_JS (so none of it goes back to the kernel): the
# figures follow JupyterLab's theme. `THEME` maps a BokehJS model type to the properties it
# takes in the dark theme (from one of Bokeh's built-in themes); a model is of a type when
# the type is on its class chain (`__name__` of each constructor: a Figure is a Plot). The
# light values are kept on the model, so that going back to the light theme restores them.
# Lab marks its theme on the body: data-jp-theme-light="false" in a dark theme (Voila too,
# with its dark theme). Models that patches add later (a new run's legend items) are themed
# when the document's model count changes. Relies on BokehJS 3.9's `_all_models`,
# `properties`, `setv` and `on_change`.
FOLLOW_PAGE_THEME_JS = """
const theme = THEME;
const kinds = (model) => {
  const names = [];
  for (let c = model.constructor; c && c.__name__; c = Object.getPrototypeOf(c)) {
    names.push(c.__name__);
  }
  return names;
};
const dark = () => document.body.dataset.jpThemeLight === "false";
const restyle = (all) => {
  for (const model of cb_obj._all_models.values()) {
    if (!all && model._pg_light !== undefined) continue;
    const light = model._pg_light ?? (model._pg_light = {});
    for (const kind of kinds(model)) {
      for (const [attr, value] of Object.entries(theme[kind] ?? {})) {
        if (!(attr in model.properties)) continue;
        if (!(attr in light)) light[attr] = model[attr];
        model.setv({[attr]: dark() ? value : light[attr]});
      }
    }
  }
};
restyle(true);
let count = cb_obj._all_models.size;
cb_obj.on_change(() => {
  if (cb_obj._all_models.size !== count) { count = cb_obj._all_models.size; restyle(false); }
});
new MutationObserver(() => restyle(true)).observe(
  document.body, {attributes: true, attributeFilter: ["data-jp-theme-light"]});
"""


def page_theme_js(theme: dict[str, dict[str, Any]]) -> str:
    """FOLLOW_PAGE_THEME_JS with its dark theme: `{type name: {property: value}}`."""
    return FOLLOW_PAGE_THEME_JS.replace("THEME", json.dumps(theme))


def theme_attrs(name: str) -> dict[str, dict[str, Any]]:
    """One of Bokeh's built-in themes ("dark_minimal"...) as `{type name: {property: value}}`.
    Relies on Bokeh 3.9's `Theme._json["attrs"]`, the theme as written."""
    return built_in_themes[name]._json["attrs"]


def synced_models(document: Document) -> set[Model]:
    """The models of `document` that a PATCH-DOC has carried to the page already.

    Relies on Bokeh 3.9's `DocumentModelManager.synced_references`: a model added to the
    document since the last PATCH-DOC is left out of it until `Protocol.create("PATCH-DOC")`
    serialises one that carries it (that message defines the model whole)."""
    return document.models.synced_references


# --- Bokeh's document: the walk over its models ------------------------------------------


def hold_walks(document: Document, note: Callable[[], None]) -> bool:
    """Make `document` call `note()` instead of walking its models again; False (and nothing
    changed) when they are held already (an outer block holds them).

    Relies on Bokeh 3.9's `Model.trigger`: a property change whose old or new value holds a
    model calls `document.models.invalidate()`, looked up on the instance, which walks every
    model from the roots (`recompute`) unless frozen; a change of plain values does not."""
    if "invalidate" in vars(document.models):
        return False
    document.models.invalidate = note  # type: ignore[method-assign]
    return True


def release_walks(document: Document) -> None:
    """Undo `hold_walks`: Bokeh's own `invalidate` again."""
    del document.models.invalidate


def walk(document: Document) -> None:
    """Walk `document`'s models now (unless Bokeh itself holds a `models.freeze()`)."""
    document.models.invalidate()


# --- Bokeh's serializer --------------------------------------------------------------------


def encode_as_list(kind: type[list[Any]]) -> None:
    """Make Bokeh's serializer write instances of `kind` (a list subclass whose values are
    valid JSON already) as a JSON list, whole, instead of checking value by value.

    Relies on Bokeh 3.9's `Serializer.register`: an encoder is looked up by the exact type of
    a value before the built-in ones, and what it returns goes into the message unchanged
    (BokehJS reads a plain JSON list of numbers as the column). A stream keeps the values it
    is given in its event until the PATCH-DOC is built. Registering a type twice raises."""
    Serializer.register(kind, lambda values, serializer: list(values))


# --- BokehJS's data ranges -----------------------------------------------------------------

PADDING_NUDGE = 1e-9  # far below what a plot can show, far above a float's rounding


def recompute_range_in_page(data_range: DataRange1d, padding: float) -> None:
    """Make the page recompute `data_range` now, its padding left at `padding` to the eye.

    BokehJS 3.9's DataRange1d recomputes itself when one of its settings changes (its
    `connect_signals` watches range_padding among others), not when its `renderers` list
    does: flip the padding between two values that look the same. Relies on Bokeh sending
    the change (the two values differ as floats, and in the message's JSON)."""
    data_range.range_padding = (padding + PADDING_NUDGE if data_range.range_padding == padding
                                else padding)


@contextmanager
def unsent(widget: Widget, name: str) -> Iterator[None]:
    """Changes of the synced trait `name` made inside go out with nothing of their own: for a
    value that goes out in the state being built. ipywidgets 8 holds the keys to send while
    `hold_sync` is held (`_states_to_send`) and sends them as one update as it ends."""
    with widget.hold_sync():
        yield
        widget._states_to_send.discard(name)
