"""The 2-D sets as NumPy alone: the same numbers as `data.load_dataset` builds for them.

An exported script (`playground runs export ID --format script`) inlines this function, so it
needs neither scikit-learn nor the playground. scikit-learn's make_circles, make_moons and
make_blobs are written out here with its random generator (np.random.RandomState), in the
order it draws from it; tests/test_export.py checks that both give the same points.
"""

from __future__ import annotations

import math

import numpy as np


def make_points(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points of the 2-D set `name` in about [-1.5, 1.5]^2, and their labels (0 or 1), or
    for "regression" a float target; `noise` is the std of the jitter."""
    if name in ("circle", "moons", "gaussian"):  # scikit-learn's generators, written out
        sk_rng = np.random.RandomState(seed)
        n_out, n_in = n // 2, n - n // 2
        if name == "circle":  # a ring and, inside it, a disc of half its radius
            angle_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
            angle_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
            x = np.vstack([np.append(np.cos(angle_out), 0.5 * np.cos(angle_in)),
                           np.append(np.sin(angle_out), 0.5 * np.sin(angle_in))]).T
            y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
        elif name == "moons":  # two interleaving half circles
            x = np.vstack([np.append(np.cos(np.linspace(0, np.pi, n_out)),
                                     1 - np.cos(np.linspace(0, np.pi, n_in))),
                           np.append(np.sin(np.linspace(0, np.pi, n_out)),
                                     1 - np.sin(np.linspace(0, np.pi, n_in)) - 0.5)]).T
            y = np.hstack([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])
        else:  # gaussian: two blobs, around (-0.6, -0.6) and (0.6, 0.6)
            sizes = (n - n // 2, n // 2)
            x = np.vstack([sk_rng.normal(loc=centre, scale=0.2 + noise, size=(size, 2))
                           for centre, size in zip(((-0.6, -0.6), (0.6, 0.6)), sizes)])
            y = np.repeat(np.array([0, 1], dtype=np.int64), sizes)
        shuffle = np.arange(n)
        sk_rng.shuffle(shuffle)
        x, y = x[shuffle], y[shuffle]
        if name != "gaussian":
            x = x + sk_rng.normal(scale=noise, size=x.shape)
        if name == "moons":
            x = x - (0.5, 0.25)  # centre the moons on the origin
        return x, y
    rng = np.random.default_rng(seed)
    if name == "xor":
        x = rng.uniform(-1, 1, (n, 2))
        x += 0.05 * np.sign(x)  # a thin gap along the axes, so the clean set has a margin
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        x += rng.normal(0, noise, x.shape)
    elif name == "spiral":
        y = np.arange(n) % 2  # alternate points go to the two arms
        t = rng.uniform(0.05, 1, n)  # how far along its arm each point is
        angle = 3.5 * math.pi * t + math.pi * y  # the second arm is the first turned by pi
        x = 1.3 * t[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
        x += rng.normal(0, noise, x.shape)
    else:  # regression: a smooth bump-and-dip surface, noise on the target
        x = rng.uniform(-1, 1, (n, 2))
        target = np.sin(math.pi * x[:, 0]) * np.cos(0.5 * math.pi * x[:, 1])
        y = target + rng.normal(0, noise, n)
    return x, y
