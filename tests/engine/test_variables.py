"""Finding and naming variables in TF 2 mode."""

import re

import keras
import pytest
import tensorflow as tf

from olexplore.engine.variables import (
    as_tf_variable,
    match_variable_key,
    resolve_variable_mapping,
    touched_trainable_variables,
    variable_name,
)


def test_keras_variables_are_unwrapped_and_others_rejected():
    layer = keras.layers.Dense(2, name="dense_for_test")
    layer.build((None, 3))
    assert as_tf_variable(layer.kernel) is layer.kernel.value
    assert variable_name(layer.kernel) == "dense_for_test/kernel"
    with pytest.raises(TypeError, match="got 3"):
        as_tf_variable(3)


def test_touched_variables_in_creation_order_without_duplicates():
    a, b = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b")
    tf.Variable(3.0, name="untouched")
    found = touched_trainable_variables(lambda s: b * a + b * s, 3.0)
    assert [variable_name(v) for v in found] == ["a", "b"]


def test_exact_names_win_over_patterns_whatever_the_order():
    a = tf.Variable(1.0, name="layer/kernel")
    b = tf.Variable(1.0, name="layer/bias")
    resolved = resolve_variable_mapping({"layer/.*": 0.5, "layer/bias": 2.0}, [a, b], "mult")
    assert resolved == {a.ref(): 0.5, b.ref(): 2.0}


def test_keys_that_match_nothing_or_have_a_wrong_type():
    a = tf.Variable(1.0, name="a")
    other = tf.Variable(1.0, name="other")
    with pytest.raises(ValueError, match=r"mult: key 'zz' matches no variable.*'a'"):
        match_variable_key("zz", [a], "mult")
    with pytest.raises(ValueError, match="matches no variable"):
        match_variable_key(other.ref(), [a], "mult")
    with pytest.raises(TypeError, match="mult: key 3"):
        match_variable_key(3, [a], "mult")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("(", r"missing \), unterminated subpattern at position 0"),
        ("[", "unterminated character set at position 0"),
        ("a{2,1}", "min repeat greater than max repeat"),
        ("(" * 5000 + ")" * 5000, "too deeply nested or too large"),
    ],
)
def test_an_invalid_regular_expression_is_reported_as_one(key, reason):
    a = tf.Variable(1.0, name="a")
    with pytest.raises(ValueError) as error:
        match_variable_key(key, [a], "mult")
    message = str(error.value)
    assert message.startswith("mult: key ")
    assert "is not the name of a variable being optimized and not a valid regular expression" in (
        message
    )
    assert re.search(reason, message)
    assert "matches no variable" not in message
    assert message.endswith("these names: 'a'")
    assert len(message) < 400  # a 10,000-character key is shortened
