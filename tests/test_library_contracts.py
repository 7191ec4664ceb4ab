"""What the plots rely on inside Bokeh, BokehJS, jupyter_bokeh and ipywidgets: a test per
reliance.

playground/plots/_compat.py holds every place the plots reach into those libraries' internals,
each with the behaviour it relies on. These tests check that behaviour in the libraries
themselves (BokehJS's and jupyter_bokeh's page code as shipped in their Python packages), so
an upgrade that changes it fails here instead of the page going quiet or slow.
pyproject.toml bounds those libraries above to the versions these ran against.
"""

import inspect
import json
import re
from importlib.metadata import version
from pathlib import Path

import jupyter_bokeh
import numpy as np
import pytest
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsPatchedEvent,
    ColumnsStreamedEvent,
    ModelChangedEvent,
)
from bokeh.models import ColumnDataSource, CustomJS, DataRange1d
from bokeh.plotting import figure
from bokeh.protocol import Protocol
from bokeh.resources import INLINE
from ipywidgets import HTML
from jupyter_bokeh.widgets import BokehModel

from playground.plots._compat import (
    BOKEHJS_FIXES_JS,
    CHECKED_WITH,
    DETACH_LISTENER_JS,
    PADDING_NUDGE,
    BokehWidget,
    hold_walks,
    recompute_range_in_page,
    release_walks,
    synced_models,
    unsent,
    walk,
)
from playground.plots._graph import one_walk
from playground.plots._numbers import Numbers
from playground.plots.widget import ECHOED_KINDS

BOKEHJS = "".join(INLINE.js_raw)  # what the app's page runs (output_notebook(INLINE))
JUPYTER_BOKEH_JS = {path.name: path.read_text(encoding="utf-8") for path in [
    Path(jupyter_bokeh.__file__).parent / "nbextension" / "index.js",
    *(Path(jupyter_bokeh.__file__).parent / "labextension" / "static").glob("*.js")]}


def test_the_installed_libraries_are_the_ones_checked():
    """A version outside pyproject's bounds got installed: run these tests, then move the
    bounds and _compat.CHECKED_WITH together."""
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    for name, checked in CHECKED_WITH.items():
        major, minor = checked.split(".")[:2]
        assert version(name).split(".")[:2] == [major, minor], name
        (upper,) = re.findall(rf'"{name}>=[\d.]+,<([\d.]+)"', pyproject)
        assert upper == f"{major}.{int(minor) + 1}", name  # up to the next minor release


# --- BokehWidget: jupyter_bokeh's private override points --------------------------------

def test_bokehmodel_still_has_the_methods_bokeh_widget_overrides():
    for name, params in (("_model_to_traits", ["model"]),
                         ("_sync_model", ["self", "_model", "content", "_buffers"]),
                         ("_document_patched", ["self", "event"])):
        method = getattr(BokehModel, name)
        assert list(inspect.signature(method).parameters) == params, name
    assert isinstance(inspect.getattr_static(BokehModel, "_model_to_traits"), classmethod)


def test_the_page_bundle_is_built_by_model_to_traits_from_the_document_as_it_is_then():
    """BokehWidget.prepare_document (the page script of FiguresWidget) runs there."""
    seen = []

    class Recording(BokehModel):
        @classmethod
        def _model_to_traits(cls, model):
            seen.append(model)
            model.document.js_on_event("document_ready", CustomJS(code="/* ready */"))
            return super()._model_to_traits(model)

    fig = figure()
    Document().add_root(fig)
    widget = Recording(fig)
    assert seen == [fig]
    (doc_json,) = widget.render_bundle["docs_json"].values()
    (callback,) = doc_json["callbacks"]["entries"][0][1]
    assert callback["attributes"]["code"] == "/* ready */"


