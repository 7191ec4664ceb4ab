"""Warm-up: pay the slow first-use imports in the background, before Start is pressed.

torch.optim imports torch._dynamo on its first optimizer (about 1.7 s here). Done while the
page is being read, the first curve appears within a second of pressing Start instead of
after three. scikit-learn is not warmed up: only the digits data set needs it, and importing
it (with SciPy and pandas) would add about 140 MB to every idle tab's kernel.
"""

from __future__ import annotations

import threading


def warm_up() -> None:
    import torch

    torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)


def warm_up_in_background() -> threading.Thread:
    thread = threading.Thread(target=warm_up, name="playground-warm-up", daemon=True)
    thread.start()
    return thread
