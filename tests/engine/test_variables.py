"""Finding and naming variables in TF 2 mode."""

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
    with pytest.raises(ValueError, match=r"mult: key '\[' matches no variable.*'a'"):
        match_variable_key("[", [a], "mult")  # an invalid pattern is just an unknown name
    with pytest.raises(ValueError, match="matches no variable"):
        match_variable_key(other.ref(), [a], "mult")
    with pytest.raises(TypeError, match="mult: key 3"):
        match_variable_key(3, [a], "mult")
