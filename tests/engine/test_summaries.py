"""Summaries written by optimize_loss, read back with TensorBoard's own event reader."""

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from olexplore import adaptive_clipping_fn, optimize_loss

v1 = tf.compat.v1


def read_events(logdir):
    accumulator = EventAccumulator(
        str(logdir), size_guidance={"tensors": 0, "scalars": 0, "histograms": 0}
    )
    accumulator.Reload()
    return accumulator


def tensor_series(accumulator, tag):
    return [
        (event.step, float(tf.make_ndarray(event.tensor_proto)))
        for event in accumulator.Tensors(tag)
    ]


def test_tf2_summaries_have_tf1_tags_and_values(tmp_path):
    w = tf.Variable([3.0, 4.0], name="w")
    train = optimize_loss(
        lambda: tf.reduce_sum(w * w) / 2,
        None,
        0.1,
        "SGD",
        clip_gradients=1.0,
        summaries=["loss", "learning_rate", "gradient_norm", "global_gradient_norm", "gradients"],
    )
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        train()
        train.run_steps(2)
    writer.flush()
    events = read_events(tmp_path)
    assert set(events.Tags()["tensors"]) == {
        "OptimizeLoss/loss",
        "OptimizeLoss/learning_rate",
        "OptimizeLoss/global_norm/gradient_norm",
        "OptimizeLoss/global_norm/clipped_gradient_norm",
        "OptimizeLoss/gradient_norm/w_0",
        "OptimizeLoss/gradients/w_0",
    }
    losses = tensor_series(events, "OptimizeLoss/loss")
    assert [step for step, _ in losses] == [0, 1, 2]
    assert losses[0][1] == pytest.approx(12.5)
    norms = tensor_series(events, "OptimizeLoss/global_norm/gradient_norm")
    assert norms[0][1] == pytest.approx(5.0)
    assert norms[1][1] == pytest.approx(4.9)  # after one clipped step of length 0.1
    clipped = tensor_series(events, "OptimizeLoss/global_norm/clipped_gradient_norm")
    assert [value for _, value in clipped] == pytest.approx([1.0, 1.0, 1.0])
    assert tensor_series(events, "OptimizeLoss/learning_rate")[0][1] == pytest.approx(0.1)


def test_learning_rate_summary_is_written_without_decay_and_with_it(tmp_path):
    w = tf.Variable(1.0)
    train = optimize_loss(
        lambda: w,
        None,
        0.4,
        "SGD",
        name="Decayed",
        summaries=["learning_rate"],
        learning_rate_decay_fn=lambda lr, gs: lr / tf.cast(gs + 1, tf.float32),
    )
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        train.run_steps(3)
    writer.flush()
    rates = tensor_series(read_events(tmp_path), "Decayed/learning_rate")
    assert [value for _, value in rates] == pytest.approx([0.4, 0.2, 0.4 / 3])


def test_adaptive_max_norm_summary_in_tf2_mode(tmp_path):
    w = tf.Variable(10.0)
    train = optimize_loss(
        lambda: tf.abs(5.0 * w),
        None,
        0.1,
        "SGD",
        summaries=[],
        clip_gradients=adaptive_clipping_fn(report_summary=True),
    )
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        train()
    writer.flush()
    series = tensor_series(
        read_events(tmp_path), "OptimizeLoss/global_norm/adaptive_max_gradient_norm"
    )
    assert series[0][1] == pytest.approx(2.1858, abs=1e-3)


def test_no_writer_no_files_and_a_writer_set_later_is_used(tmp_path):
    w = tf.Variable(1.0)
    train = optimize_loss(lambda: w * w, None, 0.1, "SGD")
    train()  # traced without a writer
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        train()
    writer.flush()
    losses = tensor_series(read_events(tmp_path), "OptimizeLoss/loss")
    assert losses == [(1, pytest.approx(0.64))]


def test_graph_mode_summaries_through_a_file_writer(tmp_path):
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [])
        var = v1.get_variable("test", [], initializer=v1.constant_initializer(10.0))
        step = v1.train.get_or_create_global_step()
        train = optimize_loss(tf.abs(var * x), step, 0.1, "SGD")
        merged = v1.summary.merge_all()
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            writer = v1.summary.FileWriter(str(tmp_path))
            for _ in range(2):
                _, summary, step_value = session.run([train, merged, step], {x: 5.0})
                writer.add_summary(summary, step_value)
            writer.close()
    events = read_events(tmp_path)
    assert sorted(events.Tags()["scalars"]) == [
        "OptimizeLoss/global_norm/gradient_norm",
        "OptimizeLoss/learning_rate_1",
        "OptimizeLoss/loss",
    ]
    losses = [event.value for event in events.Scalars("OptimizeLoss/loss")]
    np.testing.assert_allclose(losses, [50.0, 47.5])
