"""Every bad argument is an error that names the argument, the value received and what is
accepted, raised before any state is touched."""

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