def test_a_message_from_the_page_reaches_sync_model_and_applies_with_the_widget_as_setter():
    """BokehWidget.browser_event sees every message; a change applied from the page comes
    back to `_document_patched` with the widget as its setter, and is not sent again."""
    patched, synced = [], []

    class Recording(BokehModel):
        def _sync_model(self, model, content, buffers):
            synced.append(dict(content))
            super()._sync_model(model, content, buffers)

        def _document_patched(self, event):
            patched.append(event)
            super()._document_patched(event)

    fig = figure(title="kernel")
    widget = Recording(fig)
    sent = []
    widget.send = lambda content, buffers=None: sent.append(content)
    change = {"event": "jsevent", "kind": "ModelChanged", "model": {"id": fig.title.id},
              "attr": "text", "new": "page"}
    expected = dict(change)  # BokehModel takes "event" out of the content it is given
    widget._handle_msg({"content": {"data": {"method": "custom", "content": change}},
                        "buffers": []})  # what ipywidgets' comm calls
    assert synced == [expected]
    assert fig.title.text == "page"
    assert [(event.kind, event.setter) for event in patched] == [("ModelChanged", widget)]
    assert sent == []


def test_every_change_of_the_document_reaches_document_patched():
    """BokehWidget.document_changed holds each change of a pump round, whatever its kind."""
    patched = []

    class Recording(BokehModel):
        def _document_patched(self, event):
            patched.append(event)

    source = ColumnDataSource({"x": [1], "y": [2]})
    fig = figure(title="a")
    fig.line("x", "y", source=source)
    Recording(fig)
    fig.title.text = "b"
    source.stream({"x": [2], "y": [3]})
    source.patch({"y": [(0, 5)]})
    source.data = {"x": [7], "y": [8]}
    assert [type(event) for event in patched] == [ModelChangedEvent, ColumnsStreamedEvent,
                                                 ColumnsPatchedEvent, ColumnDataChangedEvent]


def test_one_patch_doc_goes_out_as_bokehmodel_sends_it():
    """BokehWidget.send_patch writes PATCH-DOC as BokehModel._document_patched does: should
    jupyter_bokeh change how it sends one, the page would no longer read ours."""
    source = ColumnDataSource({"y": np.array([1.0, 2.0])})
    fig = figure()
    fig.line(x="index", y="y", source=source)
    widget = BokehWidget(fig)
    events = []
    widget._document.on_change(events.append)
    source.stream({"y": np.array([3.0, 4.0])})  # an array: it goes as a binary buffer
    (event,) = events
    ours, theirs = [], []
    widget.send = lambda content, buffers=None: ours.append((content, buffers))
    widget.send_patch([event])
    widget.send = lambda content, buffers=None: theirs.append((content, buffers))
    BokehModel._document_patched(widget, event)
    assert len(theirs) == 5  # header, metadata, content, a buffer's reference and bytes
    assert _comparable(ours) == _comparable(theirs)


def _comparable(sent):
    """The messages sent, with the ids that differ from one message to the next (the
    message's, each buffer's) numbered in order."""
    payloads = [json.loads(content["payload"]) if "payload" in content else None
                for content, _ in sent]
    ids = [payload[key] for payload in payloads if isinstance(payload, dict)
           for key in ("msgid", "id") if key in payload]
    out = []
    for (content, buffers), payload in zip(sent, payloads):
        text = json.dumps(payload, sort_keys=True)
        for number, original in enumerate(ids):
            text = text.replace(f'"{original}"', f'"id{number}"')
        out.append((content["msg"], text, [bytes(b) for b in buffers or []]))
    return out


def test_the_page_script_finds_jupyter_bokehs_listener_where_bokehjs_keeps_listeners():
    """DETACH_LISTENER_JS walks `cb_obj._callbacks.keys()`, calls `remove_on_change` and
    knows jupyter_bokeh's listener by the text `_change_event`."""
    assert "cb_obj._callbacks.keys()" in DETACH_LISTENER_JS
    assert re.search(r"on_change\((\w+),\s*\w+\s*=\s*(?:!1|false)\)\s*\{[^}]*"
                     r"this\._callbacks\.set\(\1\b", BOKEHJS)
    assert re.search(r"remove_on_change\((\w+)\)\s*\{\s*this\._callbacks\.delete\(\1\)",
                     BOKEHJS)
    assert '"document_ready"' in BOKEHJS
    assert "index.js" in JUPYTER_BOKEH_JS  # the notebook's copy and JupyterLab's (Voilà)
    listeners = {name for name, js in JUPYTER_BOKEH_JS.items()
                 if re.search(r"\.on_change\(\(?(\w+)\)?\s*=>\s*this\._change_event\(\1\)\)", js)}
    assert "index.js" in listeners and len(listeners) == 2


