"""Property tests of the gradient transforms (hypothesis), eager, with real numbers."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from olexplore.engine.adaptive_clipping import adaptive_clipping_fn
from olexplore.engine.transforms import (
    StepContext,
    add_noise,
    clip_by_global_norm,
    global_norm,
    multiply,
)

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# TensorFlow flushes subnormal floats to zero on CPU: keep magnitudes normal.
finite = st.floats(-1e3, 1e3, allow_nan=False, width=32).filter(lambda x: x == 0 or abs(x) > 1e-6)
gradient_arrays = st.lists(
    arrays(np.float32, st.integers(1, 5).map(lambda n: (n,)), elements=finite),
    min_size=1,
    max_size=4,
)


def pairs_of(values, with_none=True):
    variables = [tf.Variable(np.zeros_like(v)) for v in values]
    pairs = [(tf.constant(v), var) for v, var in zip(values, variables, strict=True)]
    if with_none:
        pairs.append((None, tf.Variable(0.0)))
    return pairs


def numpy_norm(values):
    return float(np.sqrt(sum(np.sum(v.astype(np.float64) ** 2) for v in values)))


@SETTINGS
@given(gradient_arrays, st.floats(1e-3, 1e3))
def test_clipping_never_exceeds_the_norm_and_keeps_small_gradients(values, clip_norm):
    pairs = pairs_of(values)
    clipped = clip_by_global_norm(clip_norm).update(pairs, (), StepContext())
    assert clipped[-1][0] is None and clipped[-1][1] is pairs[-1][1]
    after = [g.numpy() for g, _ in clipped[:-1]]
    before_norm = numpy_norm(values)
    assert numpy_norm(after) <= clip_norm * (1 + 1e-5) + 1e-6
    if before_norm <= clip_norm:
        for a, b in zip(after, values, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    else:
        scale = clip_norm / before_norm
        for a, b in zip(after, values, strict=True):
            np.testing.assert_allclose(a, b * scale, rtol=1e-4, atol=1e-5)


@SETTINGS
@given(gradient_arrays, st.floats(-10, 10).filter(lambda f: f == 0 or abs(f) > 1e-6))
def test_multipliers_are_exact_and_skip_other_variables(values, factor):
    pairs = pairs_of(values)
    target = pairs[0][1]
    result = multiply({target.ref(): factor}).update(pairs, (), StepContext())
    np.testing.assert_array_equal(result[0][0].numpy(), values[0] * np.float32(factor))
    for (g, _), original in zip(result[1:-1], values[1:], strict=True):
        np.testing.assert_array_equal(g.numpy(), original)
    assert result[-1][0] is None


@SETTINGS
@given(gradient_arrays, st.floats(1e-3, 100.0), st.integers(0, 2**31 - 1))
def test_noise_stays_within_two_scales(values, scale, seed):
    pairs = pairs_of(values)
    noisy = add_noise(scale, seed=seed).update(pairs, (), StepContext())
    assert noisy[-1][0] is None
    for (g, _), original in zip(noisy[:-1], values, strict=True):
        noise = g.numpy().astype(np.float64) - original
        assert np.all(np.abs(noise) <= 2 * scale * (1 + 1e-5) + 1e-3)


def test_noise_has_the_requested_spread():
    zeros = [(tf.zeros([20000]), tf.Variable(tf.zeros([20000])))]
    noise = add_noise(0.5, seed=1).update(zeros, (), StepContext())[0][0].numpy()
    # A normal truncated at +-2 sigma has standard deviation 0.8796 sigma.
    assert noise.std() == pytest.approx(0.5 * 0.8796, rel=0.03)
    assert abs(noise.mean()) < 0.02
    assert np.abs(noise).max() < 1.0


def test_stateless_noise_depends_on_the_counter():
    counter = tf.Variable(0, dtype=tf.int64)
    transform = add_noise(1.0, seed=5, counter=counter)
    zeros = [(tf.zeros([4]), tf.Variable(tf.zeros([4])))]
    first = transform.update(zeros, (), StepContext())[0][0].numpy()
    again = transform.update(zeros, (), StepContext())[0][0].numpy()
    counter.assign_add(1)
    later = transform.update(zeros, (), StepContext())[0][0].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, later)


def sparse_pair():
    table = tf.Variable(tf.ones([5, 3]))
    slices = tf.IndexedSlices(
        tf.constant([[3.0, 0.0, 4.0], [0.0, 0.0, 12.0]]), tf.constant([1, 3]), tf.constant([5, 3])
    )
    return [(slices, table)]


def test_sparse_gradients_stay_sparse_where_tf1_kept_them_sparse():
    pairs = sparse_pair()
    table = pairs[0][1]
    multiplied = multiply({table.ref(): 2.0}).update(pairs, (), StepContext())[0][0]
    clipped = clip_by_global_norm(1.0).update(pairs, (), StepContext())[0][0]
    adaptive = adaptive_clipping_fn()(pairs)[0][0]
    for result in (multiplied, clipped, adaptive):
        assert isinstance(result, tf.IndexedSlices)
        np.testing.assert_array_equal(result.indices.numpy(), [1, 3])
    np.testing.assert_array_equal(multiplied.values.numpy(), [[6, 0, 8], [0, 0, 24]])
    np.testing.assert_allclose(
        clipped.values.numpy(), np.array([[3, 0, 4], [0, 0, 12]]) / 13, rtol=1e-6
    )
    noisy = add_noise(0.1, seed=1).update(pairs, (), StepContext())[0][0]
    assert isinstance(noisy, tf.Tensor) and noisy.shape == (5, 3)  # dense, as in TF 1


def test_global_norm_counts_sparse_values_and_skips_none():
    pairs = sparse_pair() + [(None, tf.Variable(0.0))]
    assert float(global_norm(pairs)) == pytest.approx(13.0)


def test_adaptive_clipping_over_steps_follows_the_formula():
    step = tf.Variable(0, dtype=tf.int64)
    clip = adaptive_clipping_fn(std_factor=1.0, decay=0.9, global_step=step)
    variable = tf.Variable([0.0, 0.0])
    mean = sq_mean = 0.0
    factors = []
    for norm in [5.0, 6.0, 100.0, 4.0]:
        n = float(step.numpy())
        decay = min(0.9, n / (n + 1))
        log_norm = np.log(norm + 1e-8)
        mean = decay * mean + (1 - decay) * log_norm
        sq_mean = decay * sq_mean + (1 - decay) * log_norm**2
        std = np.sqrt(max(1e-8, sq_mean - mean**2))
        max_norm = np.exp(mean + std)
        factor = 1.0 if norm < max_norm else np.exp(mean) / norm
        factors.append(factor)
        out = clip([(tf.constant([0.0, norm]), variable)])[0][0].numpy()
        np.testing.assert_allclose(out, [0.0, norm * factor], rtol=1e-5)
        assert float(clip.mean.numpy()) == pytest.approx(mean, rel=1e-5)
        assert float(clip.sq_mean.numpy()) == pytest.approx(sq_mean, rel=1e-5)
        step.assign_add(1)
    # The first norm seeds the statistics; the spike of 100 is cut down to about exp(mean).
    assert factors[0] == 1.0 and factors[3] == 1.0
    assert factors[2] < 0.2


def test_adaptive_clipping_static_cap():
    clip = adaptive_clipping_fn(static_max_norm=0.5)
    out = clip([(tf.constant([3.0, 4.0]), tf.Variable([0.0, 0.0]))])[0][0].numpy()
    assert np.linalg.norm(out) == pytest.approx(0.5, rel=1e-5)


def test_adaptive_clipping_passes_none_through():
    clip = adaptive_clipping_fn()
    unused = tf.Variable(1.0)
    result = clip([(tf.constant([3.0, 4.0]), tf.Variable([0.0, 0.0])), (None, unused)])
    assert result[1] == (None, unused)


@pytest.mark.parametrize(
    ("arguments", "argument", "shown"),
    [
        ({"std_factor": "2"}, "std_factor", "'2' (str)"),
        ({"std_factor": float("nan")}, "std_factor", "nan (float)"),
        ({"decay": 1.5}, "decay", "1.5 (float)"),
        ({"decay": -0.1}, "decay", "-0.1 (float)"),
        ({"static_max_norm": 0.0}, "static_max_norm", "0.0 (float)"),
        ({"static_max_norm": float("inf")}, "static_max_norm", "inf (float)"),
        ({"epsilon": 0}, "epsilon", "0 (int)"),
        ({"report_summary": "yes"}, "report_summary", "'yes' (str)"),
        ({"name": 5}, "name", "5 (int)"),
    ],
)
def test_adaptive_clipping_arguments_are_checked_when_built(arguments, argument, shown):
    with pytest.raises(ValueError) as error:
        adaptive_clipping_fn(**arguments)
    message = str(error.value)
    assert message.startswith(argument + ": got ")
    assert shown in message
    assert "accepted" in message


def test_adaptive_clipping_global_step_must_be_an_integer_scalar():
    with pytest.raises(TypeError, match="global_step: got 3 \\(int\\)"):
        adaptive_clipping_fn(global_step=3)
    with pytest.raises(TypeError, match="does not have integer type"):
        adaptive_clipping_fn(global_step=tf.Variable(0.0))
