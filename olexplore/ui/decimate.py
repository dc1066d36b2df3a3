"""Shrinking long series for drawing without losing their spikes: a min/max envelope.

A line of 10,000 points drawn into 600 pixels wastes most of its vertices. Keeping, for each of
``buckets`` equal slices of the series, its minimum and its maximum (in the order they occur)
draws the same picture from at most ``2 * buckets`` points, spikes and divergences included,
where plain striding would skip them.
"""

from __future__ import annotations

import numpy as np


def min_max_envelope(
    x: np.ndarray, y: np.ndarray, buckets: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 * buckets`` points of ``(x, y)`` keeping each bucket's extremes.

    Non-finite values (NaN, inf) are ignored within a bucket unless the bucket holds nothing
    else, in which case its first value is kept, so a divergence still shows where it starts.

    >>> x = np.arange(10)
    >>> y = np.array([0, 5, 1, 1, 1, 1, 1, 1, -3, 1], dtype=float)
    >>> xs, ys = min_max_envelope(x, y, buckets=2)
    >>> xs.tolist(), ys.tolist()
    ([0, 1, 5, 8], [0.0, 5.0, 1.0, -3.0])
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float64)
    if buckets < 1:
        raise ValueError(f"buckets: got {buckets!r}; accepted: an int >= 1.")
    n = len(y)
    if n <= 2 * buckets:
        return x, y
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts = edges[:-1]
    finite = np.isfinite(y)
    low = np.where(finite, y, np.inf)
    high = np.where(finite, y, -np.inf)
    # Index of the min and max of each bucket, via reduceat over the bucket starts.
    min_values = np.minimum.reduceat(low, starts)
    max_values = np.maximum.reduceat(high, starts)
    bucket_of = np.repeat(np.arange(buckets), np.diff(edges))
    is_min = low == min_values[bucket_of]
    is_max = high == max_values[bucket_of]
    first_min = _first_true_per_bucket(is_min, edges)
    first_max = _first_true_per_bucket(is_max, edges)
    empty = ~np.isfinite(min_values)  # the bucket had no finite value
    first_min[empty] = starts[empty]
    first_max[empty] = starts[empty]
    picks = np.sort(np.unique(np.concatenate([first_min, first_max])))
    return x[picks], y[picks]


def _first_true_per_bucket(mask: np.ndarray, edges: np.ndarray) -> np.ndarray:
    positions = np.flatnonzero(mask)
    # For each bucket start, the first True at or after it (always inside the bucket here).
    found = np.searchsorted(positions, edges[:-1])
    found = np.minimum(found, len(positions) - 1) if len(positions) else found
    result = positions[found] if len(positions) else edges[:-1].copy()
    outside = result >= edges[1:]
    result[outside] = edges[:-1][outside]
    return result
