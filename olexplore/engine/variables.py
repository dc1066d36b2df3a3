"""Finding, naming and looking up variables in TF 2 mode.

TF 2 variables are unhashable, Keras 3 variables wrap a ``tf.Variable`` and names carry a ``:0``
suffix: these helpers give every module one way to deal with all three.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from olexplore._compat import distributed_container
from olexplore._tensorflow import tf
from olexplore.engine.validation import describe


def as_tf_variable(variable: Any) -> tf.Variable:
    """Return the ``tf.Variable`` behind ``variable`` (a Keras 3 variable wraps one in ``.value``).

    >>> import keras
    >>> layer = keras.layers.Dense(1)
    >>> layer.build((None, 2))
    >>> isinstance(as_tf_variable(layer.kernel), tf.Variable)
    True
    """
    if isinstance(variable, tf.Variable):
        return variable
    inner = getattr(variable, "value", None)
    if isinstance(inner, tf.Variable):
        return inner
    raise TypeError(
        f"expected a tf.Variable or a Keras variable, got {variable!r} of type "
        f"{type(variable).__name__}"
    )


def check_variable_list(variables: Any, argument: str = "variables") -> list[tf.Variable]:
    """Validate a list of ``tf.Variable`` or Keras variables; return the ``tf.Variable`` of each.

    >>> [v.name for v in check_variable_list([tf.Variable(1.0, name="a")])]
    ['a:0']
    >>> check_variable_list(["a"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: variables[0]: got 'a' (str); accepted: a list of tf.Variable or Keras variables...
    """
    if isinstance(variables, (str, bytes, tf.Variable)) or not isinstance(variables, Iterable):
        raise ValueError(
            f"{argument}: got {describe(variables)}; accepted: a list of "
            f"tf.Variable or Keras variables, e.g. {argument}=[w, b]."
        )
    checked = []
    for index, variable in enumerate(variables):
        try:
            checked.append(as_tf_variable(variable))
        except TypeError:
            raise ValueError(
                f"{argument}[{index}]: got {describe(variable)}; accepted: a list "
                f"of tf.Variable or Keras variables (not their names), e.g. {argument}=[w, b]."
            ) from None
    return checked


def setting_variable(value: Any, name: str, dtype: tf.DType = tf.float32) -> tf.Variable:
    """A non-trainable variable holding a setting (cast to ``dtype``) that changes without retrace.

    >>> rate = setting_variable(0.5, "OptimizeLoss/learning_rate")
    >>> rate.name, rate.trainable, float(rate.numpy())
    ('OptimizeLoss/learning_rate:0', False, 0.5)
    """
    return tf.Variable(tf.cast(value, dtype), trainable=False, name=name)


def variable_name(variable: Any) -> str:
    """Name of a variable without the ``:0`` output suffix.

    >>> variable_name(tf.Variable(1.0, name="weights"))
    'weights'
    """
    return strip_output_suffix(as_tf_variable(variable).name)


def strip_output_suffix(name: str) -> str:
    """``"dense/kernel:0"`` -> ``"dense/kernel"``; other names are returned unchanged.

    >>> strip_output_suffix("dense/kernel:0")
    'dense/kernel'
    """
    return re.sub(r":\d+$", "", name)


def touched_trainable_variables(
    function: Callable[..., Any], *args: Any, **kwargs: Any
) -> list[tf.Variable]:
    """Trainable variables that ``function(*args, **kwargs)`` reads, in creation order.

    Runs the function once, eagerly, under a ``tf.GradientTape`` (as Keras does to discover
    weights), so it must be callable outside a ``tf.function``.

    >>> w = tf.Variable(2.0, name="w")
    >>> frozen = tf.Variable(3.0, name="frozen", trainable=False)
    >>> [v.name for v in touched_trainable_variables(lambda: w * frozen)]
    ['w:0']
    """
    with tf.GradientTape(watch_accessed_variables=True) as tape:
        result = function(*args, **kwargs)
        if isinstance(result, tf.Variable):  # a loss that *is* a variable reads it when used
            result.read_value()
    found: dict[Any, tf.Variable] = {}
    for watched in tape.watched_variables():
        # Under a tf.distribute strategy the tape watches one replica's component.
        variable = distributed_container(as_tf_variable(watched))
        if variable.trainable:
            found.setdefault(variable.ref(), variable)
    return list(found.values())


def _describe_names(variables: Iterable[tf.Variable]) -> str:
    return ", ".join(repr(variable_name(v)) for v in variables) or "(none)"


def match_variable_key(key: Any, variables: list[tf.Variable], argument: str) -> list[tf.Variable]:
    """Variables of ``variables`` that ``key`` designates.

    A key is a variable (or its ``ref()``), a name with or without ``:0``, or a regular
    expression that must match a whole name (without ``:0``). A key that designates nothing is a
    ``ValueError`` naming ``argument`` and listing the known variable names.

    >>> a, b = tf.Variable(1.0, name="layer/kernel"), tf.Variable(2.0, name="layer/bias")
    >>> [variable_name(v) for v in match_variable_key("layer/.*", [a, b], "gradient_multipliers")]
    ['layer/kernel', 'layer/bias']
    """
    if isinstance(key, str):
        exact = strip_output_suffix(key)
        found = [v for v in variables if variable_name(v) == exact]
        if not found:
            pattern = _compile_key(key, exact, variables, argument)
            found = [v for v in variables if pattern.fullmatch(variable_name(v))]
    else:
        wanted = _variable_ref(key, argument)
        found = [v for v in variables if v.ref() == wanted]
    if not found:
        raise ValueError(
            f"{argument}: key {key!r} matches no variable being optimized; "
            f"accepted keys are a variable, its ref(), its name (with or without ':0') or a "
            f"regular expression over these names: {_describe_names(variables)}"
        )
    return found


def _compile_key(
    key: str, pattern: str, variables: list[tf.Variable], argument: str
) -> re.Pattern[str]:
    """``pattern`` compiled; a ``ValueError`` when it is no valid regular expression.

    A pathological pattern (say 5,000 nested groups) makes ``re`` recurse too deep, and a huge
    repeat count overflows: both are reported like a syntax error, never as a crash.
    """
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        reason = str(error) if isinstance(error, re.error) else "too deeply nested or too large"
        shown = key if len(key) <= 60 else key[:57] + "..."
        raise ValueError(
            f"{argument}: key {shown!r} is not the name of a variable being optimized and not "
            f"a valid regular expression ({reason}); accepted keys are a variable, its ref(), "
            "its name (with or without ':0') or a regular expression over these names: "
            f"{_describe_names(variables)}"
        ) from None


def _variable_ref(key: Any, argument: str) -> Any:
    if isinstance(key, tf.Variable) or hasattr(key, "value"):
        try:
            return as_tf_variable(key).ref()
        except TypeError:
            pass
    deref = getattr(key, "deref", None)
    if callable(deref):
        return as_tf_variable(deref()).ref()
    raise TypeError(
        f"{argument}: key {key!r} of type {type(key).__name__} is not accepted; use a variable, "
        "its ref(), its name or a regular expression over variable names"
    )


def resolve_variable_mapping(
    mapping: Mapping[Any, Any], variables: list[tf.Variable], argument: str
) -> dict[Any, Any]:
    """Turn ``{key: value}`` into ``{variable.ref(): value}`` over ``variables``.

    Exact keys (variables, refs, exact names) win over regular expressions, whatever the order
    of the mapping; a variable matched by two regular expressions takes the first one's value.

    >>> a = tf.Variable(1.0, name="a")
    >>> resolved = resolve_variable_mapping({"a:0": 0.5}, [a], "gradient_multipliers")
    >>> resolved[a.ref()]
    0.5
    """
    resolved: dict[Any, Any] = {}
    exact: dict[Any, Any] = {}
    for key, value in mapping.items():
        for variable in match_variable_key(key, variables, argument):
            is_exact = not isinstance(key, str) or variable_name(variable) == strip_output_suffix(
                key
            )
            if is_exact:
                exact[variable.ref()] = value
            else:
                resolved.setdefault(variable.ref(), value)
    resolved.update(exact)
    return resolved
