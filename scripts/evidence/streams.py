"""Synthetic streams shared by the evidence report (evidence.py) and the drift bars (drift.py)."""
import numpy as np


def make_drift(n, d, k, seed, side=30.0, travel=20.0, std=1.0):
    """Blobs whose centers move in straight lines: each travels `travel` over the stream.
    Returns the vectors, their labels, the centers' starts, unit directions, the distance
    travelled and each vector's true center."""
    rng = np.random.default_rng(3000 + seed)
    start = rng.uniform(-side / 2, side / 2, size=(k, d))
    direction = rng.normal(size=(k, d))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    t = np.arange(n) / n
    y = rng.integers(0, k, n)
    centers_at = start[y] + travel * t[:, None] * direction[y]
    X = (centers_at + std * rng.normal(size=(n, d))).astype(np.float32)
    return X, y, start, direction, travel, centers_at
