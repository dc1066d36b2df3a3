"""XLA in the TF 2 train op: the same numbers with and without it, and when it is not used."""

import numpy as np
import pytest
import tensorflow as tf

from olexplore import adaptive_clipping_fn, decay_function, optimize_loss
from olexplore.engine import train_op as train_op_module

v1 = tf.compat.v1
STEPS = 500


def mlp_problem(seed=0):
    """A 6-12-3 MLP on 32 fixed examples, its weights from a NumPy generator."""
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(32, 6)), tf.float32)
    y = tf.constant(rng.integers(0, 3, size=32), tf.int32)
    w1 = tf.Variable(rng.normal(scale=0.5, size=(6, 12)), dtype=tf.float32, name="dense/kernel")
    b1 = tf.Variable(np.zeros(12), dtype=tf.float32, name="dense/bias")
    w2 = tf.Variable(rng.normal(scale=0.5, size=(12, 3)), dtype=tf.float32, name="out/kernel")

    def loss():
        logits = tf.nn.relu(x @ w1 + b1) @ w2
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))

    return loss, [w1, b1, w2]


def _exponential():
    return decay_function("exponential_decay", decay_steps=100, decay_rate=0.5)


SCENARIOS = {
    # a v1 optimizer with noise, multipliers, global-norm clipping and a decay
    "v1_adam_noise_multipliers_clip_decay": lambda: dict(
        optimizer="Adam",
        learning_rate=0.01,
        gradient_noise_scale=0.05,
        gradient_noise_seed=7,
        gradient_multipliers={"out/kernel": 0.5},
        clip_gradients=0.5,
        learning_rate_decay_fn=_exponential(),
    ),
    # v1 Momentum with adaptive clipping. Adaptive clipping switches at norm == max_norm, so
    # a rounding difference on a step whose norm is within ~1e-7 of the bound changes that step
    # by a finite amount; the default std_factor keeps this run's norms away from the bound
    # (std_factor=0.5 met it within 1e-7 at step 492, and from there the runs part).
    "v1_momentum_adaptive": lambda: dict(
        optimizer=lambda lr: v1.train.MomentumOptimizer(lr, 0.9),
        learning_rate=0.05,
        clip_gradients=adaptive_clipping_fn(),
    ),
    # a Keras optimizer with seeded noise, global-norm clipping and a decay
    "keras_adam_noise_clip_decay": lambda: dict(
        optimizer=tf.keras.optimizers.Adam,
        learning_rate=0.01,
        gradient_noise_scale=0.05,
        gradient_noise_seed=3,
        clip_gradients=1.0,
        learning_rate_decay_fn=_exponential(),
    ),
    # a Keras optimizer with adaptive clipping
    "keras_sgd_adaptive": lambda: dict(
        optimizer=tf.keras.optimizers.SGD,
        learning_rate=0.1,
        clip_gradients=adaptive_clipping_fn(decay=0.9),
    ),
}


def train(name, jit_compile, steps=STEPS):
    loss, variables = mlp_problem()
    op = optimize_loss(loss, None, jit_compile=jit_compile, **SCENARIOS[name]())
    history = op.run_steps(steps)
    return op, history, [v.numpy() for v in variables]


