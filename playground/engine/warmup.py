"""Warm-up: pay the slow first-use imports in the background, before Start is pressed.

torch.optim imports torch._dynamo on its first optimizer (about 1.7 s here) and
scikit-learn's data sets take about 1.2 s to import. Done while the page is being read,
the first curve appears within a second of pressing Start instead of after four.
"""

from __future__ import annotations

import threading


def warm_up() -> None:
    import sklearn.datasets  # noqa: F401
    import torch

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)


def warm_up_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm_up, name="playground-warm-up", daemon=True)
    thread.start()
    return thread
