"""The gradient pipeline (engine/pipeline.py): TF 1's order, run by graph mode and TF 2 mode."""

import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss
from olexplore.engine import graph_mode, pipeline, step
from olexplore.engine.pipeline import chain, clip_transform, gradient_pipeline, run_pipeline
from olexplore.engine.transforms import GradientTransform, StepContext, add_noise

v1 = tf.compat.v1


def test_chain_runs_in_order_and_keeps_each_transforms_state():
    log = []

    def recorder(name):
        def init(variables):
            return f"{name}-state"

        def update(pairs, state, context):
            log.append((name, state))
            return [(g + 1.0, v) for g, v in pairs]

        return GradientTransform(init, update)

    both = chain(recorder("first"), None, recorder("second"))
    state = both.init([])
    assert state == ("first-state", "second-state")
    assert both.update([(1.0, "w")], state, StepContext()) == [(3.0, "w")]
    assert log == [("first", "first-state"), ("second", "second-state")]


def test_noise_comes_before_clipping_as_in_tf1():
    # TF 1's testGradientNoiseWithClipping: noise pushes the gradient up, clipping caps it.
    gradient = tf.constant([10.0])
    noisy = gradient_pipeline(noise=add_noise(100.0, seed=3), clip=clip_transform(10.0))
    pairs, metrics = run_pipeline(noisy, noisy.init([]), [(gradient, None)])
    assert float(metrics["global_norm"]) > 10.0  # the noise was added before the norm
    assert float(metrics["clipped_global_norm"]) == pytest.approx(10.0)
    assert float(tf.norm(pairs[0][0])) == pytest.approx(10.0)


def test_multipliers_come_before_the_norm_and_the_clip():
    w = tf.Variable([3.0, 4.0])
    both = gradient_pipeline(multipliers={w.ref(): 2.0}, clip=clip_transform(5.0))
    pairs, metrics = run_pipeline(both, both.init([w]), [(tf.constant([3.0, 4.0]), w)])
    np.testing.assert_allclose(pairs[0][0].numpy(), [3.0, 4.0])  # [6, 8] clipped to norm 5
    assert float(metrics["global_norm"]) == pytest.approx(10.0)
    assert float(metrics["clipped_global_norm"]) == pytest.approx(5.0)


@pytest.fixture
def built_pipelines(monkeypatch):
    built = []

    def spy(**kwargs):
        built.append(sorted(k for k, value in kwargs.items() if value is not None))
        return pipeline.gradient_pipeline(**kwargs)

    monkeypatch.setattr(graph_mode, "gradient_pipeline", spy)
    monkeypatch.setattr(step, "gradient_pipeline", spy)
    return built


def test_both_modes_build_the_same_pipeline_and_get_the_same_numbers(built_pipelines):
    # loss = |w|^2 / 2, gradient w = [3, 4]; x2 -> [6, 8] (norm 10); clipped to 5 -> [3, 4];
    # SGD at 0.1 -> w = [2.7, 3.6].
    w = tf.Variable([3.0, 4.0], name="w")
    train = optimize_loss(
        lambda: 0.5 * tf.reduce_sum(w * w),
        None,
        0.1,
        "SGD",
        gradient_multipliers={"w": 2.0},
        clip_gradients=5.0,
    )
    train()
    np.testing.assert_allclose(w.numpy(), [2.7, 3.6], rtol=1e-6)
    assert train.metrics["global_norm"] == pytest.approx(10.0)
    assert train.metrics["clipped_global_norm"] == pytest.approx(5.0)

    with tf.Graph().as_default():
        gw = tf.Variable([3.0, 4.0], name="w")
        v1.train.get_or_create_global_step()
        train_tensor = optimize_loss(
            0.5 * tf.reduce_sum(gw * gw),
            None,
            0.1,
            "SGD",
            gradient_multipliers={"w": 2.0},
            clip_gradients=5.0,
        )
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(train_tensor)
            np.testing.assert_allclose(session.run(gw), [2.7, 3.6], rtol=1e-6)
    assert built_pipelines == [["clip", "multipliers"], ["clip", "multipliers"]]
