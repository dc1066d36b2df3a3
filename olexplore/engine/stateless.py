"""Seeded random draws that TensorFlow's kernels and XLA compute alike.

``tf.random.stateless_truncated_normal`` (and the other float draws) give other numbers once a
function is compiled with XLA: on CPU, XLA turns the Philox bits into floats its own way and
samples the truncated normal by another method. The raw Philox bits agree (checked on TF 2.21),
so :func:`truncated_normal` draws integers and maps them to the noise itself, by the inverse
of the normal distribution function; the plain and the XLA-compiled train op then add the same
noise up to the last few ulps of ``erfinv``. XLA also reads only the low 32 bits of each
seed component where TensorFlow reads 64, so :func:`derive_seed` keeps seeds below ``2**32``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from olexplore._tensorflow import tf

_LOW_32 = 0xFFFFFFFF


def _low_bits(value: Any) -> tf.Tensor:
    return tf.bitwise.bitwise_and(value, tf.constant(_LOW_32, tf.int64))


def derive_seed(seed: int, *data: Any) -> tf.Tensor:
    """A shape-``[2]`` int64 seed in ``[0, 2**32)`` derived from ``seed`` and each of ``data``.

    ``seed`` is a non-negative Python int below ``2**64``; each of ``data`` a non-negative int64
    scalar (a step counter, an index), folded in by ``tf.random.fold_in`` 32 bits at a time,
    so that TensorFlow and XLA, which truncates seeds to 32 bits, derive the same seed.

    >>> counter = tf.constant(2**40 + 3, tf.int64)
    >>> plain = derive_seed(2**50 + 1, counter, 4)
    >>> compiled = tf.function(derive_seed, jit_compile=True)(2**50 + 1, counter, 4)
    >>> bool(tf.reduce_all(plain == compiled)), bool(tf.reduce_all(plain < 2**32))
    (True, True)
    """
    key = tf.constant([seed & _LOW_32, (seed >> 32) & _LOW_32], tf.int64)
    for value in data:
        value = tf.cast(value, tf.int64)
        for part in (_low_bits(value), _low_bits(tf.bitwise.right_shift(value, 32))):
            # fold_in takes an int64 scalar tensor as its data; the stub says int.
            key = _low_bits(tf.random.fold_in(key, part))  # pyright: ignore[reportArgumentType]
    return key


#: ``erf(sqrt(2))``: a standard normal lies within two standard deviations with this probability.
_WITHIN_TWO = math.erf(math.sqrt(2.0))


def truncated_normal(shape: Any, seed: Any, dtype: Any = tf.float32) -> tf.Tensor:
    """Standard normal draws truncated to ``(-2, 2)``, a function of ``(shape, seed)`` only.

    ``seed`` is a shape-``[2]`` integer tensor, as for ``tf.random.stateless_*``. Each element
    comes from Philox bits (``tf.random.stateless_uniform`` of unsigned integers, 32 bits for
    float16/bfloat16/float32, 64 for float64), taken as a uniform ``v`` strictly inside ``(-1,
    1)``, and is ``sqrt(2) erfinv(erf(sqrt(2)) v)``: the inverse-CDF method, so no draw is
    rejected, and the same in a ``tf.function`` with or without ``jit_compile``. Float16 and
    bfloat16 are computed in float32 and rounded.

    >>> seed = tf.constant([1, 2], tf.int64)
    >>> draws = truncated_normal([20000], seed)
    >>> bool(tf.reduce_max(tf.abs(draws)) < 2.0), round(float(tf.math.reduce_std(draws)), 1)
    (True, 0.9)
    >>> compiled = tf.function(truncated_normal, jit_compile=True)([20000], seed)
    >>> float(tf.reduce_max(tf.abs(compiled - draws))) < 1e-6
    True
    """
    dtype = tf.as_dtype(dtype)
    if dtype == tf.float64:
        bits_dtype, kept, compute = tf.uint64, 52, tf.float64
    else:
        bits_dtype, kept, compute = tf.uint32, 23, tf.float32
    # minval=maxval=None with an integer dtype draws the full range (documented; the stub
    # does not allow None).
    bits = tf.random.stateless_uniform(
        shape,
        seed,
        minval=None,  # pyright: ignore[reportArgumentType]
        maxval=None,
        dtype=bits_dtype,
    )
    width = 64 if bits_dtype == tf.uint64 else 32
    top = tf.cast(tf.bitwise.right_shift(bits, tf.constant(width - kept, bits_dtype)), compute)
    # (k - (2**(kept - 1) - 0.5)) / 2**(kept - 1): exact, symmetric, strictly inside (-1, 1).
    half = float(2 ** (kept - 1))
    uniform = (top - (half - 0.5)) / half
    draws = math.sqrt(2.0) * tf.math.erfinv(tf.constant(_WITHIN_TWO, compute) * uniform)
    below_two = np.nextafter(np.array(2.0, compute.as_numpy_dtype), 0)
    return tf.cast(tf.clip_by_value(draws, -below_two, below_two), dtype)
