"""What the plots rely on inside Bokeh and jupyter_bokeh, one test per reliance.

playground/plots/widget.py overrides private BokehModel methods and builds PATCH-DOC itself,
_graph.py swaps `doc.models.invalidate`, _numbers.py registers a serializer, curves.py
nudges a range's padding. Each is measured and documented where it is made; these tests
fail when an upgrade changes the behaviour underneath, instead of the page going quiet.
pyproject.toml bounds bokeh and jupyter_bokeh above to the versions these ran against.
"""

import inspect
import json

from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.models import ColumnDataSource, DataRange1d
from bokeh.plotting import figure
from bokeh.protocol import Protocol
from jupyter_bokeh.widgets import BokehModel

from playground.plots._graph import one_walk
from playground.plots._numbers import Numbers


def test_bokehmodel_still_has_the_methods_the_figures_widget_overrides():
    for name, params in (("_model_to_traits", ["model"]),
                         ("_sync_model", ["self", "_model", "content", "_buffers"]),
                         ("_document_patched", ["self", "event"])):
        method = getattr(BokehModel, name)
        assert list(inspect.signature(method).parameters) == params, name


def test_a_new_model_stays_unsynced_until_a_patch_carries_it():
    """widget.only_events_on_known_models tells new models by `synced_references`, which
    PATCH-DOC's creation updates (the race's frozen plots came from this order)."""
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    doc.models.flush_synced()
    source = ColumnDataSource({"x": [1], "y": [2]})
    events = _events(doc, lambda: fig.line("x", "y", source=source))
    assert source not in doc.models.synced_references
    message = Protocol().create("PATCH-DOC", events)  # the event defines the line whole
    assert source.id in message.content_json
    assert source in doc.models.synced_references


def test_a_model_change_walks_the_document_through_models_invalidate():
    """_graph.one_walk defers Bokeh's walk by replacing `doc.models.invalidate`."""
    doc = Document()
    fig = figure()
    doc.add_root(fig)
    with one_walk([doc]):
        renderer = fig.line([1, 2], [3, 4])
        assert renderer not in set(doc.models)  # walked later, once
    assert renderer in set(doc.models)


def test_a_registered_serializer_type_encodes_as_given():
    """_numbers.Numbers: Bokeh's Serializer.register still routes a list subclass."""
    encoded = Serializer().encode({"y": Numbers([1.5, 2])})
    assert json.loads(json.dumps(encoded)) == {"type": "map", "entries": [["y", [1.5, 2]]]}


def test_a_data_range_has_the_settings_curves_use_to_follow_some_lines():
    """curves.py restricts the loss range with DataRange1d.renderers and makes BokehJS apply
    a new list by nudging range_padding (BokehJS watches the settings, not the list)."""
    assert {"renderers", "range_padding"} <= set(DataRange1d.properties())


def _events(doc, change):
    caught = []
    doc.callbacks.on_change(caught.append)  # what a BokehModel widget receives
    change()
    return [event for event in caught if hasattr(event, "to_serializable")]
