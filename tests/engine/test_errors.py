"""Every bad argument is an error that names the argument, the value received and what is
accepted, raised before any state is touched."""

import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss


def loss_and_variable():
    w = tf.Variable(2.0, name="w")
    return w, (lambda: w * w)


@pytest.mark.parametrize(
    ("arguments", "argument", "shown"),
    [
        ({"learning_rate": -0.5}, "learning_rate", "-0.5"),
        ({"learning_rate": "fast"}, "learning_rate", "'fast'"),
        ({"optimizer": "Adamm"}, "optimizer", "'Adamm'"),
        ({"optimizer": 3}, "optimizer", "3 (int)"),
        ({"clip_gradients": 0}, "clip_gradients", "0 (int)"),
        ({"clip_gradients": "1"}, "clip_gradients", "'1'"),
        ({"gradient_noise_scale": -1.0}, "gradient_noise_scale", "-1.0"),
        ({"summaries": ["loss", "norm"]}, "summaries", "'norm'"),
        ({"summaries": "loss"}, "summaries", "'loss'"),
        ({"gradient_multipliers": [1.0]}, "gradient_multipliers", "[1.0]"),
        ({"gradient_multipliers": {"v": 1.0}}, "gradient_multipliers", "'v'"),
        ({"update_ops": [1]}, "update_ops", "1 (int)"),
    ],
)
def test_messages_name_argument_value_and_what_is_accepted(arguments, argument, shown):
    w, loss = loss_and_variable()
    call = {"learning_rate": 0.1, "optimizer": "SGD", **arguments}
    with pytest.raises(ValueError) as error:
        optimize_loss(loss, None, call.pop("learning_rate"), call.pop("optimizer"), **call)
    message = str(error.value)
    assert message.startswith(argument)
    assert shown in message
    assert "accepted" in message
    assert float(w.numpy()) == 2.0  # nothing was applied


def test_a_failed_setting_keeps_the_previous_value_and_the_history():
    w, loss = loss_and_variable()
    train = optimize_loss(loss, None, 0.1, "SGD", clip_gradients=1.0)
    history = train.run_steps(3)
    for attribute, value in [("learning_rate", -1.0), ("clip_norm", -2.0)]:
        with pytest.raises(ValueError, match=attribute.replace("clip_norm", "clip_gradients")):
            setattr(train, attribute, value)
    assert train.learning_rate == pytest.approx(0.1)
    assert train.clip_norm == 1.0
    assert len(history["loss"]) == 3
    assert train.metrics["loss"] == pytest.approx(float(history["loss"][-1]))


@pytest.mark.parametrize(
    ("arguments", "argument", "shown"),
    [
        ({"learning_rate": float("inf")}, "learning_rate", "inf (float)"),
        ({"learning_rate": float("nan")}, "learning_rate", "nan (float)"),
        ({"gradient_multipliers": {"w": "abc"}}, "gradient_multipliers", "'abc' (str)"),
        ({"gradient_multipliers": {"w": float("nan")}}, "gradient_multipliers", "nan (float)"),
        ({"gradient_multipliers": {"w": float("inf")}}, "gradient_multipliers", "inf (float)"),
        ({"learning_rate_decay_fn": "exp"}, "learning_rate_decay_fn", "'exp' (str)"),
        ({"gradient_noise_seed": "abc"}, "gradient_noise_seed", "'abc' (str)"),
        ({"gradient_noise_seed": 2**70}, "gradient_noise_seed", str(2**70)),
        ({"gradient_noise_seed": -1}, "gradient_noise_seed", "-1 (int)"),
        ({"gradient_noise_seed": 1.5}, "gradient_noise_seed", "1.5 (float)"),
        ({"gradient_noise_scale": float("inf")}, "gradient_noise_scale", "inf (float)"),
        ({"gradient_noise_scale": "0.1"}, "gradient_noise_scale", "'0.1' (str)"),
        ({"clip_gradients": float("inf")}, "clip_gradients", "inf (float)"),
        ({"variables": ["w"]}, "variables[0]", "'w' (str)"),
        ({"variables": "w"}, "variables", "'w' (str)"),
        ({"name": 3}, "name", "3 (int)"),
        ({"name": ""}, "name", "'' (str)"),
        ({"increment_global_step": "yes"}, "increment_global_step", "'yes' (str)"),
        ({"update_ops": 5}, "update_ops", "5 (int)"),
    ],
)
def test_values_the_engine_used_to_let_through(arguments, argument, shown):
    w, loss = loss_and_variable()
    call = {"learning_rate": 0.1, "optimizer": "SGD", **arguments}
    with pytest.raises(ValueError) as error:
        optimize_loss(loss, None, call.pop("learning_rate"), call.pop("optimizer"), **call)
    message = str(error.value)
    assert message.startswith(argument + ":")
    assert shown in message
    assert "accepted" in message
    assert float(w.numpy()) == 2.0