def required_by_name(*names):
    """BokehJS's bundle maps each module's name to its number; `Bokeh.require(name)` finds it."""
    return all(re.search(rf'"{name}":\d+', BOKEHJS) for name in names)


def test_the_style_fix_finds_where_bokehjs_sets_a_style_sheets_text():
    """BOKEHJS_FIXES_JS wraps core/dom's InlineStyleSheet._update, which sets `el.textContent`
    to the text it is given, whatever the text was."""
    assert re.search(r"get css\(\)\{return this\.el\.textContent\}"
                     r"_update\((\w+)\)\{this\.el\.textContent=\1\}", BOKEHJS)
    assert re.search(r"\.InlineStyleSheet=(\w+),\1\.__name__=\"InlineStyleSheet\"", BOKEHJS)
    assert required_by_name("core/dom")
    assert 'require("core/dom").InlineStyleSheet.prototype' in BOKEHJS_FIXES_JS


def test_the_legend_fix_finds_how_a_legend_watches_its_items():
    """BOKEHJS_FIXES_JS passes a `signal` to LegendView's `on_transitive_change`: a legend
    watches its items recursively through it, and the classes the fix leaves out are where it
    requires them."""
    assert re.search(r"this\.on_transitive_change\(\w+,\(\(\)=>this\._render_items\(\)\),"
                     r"\{recursive:!0\}\)", BOKEHJS)
    signature = re.search(r"on_transitive_change\(\w+,\w+,\{recursive:\w+=!1,"
                          r"signal:(\w+)=(\w+)=>\2\.change\}=\{\}\)\{(.{0,400})", BOKEHJS)
    assert signature
    signal, body = signature.group(1), signature.group(3)
    assert re.search(rf"this\.connect\({signal}\(\w+\),\w+\)", body)  # each model's signal
    for name in ("LegendView", "DataSource", "CDSView", "Signal0"):
        assert re.search(rf"\.{name}=(\w+),(?:\w+=\1,)?\1\.__name__=\"{name}\"", BOKEHJS), name
    assert required_by_name("models/annotations/legend", "models/sources/data_source",
                            "models/sources/cds_view", "core/signaling")


def test_the_page_sends_its_changes_as_jsevents_of_the_kinds_the_widget_drops():
    """FiguresWidget drops the echoes by `content["event"]` and `content["kind"]`."""
    for js in JUPYTER_BOKEH_JS.values():
        if "_change_event(" in js:
            assert re.search(r'\.event\s*=\s*"jsevent"', js)
    kinds = set(re.findall(r'this\.kind\s*=\s*"(\w+)"', BOKEHJS))
    assert set(ECHOED_KINDS) <= kinds
    assert {ColumnsStreamedEvent.kind, ColumnsPatchedEvent.kind} == set(ECHOED_KINDS)


def test_a_new_model_stays_unsynced_until_a_patch_carries_it():
    """widget.only_events_on_known_models tells new models by `synced_models`, which
    PATCH-DOC's creation updates (the race's frozen plots came from this order)."""
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    doc.models.flush_synced()
    source = ColumnDataSource({"x": [1], "y": [2]})
    events = _events(doc, lambda: fig.line("x", "y", source=source))
    assert fig in synced_models(doc)
    assert source not in synced_models(doc)
    message = Protocol().create("PATCH-DOC", events)  # the event defines the line whole
    assert source.id in message.content_json
    assert source in synced_models(doc)


# --- the walk over a document's models ---------------------------------------------------

def test_a_change_of_models_calls_the_documents_models_invalidate_and_nothing_else_walks():
    """hold_walks replaces `doc.models.invalidate` on the instance: Bokeh must call it for a
    change that adds a model, not for a plain value, and walk only when it is called."""
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    calls = []
    assert hold_walks(doc, lambda: calls.append(1))
    assert not hold_walks(doc, lambda: calls.append(2))  # held already: the outer block's
    renderer = fig.line([1, 2], [3, 4])
    assert calls and set(calls) == {1}
    assert renderer not in set(doc.models)  # not walked
    count = len(calls)
    fig.title.text = "plain"
    fig.width = 300
    renderer.glyph.line_width = 2
    assert len(calls) == count
    release_walks(doc)
    walk(doc)
    assert renderer in set(doc.models)
    with doc.models.freeze():  # Bokeh's own hold still defers the walk
        other = fig.line([1, 2], [3, 4])
        walk(doc)
        assert other not in set(doc.models)
    assert other in set(doc.models)