def assert_close_to_largest(actual, expected, name):
    """Agreement to 1e-5 of the array's largest magnitude."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected)))
    error = float(np.max(np.abs(actual - expected)))
    assert error <= 1e-5 * scale, (name, error, scale)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_xla_gives_the_plain_numbers_over_500_steps(name):
    xla_op, xla_history, xla_weights = train(name, True)
    plain_op, plain_history, plain_weights = train(name, False)
    assert xla_op.compile_info.xla and not plain_op.compile_info.xla
    assert sorted(xla_history) == sorted(plain_history)
    for metric, values in plain_history.items():
        assert len(xla_history[metric]) == STEPS
        assert_close_to_largest(xla_history[metric], values, metric)
    for index, weights in enumerate(plain_weights):
        assert_close_to_largest(xla_weights[index], weights, f"weight {index}")
    # the runs trained: the loss fell by more than the tolerance allows
    assert plain_history["loss"][-1] < 0.9 * plain_history["loss"][0]
    if "clipped_global_norm" in plain_history:  # the clipping acted on some steps
        clipped = plain_history["clipped_global_norm"] < plain_history["global_norm"] - 1e-4
        assert clipped.any()
    assert int(xla_op.iterations) == int(plain_op.iterations) == STEPS


@pytest.mark.parametrize("jit_compile", [True, False])
def test_same_settings_and_seed_are_bit_identical_between_two_runs(jit_compile):
    name = "keras_adam_noise_clip_decay"
    _, first, first_weights = train(name, jit_compile, steps=100)
    _, second, second_weights = train(name, jit_compile, steps=100)
    for metric, values in first.items():
        np.testing.assert_array_equal(second[metric], values)
    for a, b in zip(first_weights, second_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_per_call_xla_steps_continue_the_fused_ones():
    loss, variables = mlp_problem()
    op = optimize_loss(loss, None, jit_compile=True, **SCENARIOS["v1_momentum_adaptive"]())
    reference_loss, reference_variables = mlp_problem()
    reference = optimize_loss(
        reference_loss, None, jit_compile=False, **SCENARIOS["v1_momentum_adaptive"]()
    )
    fused = op.run_steps(10)
    singles = [float(op()) for _ in range(5)]
    expected = reference.run_steps(15)["loss"]
    assert op.compile_info.xla
    assert_close_to_largest(np.concatenate([fused["loss"], singles]), expected, "loss")
    assert op.metrics["global_norm"] == pytest.approx(
        float(reference.metrics["global_norm"]), rel=1e-5
    )


def test_auto_is_the_default_and_uses_xla_where_the_step_compiles():
    loss, _ = mlp_problem()
    op = optimize_loss(loss, None, 0.01, "SGD")
    assert op.jit_compile == "auto"
    assert op.compile_info == train_op_module.CompileInfo(xla=False, reason="no step has run yet")
    op.run_steps(3)
    assert op.compile_info == train_op_module.CompileInfo(xla=True, reason=None)
    op.run_steps(3, jit_compile=False)
    assert op.compile_info == train_op_module.CompileInfo(xla=False, reason="jit_compile=False")
    assert int(op.iterations) == 6


def test_chunk_sizes_within_a_power_of_two_share_one_compiled_loop():
    loss, _ = mlp_problem()
    op = optimize_loss(loss, None, 0.01, "SGD", jit_compile=True)
    op.run_steps(5)  # warm-up: MIN_BUCKET (256) rows
    warm = op.tracing_count
    for steps in (1, 2, 4, 8, 33, 200, 256, 3):  # an explorer ramping its chunks up
        assert len(op.run_steps(steps)["loss"]) == steps
    assert op.tracing_count == warm
    # a run whose chunks range over 1..512 steps adds one size (512 rows), and no more
    for steps in (300, 35, 512, 260, 5):
        assert len(op.run_steps(steps)["loss"]) == steps
    assert op.tracing_count - warm == 1
    assert int(op.iterations) == 5 + 507 + 1112


def test_calls_longer_than_the_largest_bucket_run_as_several(monkeypatch):
    monkeypatch.setattr(train_op_module, "MAX_BUCKET", 4)
    w = tf.Variable([1.0, -2.0])
    op = optimize_loss(lambda: tf.reduce_sum(w * w), None, 0.1, "SGD", jit_compile=True)
    history = op.run_steps(10, record=lambda: {"w": w})
    assert op.compile_info.xla
    expected_w = [[1.0 * 0.8**k, -2.0 * 0.8**k] for k in range(1, 11)]
    np.testing.assert_allclose(history["w"], expected_w, rtol=1e-5)
    np.testing.assert_allclose(history["loss"], [5.0 * 0.64**k for k in range(10)], rtol=1e-5)
    assert int(op.iterations) == 10


def test_xla_loop_stops_on_divergence_like_the_plain_one():
    w = tf.Variable(1.0)
    histories = []
    for jit_compile in (True, False):
        w.assign(1.0)
        op = optimize_loss(lambda: w**4, None, 10.0, "SGD", jit_compile=jit_compile)
        histories.append(op.run_steps(50, stop_on_nonfinite=True))
    assert len(histories[0]["loss"]) == len(histories[1]["loss"]) < 50
    for history in histories:  # the last step's loss or gradient norm is infinite or NaN
        assert not np.isfinite(history["loss"][-1] * history["global_norm"][-1])
    np.testing.assert_allclose(histories[0]["loss"][:-1], histories[1]["loss"][:-1], rtol=1e-5)


def _py_function_problem():
    w = tf.Variable(2.0)

    def loss():
        doubled = tf.py_function(lambda value: 2.0 * value, [w], tf.float32)
        return tf.reshape(doubled, []) * w

    return w, loss


def test_auto_falls_back_when_the_loss_has_no_xla_kernel_and_loses_no_step():
    w, loss = _py_function_problem()
    op = optimize_loss(loss, None, 0.1, "SGD")
    history = op.run_steps(3)
    assert op.compile_info.xla is False
    assert op.compile_info.reason == (
        "the step uses EagerPyFunc, which has no XLA kernel (a tf.py_function in the loss)"
    )
    # loss 2 w^2, gradient 4 w: w = 2 -> 1.2 -> 0.72 -> 0.432, each step applied once
    np.testing.assert_allclose(history["loss"], [8.0, 2.88, 1.0368], rtol=1e-6)
    assert float(w.numpy()) == pytest.approx(0.432)
    assert int(op.iterations) == 3
    float(op())  # the per-call step no longer tries XLA either
    assert op.compile_info.reason.startswith("the step uses EagerPyFunc")
    assert float(w.numpy()) == pytest.approx(0.2592)


def test_a_failed_compilation_changes_no_variable():
    w, loss = _py_function_problem()
    op = optimize_loss(loss, None, 0.1, "Adam", jit_compile=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="EagerPyFunc"):
        op.run_steps(3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="EagerPyFunc"):
        op()
    assert float(w.numpy()) == 2.0
    assert int(op.iterations) == 0 and int(op.global_step) == 0


def test_summaries_and_datasets_run_the_plain_path_and_say_why(tmp_path):
    w = tf.Variable(3.0)
    op = optimize_loss(lambda x: w * w * x, None, 0.1, "SGD")
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        op(tf.constant(1.0))
        assert op.compile_info == train_op_module.CompileInfo(
            xla=False,
            reason="summaries are written to a tf.summary writer (XLA cannot compile summary ops)",
        )
        with pytest.raises(ValueError, match=r"jit_compile: got True, but summaries are written"):
            op.run_steps(2, tf.constant(1.0), jit_compile=True)
    dataset = tf.data.Dataset.from_tensor_slices(tf.ones([4]))
    assert len(op.run_steps(10, data=dataset)["loss"]) == 4
    assert op.compile_info.reason == (
        "the data comes from a tf.data iterator (XLA cannot compile iterator ops)"
    )
    op(tf.constant(1.0))
    assert op.compile_info.xla
    assert int(op.iterations) == 6


@pytest.mark.parametrize("value", ["yes", 1, None, "AUTO"])
def test_bad_jit_compile_values_are_named(value):
    w = tf.Variable(1.0)
    with pytest.raises(ValueError, match=r"jit_compile: got .*accepted: True, False or 'auto'"):
        optimize_loss(lambda: w * w, None, 0.1, "SGD", jit_compile=value)
    op = optimize_loss(lambda: w * w, None, 0.1, "SGD")
    if value is None:
        op.run_steps(1, jit_compile=value)  # None: the op's own setting
        assert op.compile_info.xla
    else:
        with pytest.raises(ValueError, match=r"jit_compile: got .*\(None: the train op's own"):
            op.run_steps(1, jit_compile=value)


def test_graph_mode_refuses_true_and_ignores_auto_and_false():
    with tf.Graph().as_default():
        w = v1.get_variable("w", initializer=1.0)
        loss = w * w
        step = v1.train.get_or_create_global_step()
        with pytest.raises(ValueError, match=r"jit_compile: got True in graph mode"):
            optimize_loss(loss, step, 0.1, "SGD", jit_compile=True)
        for value in ("auto", False):
            assert isinstance(optimize_loss(loss, step, 0.1, "SGD", jit_compile=value), tf.Tensor)
