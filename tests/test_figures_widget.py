"""The widget that carries figures to the browser: one message a round, one way, a grid."""

import json

from bokeh.document.events import ColumnsStreamedEvent, ModelChangedEvent
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure
from pages import wait_until

from playground.plots._batch import one_patch
from playground.plots._compat import BOKEHJS_FIXES_JS, VIEW_SHOWN
from playground.plots.widget import (
    ONE_WAY_JS,
    PAGE_HAS_BOKEHJS,
    FigureGrid,
    FiguresWidget,
    bokehjs,
    bokehjs_loader,
    last_values,
)


def recorded(widget):
    """Replace `widget.send` by a recorder; returns the list of (content, buffers) sent."""
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    return sent


def patch_events(sent):
    """The events of each PATCH-DOC sent: its content part is the JSON with "events"."""
    found = []
    for content, _ in sent:
        payload = content.get("payload")
        if payload and '"events"' in payload:
            found.append(json.loads(payload)["events"])
    return found


def small_figure():
    source = ColumnDataSource({"x": [], "y": []})
    fig = figure(name="small", title="before")
    fig.line("x", "y", source=source)
    return fig, source


def test_a_round_goes_out_as_one_patch_with_the_last_value_of_each_property():
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    sent = recorded(widget)
    with one_patch():
        source.stream({"x": [1], "y": [2]})
        fig.title.text = "step 1"
        source.stream({"x": [2], "y": [3]})
        fig.title.text = "step 2"
    (events,) = patch_events(sent)
    assert [e["kind"] for e in events] == ["ColumnsStreamed", "ColumnsStreamed", "ModelChanged"]
    assert events[-1]["attr"] == "text" and events[-1]["new"] == "step 2"


def test_rows_streamed_into_a_new_source_arrive_once_with_it():
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    sent = recorded(widget)
    with one_patch():  # a new line and its first rows, beside rows for a known line
        new_source = ColumnDataSource({"x": [], "y": []})
        fig.line("x", "y", source=new_source)
        new_source.stream({"x": [1, 2], "y": [3, 4]})
        source.stream({"x": [5], "y": [6]})
    (events,) = patch_events(sent)
    kinds = [(e["kind"], e["model"]["id"]) for e in events]
    assert kinds == [("ModelChanged", fig.id), ("ColumnsStreamed", source.id)]
    (new,) = [m for m in json_models(events[0]) if m["id"] == new_source.id]
    assert new["attributes"]["data"]["entries"] == [["x", [1, 2]], ["y", [3, 4]]]
    with one_patch():  # next round: the source is known, its rows are streamed
        new_source.stream({"x": [3], "y": [5]})
    assert [e["kind"] for e in patch_events(sent)[-1]] == ["ColumnsStreamed"]


def test_a_round_never_names_a_model_before_the_patch_defines_it():
    """BokehJS resolves ids in message order and drops the whole patch at an unknown one
    (then every later patch naming that model fails: the plots froze after a race)."""
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    sent = recorded(widget)
    with one_patch():  # as a race's round: lines made, then dimmed, then another line
        new_lines = [fig.line("x", "y", source=ColumnDataSource({"x": [], "y": []}))
                     for _ in range(2)]
        for line in new_lines:
            line.glyph.line_alpha = 0.5
            line.data_source.stream({"x": [1], "y": [2]})
        fig.line("x", "y", source=ColumnDataSource({"x": [], "y": []}))
    (events,) = patch_events(sent)
    known = {model.id for model in widget._document.models} - {
        m.id for line in new_lines for m in (line, line.glyph, line.data_source)}
    for event in events:
        assert event["model"]["id"] in known, f"{event['kind']} names an undefined model"
        known |= {m["id"] for m in json_models(event)}
    defined = {m["id"]: m for e in events for m in json_models(e)}
    assert defined[new_lines[0].glyph.id]["attributes"]["line_alpha"] == 0.5  # final state
    assert defined[new_lines[0].data_source.id]["attributes"]["data"]["entries"] == [
        ["x", [1]], ["y", [2]]]


