"""playground: an interactive hyperparameter-tuning playground for neural networks."""

from playground.config import HParams, HParamsError

__all__ = ["HParams", "HParamsError"]
__version__ = "0.1.0"
