"""The tf.contrib.opt ports as the optimizer of optimize_loss, in both modes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss
from olexplore.opt import MovingAverageOptimizer, VariableClippingOptimizer

v1 = tf.compat.v1
GRADIENT = np.array([0.1, 0.1], np.float32)
# SGD at rate 2 on a constant gradient of 0.1: [1, 2] -> [0.8, 1.8] -> [0.6, 1.6]; averages with
# decay 0.5 start at the initial value: [0.9, 1.9] then [0.75, 1.75].
AFTER_TWO_STEPS = [0.6, 1.6]
AVERAGE_AFTER_TWO = [0.75, 1.75]


def moving_average_factory(lr):
    return MovingAverageOptimizer(v1.train.GradientDescentOptimizer(lr), average_decay=0.5)


def test_moving_average_in_graph_mode():
    with tf.Graph().as_default():
        var = v1.get_variable("w", initializer=np.array([1.0, 2.0], np.float32))
        step = v1.train.get_or_create_global_step()
        train = optimize_loss(tf.reduce_sum(GRADIENT * var), step, 2.0, moving_average_factory)
        optimizer = [op for op in v1.global_variables() if "ExponentialMovingAverage" in op.name]
        # Created inside optimize_loss's variable scope, as TF 1's slot creator did.
        assert [v.name for v in optimizer] == ["OptimizeLoss/w/ExponentialMovingAverage:0"]
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(train)
            session.run(train)
            np.testing.assert_allclose(session.run(var), AFTER_TWO_STEPS, rtol=1e-6)
            np.testing.assert_allclose(session.run(optimizer[0]), AVERAGE_AFTER_TWO, rtol=1e-6)
            assert session.run(step) == 2


@pytest.mark.parametrize("inner", ["v1", "keras"])
def test_moving_average_in_tf2_mode(inner):
    var = tf.Variable([1.0, 2.0], name="w")
    optimizer = MovingAverageOptimizer(
        v1.train.GradientDescentOptimizer(2.0) if inner == "v1" else keras.optimizers.SGD(2.0),
        average_decay=0.5,
    )
    train = optimize_loss(lambda: tf.reduce_sum(GRADIENT * var), None, None, optimizer)
    history = train.run_steps(2)
    np.testing.assert_allclose(var.numpy(), AFTER_TWO_STEPS, rtol=1e-6)
    np.testing.assert_allclose(optimizer.average(var).numpy(), AVERAGE_AFTER_TWO, rtol=1e-6)
    assert int(train.global_step.numpy()) == 2
    np.testing.assert_allclose(history["learning_rate"], [2.0, 2.0])
    with optimizer.swap_averages():
        np.testing.assert_allclose(var.numpy(), AVERAGE_AFTER_TWO, rtol=1e-6)
    np.testing.assert_allclose(var.numpy(), AFTER_TWO_STEPS, rtol=1e-6)


def test_variable_clipping_in_graph_mode_with_gradient_clipping():
    with tf.Graph().as_default():
        var = v1.get_variable("w", initializer=np.array([3.0, 4.0], np.float32))
        step = v1.train.get_or_create_global_step()
        optimizer = VariableClippingOptimizer(
            v1.train.GradientDescentOptimizer(1.0), {var: [0]}, max_norm=1.0
        )
        train = optimize_loss(tf.reduce_sum(var) * 0.0, step, None, optimizer, clip_gradients=1.0)
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(train)
            np.testing.assert_allclose(session.run(var), [0.6, 0.8], rtol=1e-6)
            assert session.run(step) == 1


def test_chained_wrappers_in_tf2_mode():
    var = tf.Variable([3.0, 4.0], name="w")
    clipping = VariableClippingOptimizer(
        v1.train.GradientDescentOptimizer(1.0), {"w": [0]}, max_norm=1.0
    )
    optimizer = MovingAverageOptimizer(clipping, average_decay=0.5)
    train = optimize_loss(lambda: tf.reduce_sum(var) * 0.0, None, None, optimizer)
    train()
    np.testing.assert_allclose(var.numpy(), [0.6, 0.8], rtol=1e-6)
    # The average follows the clipped value: 0.5 * [3, 4] + 0.5 * [0.6, 0.8].
    np.testing.assert_allclose(optimizer.average(var).numpy(), [1.8, 2.4], rtol=1e-6)
