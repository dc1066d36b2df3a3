"""The min/max envelope keeps what the eye needs and drops the rest."""

import numpy as np
import pytest

from olexplore.ui.decimate import min_max_envelope


def test_short_series_come_back_unchanged():
    x, y = np.arange(5), np.arange(5.0)
    xs, ys = min_max_envelope(x, y, buckets=3)
    assert xs is x and np.array_equal(ys, y)


def test_long_series_keep_every_bucket_extreme_in_order():
    rng = np.random.default_rng(0)
    y = rng.normal(size=10_000)
    y[1234] = 50.0
    y[8765] = -40.0
    xs, ys = min_max_envelope(np.arange(10_000), y, buckets=500)
    assert len(xs) <= 1000
    assert np.all(np.diff(xs) > 0)
    assert 1234 in xs and 8765 in xs
    assert ys.max() == 50.0 and ys.min() == -40.0
    for bucket in np.array_split(np.arange(10_000), 500):
        inside = (xs >= bucket[0]) & (xs <= bucket[-1])
        assert ys[inside].max() == y[bucket].max()
        assert ys[inside].min() == y[bucket].min()


def test_non_finite_values_are_kept_only_where_nothing_else_is():
    y = np.ones(100)
    y[10] = np.nan
    y[60:] = np.inf  # diverged from step 60 on
    xs, ys = min_max_envelope(np.arange(100), y, buckets=10)
    assert 10 not in xs
    assert 60 in xs and np.isinf(ys[xs == 60][0])
    assert np.all(np.isfinite(ys[xs < 60]))


def test_bad_bucket_count():
    with pytest.raises(ValueError, match="buckets: got 0"):
        min_max_envelope(np.arange(3), np.arange(3.0), buckets=0)