def test_one_walk_walks_a_changed_document_once_at_the_end():
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    with one_walk([doc]):
        renderer = fig.line([1, 2], [3, 4])
        assert renderer not in set(doc.models)  # walked later, once
    assert renderer in set(doc.models)
    assert "invalidate" not in vars(doc.models)


# --- the serializer ----------------------------------------------------------------------

def test_bokeh_sends_a_list_of_finite_numbers_as_the_json_list_itself():
    """encode_as_list writes Numbers as a plain JSON list: what Bokeh writes for a list of
    finite numbers, and so what BokehJS reads as a column."""
    values = [0, 1, 2.5, -3e-7, 10**12]
    assert Serializer().encode(list(values)) == values
    assert Serializer().encode(Numbers(values)) == values


def test_a_stream_of_numbers_reaches_the_patch_whole_through_the_registered_encoder(monkeypatch):
    """The registered encoder runs on the stream's own values, before Bokeh's walk."""
    source = ColumnDataSource({"x": [1], "y": [2.0]})
    doc = Document()
    doc.add_root(source)
    events = _events(doc, lambda: source.stream({"x": Numbers([2]), "y": Numbers([3.5])}))
    (event,) = events
    assert type(event.data["y"]) is Numbers

    def no_walk(*args):
        raise AssertionError("encoded value by value")

    monkeypatch.setattr(Serializer, "_encode_float", no_walk)
    monkeypatch.setattr(Serializer, "_encode_int", no_walk)
    content = json.loads(Protocol().create("PATCH-DOC", events).content_json)
    (sent,) = content["events"]
    assert sent["data"] == {"type": "map", "entries": [["x", [2]], ["y", [3.5]]]}
    with pytest.raises(AssertionError, match="already registered"):
        Serializer.register(Numbers, lambda values, serializer: [])


# --- BokehJS's data ranges ---------------------------------------------------------------

def test_bokehjs_recomputes_a_data_range_when_its_padding_changes_not_its_renderers():
    """Should BokehJS watch `renderers` too, recompute_range_in_page can go."""
    (watched,) = re.findall(
        r"const\s*\{([^}]*)\}\s*=\s*this\.properties;\s*this\.on_change\(\[[^\]]*\],"
        r"\s*\(?\(\)\s*=>\s*this\._invalidate_dataranges\(\)", BOKEHJS)
    names = {part.split(":")[0].strip() for part in watched.split(",")}
    assert "range_padding" in names
    assert "renderers" not in names


def test_a_padding_nudge_is_sent_as_a_change_and_setting_the_same_value_is_not():
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    y_range = fig.y_range
    assert isinstance(y_range, DataRange1d)
    padding = y_range.range_padding
    assert _events(doc, lambda: setattr(y_range, "range_padding", padding)) == []
    nudged = _events(doc, lambda: recompute_range_in_page(y_range, padding))
    back = _events(doc, lambda: recompute_range_in_page(y_range, padding))
    for events, expected in ((nudged, padding + PADDING_NUDGE), (back, padding)):
        (event,) = events
        assert event.attr == "range_padding"
        (sent,) = json.loads(Protocol().create("PATCH-DOC", events).content_json)["events"]
        assert sent["new"] == expected
    assert json.loads(json.dumps(padding + PADDING_NUDGE)) != padding


def _events(doc, change):
    caught = []
    doc.callbacks.on_change(caught.append)  # what a BokehModel widget receives
    change()
    doc.callbacks.remove_on_change(caught.append)
    return [event for event in caught if hasattr(event, "to_serializable")]


# --- ipywidgets ---------------------------------------------------------------------------

def test_a_change_inside_unsent_goes_out_with_nothing_of_its_own_and_others_still_go():
    widget = HTML("before")
    sent = []
    widget.comm.send = lambda data=None, metadata=None, buffers=None: sent.append(data)
    with unsent(widget, "value"):
        widget.value = "after"
        widget.description = "said"
    updates = [data["state"] for data in sent if data.get("method") == "update"]
    assert updates == [{"description": "said"}]
    assert widget.get_state()["value"] == "after"  # the value itself is set