def json_models(value):
    """Every serialised model object inside a JSON value."""
    if isinstance(value, dict):
        if value.get("type") == "object" and "id" in value:
            yield value
        for item in value.values():
            yield from json_models(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_models(item)


def test_outside_a_round_each_change_goes_out_at_once():
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    sent = recorded(widget)
    fig.title.text = "now"
    source.stream({"x": [1], "y": [2]})
    assert len(patch_events(sent)) == 2


def test_last_values_keeps_streams_in_order_and_the_last_change_of_a_property():
    fig, source = small_figure()
    doc = FiguresWidget(fig)._document
    title = fig.title
    first = ModelChangedEvent(doc, title, "text", "a")
    stream_1 = ColumnsStreamedEvent(doc, source, "data", {"x": [1], "y": [1]}, None)
    other = ModelChangedEvent(doc, title, "text_color", "red")
    stream_2 = ColumnsStreamedEvent(doc, source, "data", {"x": [2], "y": [2]}, None)
    last = ModelChangedEvent(doc, title, "text", "b")
    kept = last_values([first, stream_1, other, stream_2, last])
    assert kept == [stream_1, other, stream_2, last]


def test_streams_sent_back_by_the_browser_are_dropped():
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    source.stream({"x": [1], "y": [2]})
    echo = {"event": "jsevent", "kind": "ColumnsStreamed", "model": {"id": source.id},
            "attr": "data", "data": {"x": [1], "y": [2]}, "rollover": None}
    widget._sync_model(widget, echo, [])
    assert list(source.data["x"]) == [1]  # not streamed a second time


def test_the_page_detaches_jupyter_bokehs_listener_once_drawn():
    fig, _ = small_figure()
    widget = FiguresWidget(fig)
    (doc_json,) = widget.render_bundle["docs_json"].values()
    (callback,) = doc_json["callbacks"]["entries"][0][1]
    assert callback["attributes"]["code"] == ONE_WAY_JS
    FiguresWidget(fig)  # a second widget on the same figure adds no second copy
    assert len(fig.document.callbacks.js_event_callbacks["document_ready"]) == 1


def test_bokehjs_is_fixed_before_any_figure_is_drawn_and_again_by_each_figure():
    """The loader fixes BokehJS right after loading it; a page where BokehJS came some other
    way gets the fixes from the first figure drawn (the page keeps them to one go)."""
    (output,) = bokehjs_loader().outputs
    script = output["data"]["text/html"]
    assert script.index("appendChild(script)") < script.index(BOKEHJS_FIXES_JS.strip())
    assert ONE_WAY_JS.startswith(BOKEHJS_FIXES_JS)
    assert "!Bokeh.playground_fixes" in BOKEHJS_FIXES_JS


def test_the_loader_leaves_bokehjs_out_only_when_the_page_has_this_version(monkeypatch):
    """`playground serve` loads BokehJS in its page and says which version: the page state
    then carries the fixes alone. Without that word, or for another version, BokehJS comes
    inline as before (JupyterLab, a plain `voila` of the notebook)."""
    import bokeh

    start_of_bokehjs = bokehjs()[:200]
    assert "bokeh" in start_of_bokehjs.lower()

    def loader_script() -> str:
        (output,) = bokehjs_loader().outputs
        return output["data"]["text/html"]

    monkeypatch.delenv(PAGE_HAS_BOKEHJS, raising=False)
    assert json.dumps(start_of_bokehjs)[1:-1] in loader_script()
    monkeypatch.setenv(PAGE_HAS_BOKEHJS, "0.0.1")
    assert json.dumps(start_of_bokehjs)[1:-1] in loader_script()
    monkeypatch.setenv(PAGE_HAS_BOKEHJS, bokeh.__version__)
    script = loader_script()
    assert script == f"<script>{BOKEHJS_FIXES_JS}</script>"
    assert len(script) < 20_000


def test_figure_grid_gives_each_figure_a_widget_and_hides_one_with_its_room():
    figures = {name: figure(name=name) for name in ("loss", "accuracy", "boundary")}
    grid = FigureGrid(figures)
    assert list(grid.views) == ["loss", "accuracy", "boundary"]
    assert len({id(view._document) for view in grid.views.values()}) == 3  # a root each
    # the page draws the first row first; the rest comes when it reports one drawn
    assert list(grid.widget.children) == [grid.views["loss"], grid.views["accuracy"]]
    grid.views["accuracy"].view_shown()
    assert list(grid.widget.children) == list(grid.views.values())
    grid.views["loss"].view_shown()  # later reports change nothing
    assert list(grid.widget.children) == list(grid.views.values())
    grid.show("boundary", False)
    assert grid.views["boundary"].layout.display == "none"
    assert figures["boundary"].visible is False
    grid.show("boundary", True)
    assert grid.views["boundary"].layout.display is None and figures["boundary"].visible


def test_figure_grid_fills_without_the_pages_report():
    """A report that never comes (it can be lost in JupyterLab) leaves no figure out."""
    grid = FigureGrid({name: figure(name=name) for name in ("loss", "accuracy", "weights")})
    assert grid.views["weights"] not in grid.widget.children
    grid.draw_the_rest_after(0.05)
    wait_until(lambda: grid.views["weights"] in grid.widget.children, timeout=10)
    assert list(grid.widget.children) == list(grid.views.values())


def test_a_report_after_the_grid_filled_sends_its_children_again():
    """A page that was still making its widgets when the grid filled dropped that change;
    the first row's report, which comes once the page has them, sends the children again."""
    grid = FigureGrid({name: figure(name=name) for name in ("loss", "accuracy", "weights")})
    grid.draw_the_rest()  # the timer, before the page could take it
    sent = []
    grid.widget.comm.send = lambda data=None, metadata=None, buffers=None: sent.append(data)
    grid.views["loss"].view_shown()
    children = [data["state"]["children"] for data in sent
                if data.get("method") == "update" and "children" in data.get("state", {})]
    assert children == [[f"IPY_MODEL_{view.model_id}" for view in grid.views.values()]]


def test_a_page_asking_for_the_whole_state_gets_the_new_bundle_in_it_and_nothing_before():
    """The page takes the first update after its request for the widget's whole state: a
    bundle sent on its own before it lacked the model class, and made an error widget."""
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    source.stream({"x": [1], "y": [2]})  # a patch since the bundle was built
    sent = recorded(widget)
    widget.comm.send = lambda data=None, metadata=None, buffers=None: sent.append((data, None))
    widget._handle_msg({"content": {"data": {"method": "request_state"}}})
    (update,) = [data for data, _ in sent if data.get("method") == "update"]
    assert update["state"]["_model_name"] == "BokehModel"
    (doc_json,) = json.loads(update["state"]["render_bundle"])["docs_json"].values()
    assert '["x", [1]]' in json.dumps(doc_json)  # the streamed row is in its source


def test_rows_streamed_into_a_source_whose_data_was_replaced_arrive_once():
    """The replaced data goes out as it is when the patch is built, streamed rows included."""
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    sent = recorded(widget)
    with one_patch():  # the shown run changes, then its new rows arrive, in one round
        source.data = {"x": [1], "y": [1]}
        source.stream({"x": [2], "y": [2]})
    (events,) = patch_events(sent)
    assert [e["kind"] for e in events] == ["ColumnDataChanged"]
    assert json.dumps(events[0]).count("[1, 2]") == 2  # x and y, each once


def test_a_view_drawn_after_patches_went_out_gets_the_document_as_it_is_now():
    """A new view (a reloaded page, a second view of the output) draws `render_bundle`: the
    page reports it, and the widget builds the bundle again if patches went out since."""
    fig, source = small_figure()
    widget = FiguresWidget(fig)
    shown = {"event": "jsevent", "kind": "MessageSent", "msg_type": VIEW_SHOWN, "msg_data": {}}
    widget._sync_model(widget, dict(shown), [])
    assert widget.bundles_built == 1  # nothing went out since: that view is up to date
    source.stream({"x": [5], "y": [6]})
    assert widget.patches_sent > 0
    widget._sync_model(widget, dict(shown), [])
    assert widget.bundles_built == 2
    (doc_json,) = widget.render_bundle["docs_json"].values()
    assert '["y", [6]]' in json.dumps(doc_json)  # the streamed row is in it
    widget._sync_model(widget, dict(shown), [])  # a third view, nothing sent since
    assert widget.bundles_built == 2
