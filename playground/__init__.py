"""playground: an interactive hyperparameter-tuning playground for neural networks."""

from playground.config import HParams, HParamsError

__all__ = ["HParams", "HParamsError", "Playground"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # The app pulls in ipywidgets, bokeh and torch: load it only when asked for, so the CLI,
    # the engine and the store start fast and stay free of widget libraries.
    if name == "Playground":
        from playground.app import Playground
        return Playground
    raise AttributeError(f"module 'playground' has no attribute {name!r}")