def test_a_multiplier_key_with_a_bad_value_is_named():
    w, loss = loss_and_variable()
    with pytest.raises(ValueError) as error:
        optimize_loss(loss, None, 0.1, "SGD", gradient_multipliers={"w": "abc"})
    assert str(error.value) == (
        "gradient_multipliers: the value for key 'w' is 'abc' (str); accepted: a finite float "
        "or int, or a scalar numeric Tensor, e.g. {'dense/kernel': 0.1}."
    )


def test_an_invalid_regular_expression_key_is_not_reported_as_matching_nothing():
    w, loss = loss_and_variable()
    for key in ["(", "(" * 5000 + ")" * 5000]:
        with pytest.raises(ValueError, match="not a valid regular expression") as error:
            optimize_loss(loss, None, 0.1, "SGD", gradient_multipliers={key: 0.5})
        assert "matches no variable" not in str(error.value)


@pytest.mark.parametrize(
    ("attribute", "value", "argument", "shown"),
    [
        ("learning_rate", float("inf"), "learning_rate", "inf (float)"),
        ("learning_rate", "0.1", "learning_rate", "'0.1' (str)"),
        ("gradient_noise_scale", "x", "gradient_noise_scale", "'x' (str)"),
        ("gradient_noise_scale", "0.5", "gradient_noise_scale", "'0.5' (str)"),
        ("gradient_noise_scale", float("inf"), "gradient_noise_scale", "inf (float)"),
        ("gradient_noise_scale", -0.5, "gradient_noise_scale", "-0.5 (float)"),
        ("gradient_noise_scale", None, "gradient_noise_scale", "None"),
        ("clip_norm", "x", "clip_norm", "'x' (str)"),
        ("clip_norm", float("inf"), "clip_norm", "inf (float)"),
        ("clip_norm", -1.0, "clip_norm", "-1.0 (float)"),
        ("clip_norm", float("nan"), "clip_norm", "nan (float)"),
        ("clip_norm", lambda pairs: pairs, "clip_norm", "lambda"),
    ],
)
def test_setters_reject_bad_values_and_keep_the_old_one(attribute, value, argument, shown):
    w, loss = loss_and_variable()
    train = optimize_loss(
        loss, None, 0.1, "SGD", clip_gradients=1.0, gradient_noise_scale=0.0, gradient_noise_seed=1
    )
    train()
    before = (train.learning_rate, train.gradient_noise_scale, train.clip_norm)
    with pytest.raises(ValueError) as error:
        setattr(train, attribute, value)
    message = str(error.value)
    assert message.startswith(argument)
    assert shown in message
    assert "accepted" in message
    assert (train.learning_rate, train.gradient_noise_scale, train.clip_norm) == before
    weights = float(w.numpy())
    train()
    assert np.isfinite(float(w.numpy())) and float(w.numpy()) != weights


def test_graph_mode_rejects_names_as_variables_and_bad_values():
    with tf.Graph().as_default():
        v = tf.compat.v1.get_variable("v", [], initializer=tf.compat.v1.constant_initializer(1.0))
        loss = v * v
        for arguments, argument in [
            ({"variables": ["v"]}, "variables[0]"),
            ({"learning_rate": float("inf")}, "learning_rate"),
            ({"gradient_multipliers": {"v": float("nan")}}, "gradient_multipliers"),
            ({"gradient_multipliers": [0.5]}, "gradient_multipliers"),
            ({"learning_rate_decay_fn": "exp"}, "learning_rate_decay_fn"),
            ({"gradient_noise_seed": 2**70}, "gradient_noise_seed"),
        ]:
            call = {"learning_rate": 0.1, **arguments}
            with pytest.raises(ValueError) as error:
                optimize_loss(loss, None, call.pop("learning_rate"), "SGD", **call)
            assert str(error.value).startswith(argument + ":")
            assert "accepted" in str(error.value)
