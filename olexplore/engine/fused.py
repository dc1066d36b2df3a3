"""The loop of ``TrainOp.run_steps``: up to ``steps`` training steps in one traced call.

Each step's metrics (and ``record()``'s values) are written into ``TensorArray``s: growing ones
on the plain path, ``size`` rows of fixed shape for XLA, which needs static sizes (see
:mod:`olexplore.engine.xla`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.step import StepBuilder


def fused_steps(
    builder: StepBuilder,
    steps: tf.Tensor,
    args: tuple,
    kwargs: dict,
    iterator: Any,
    writer: Any,
    stop_on_nonfinite: bool,
    record: Callable[[], Mapping[str, Any]] | None,
    size: int | None = None,
) -> tuple[dict[str, Any], tf.Tensor]:
    """Up to ``steps`` steps of ``builder`` (traced); the per-step arrays and the step count.

    The loss gets ``*args, **kwargs`` or, with an ``iterator``, its next element; the loop
    ends early when the data ends or, with ``stop_on_nonfinite``, after a non-finite loss or
    global norm. ``size`` gives the arrays that many rows of fixed shape (for XLA); ``None``
    lets them grow.

    >>> from olexplore import optimize_loss
    >>> w = tf.Variable(2.0)
    >>> builder = optimize_loss(lambda: w * w, None, 0.25, "SGD")._builder
    >>> arrays, count = fused_steps(builder, tf.constant(3, tf.int64), (), {}, None, None,
    ...                             False, None, size=4)
    >>> int(count), arrays["loss"].numpy().tolist()
    (3, [4.0, 1.0, 0.25, 0.0])
    """
    names = builder.metric_names()
    shapes = {name: tf.TensorShape([]) for name in names}
    if record is not None:
        shapes.update({name: tf.TensorShape(v.shape) for name, v in record().items()})
    if size is None:
        arrays = {name: tf.TensorArray(tf.float32, size=0, dynamic_size=True) for name in shapes}
    else:
        arrays = {
            name: tf.TensorArray(tf.float32, size=size, element_shape=shape)
            for name, shape in shapes.items()
        }

    def recorded_values() -> dict[str, Any]:
        if record is None:
            return {}
        return {name: tf.cast(value, tf.float32) for name, value in record().items()}

    def body(index: tf.Tensor, keep_going: tf.Tensor, arrays: dict[str, Any]) -> tuple[Any, ...]:
        if iterator is None:
            step_args, step_kwargs, has_data = args, kwargs, tf.constant(True)
            _, metrics = builder.step(step_args, step_kwargs, writer)
            metrics = {**metrics, **recorded_values()}
        else:
            optional = iterator.get_next_as_optional()
            has_data = optional.has_value()

            def run_on_element() -> dict[str, Any]:
                step_args, step_kwargs = as_arguments(optional.get_value())
                _, step_metrics = builder.step(step_args, step_kwargs, writer)
                step_metrics = {k: tf.cast(v, tf.float32) for k, v in step_metrics.items()}
                return {**step_metrics, **recorded_values()}

            def no_data() -> dict[str, Any]:
                nothing = {name: tf.constant(np.nan, tf.float32) for name in names}
                return {**nothing, **recorded_values()}

            metrics = tf.cond(has_data, run_on_element, no_data)
        arrays = {
            name: array.write(tf.cast(index, tf.int32), tf.cast(metrics[name], tf.float32))
            for name, array in arrays.items()
        }
        next_index = index + tf.cast(has_data, tf.int64)
        go_on = has_data
        if stop_on_nonfinite:
            finite = tf.math.is_finite(metrics["loss"]) & tf.math.is_finite(metrics["global_norm"])
            go_on = go_on & finite
        return next_index, go_on, arrays

    def condition(index: tf.Tensor, keep_going: tf.Tensor, arrays: Any) -> tf.Tensor:
        return (index < steps) & keep_going

    count, _, arrays = tf.while_loop(
        condition, body, (tf.constant(0, tf.int64), tf.constant(True), arrays)
    )
    return {name: array.stack() for name, array in arrays.items()}, count


def as_arguments(element: Any) -> tuple[tuple, dict]:
    """A dataset element as the loss's arguments: a dict as keywords, a tuple spread.

    >>> as_arguments((1, 2)), as_arguments({"x": 1}), as_arguments(3)
    (((1, 2), {}), ((), {'x': 1}), ((3,), {}))
    """
    if isinstance(element, dict):
        return (), element
    if isinstance(element, tuple):
        return element, {}
    return (element,), {}
