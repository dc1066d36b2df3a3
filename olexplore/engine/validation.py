"""Argument checks shared by both modes of ``optimize_loss``.

Each check names the argument, the value it received and what it accepts, as Keras 3 does.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from olexplore._tensorflow import tf

#: Quantities ``optimize_loss`` can report, in TF 1's order.
OPTIMIZER_SUMMARIES = [
    "learning_rate",
    "loss",
    "gradients",
    "gradient_norm",
    "global_gradient_norm",
]

#: What ``summaries=None`` means.
DEFAULT_SUMMARIES = ["loss", "learning_rate", "global_gradient_norm"]


def describe(value: Any) -> str:
    """A short ``repr`` plus the type, for error messages.

    >>> describe(-0.5)
    '-0.5 (float)'
    """
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def is_real_number(value: Any) -> bool:
    """True for Python and NumPy ints and floats, False for bools.

    >>> is_real_number(1), is_real_number(np.float32(0.5)), is_real_number(True)
    (True, True, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_learning_rate(learning_rate: Any, *, allow_variable: bool) -> Any:
    """Validate ``learning_rate``: ``None``, a non-negative number, or a scalar tensor.

    Numbers come back as Python floats. TF 1 accepted only ``float`` (``1`` was an error);
    ints are accepted here on purpose. ``allow_variable`` also accepts a scalar ``tf.Variable``
    (TF 2 mode), which is then used as the learning-rate variable itself.

    >>> check_learning_rate(1, allow_variable=False)
    1.0
    """
    if learning_rate is None:
        return None
    accepted = "None, a non-negative float or int, or a scalar (0-d) float Tensor" + (
        " or tf.Variable" if allow_variable else ""
    )
    if is_real_number(learning_rate):
        value = float(learning_rate)
        if not value >= 0.0:  # also rejects NaN
            raise ValueError(f"learning_rate: got {describe(learning_rate)}; accepted: {accepted}.")
        return value
    if isinstance(learning_rate, tf.Variable):
        if allow_variable and learning_rate.shape.rank == 0 and learning_rate.dtype.is_floating:
            return learning_rate
    elif isinstance(learning_rate, tf.Tensor):
        if learning_rate.shape.rank == 0:
            return learning_rate
    raise ValueError(f"learning_rate: got {describe(learning_rate)}; accepted: {accepted}.")


def check_summaries(summaries: Iterable[str] | None) -> list[str]:
    """Validate ``summaries`` against :data:`OPTIMIZER_SUMMARIES`; ``None`` gives the default.

    >>> check_summaries(None)
    ['loss', 'learning_rate', 'global_gradient_norm']
    """
    if summaries is None:
        return list(DEFAULT_SUMMARIES)
    if isinstance(summaries, str):
        raise ValueError(
            f"summaries: got {describe(summaries)}; accepted: a list of names from "
            f"{OPTIMIZER_SUMMARIES}, e.g. ['loss']."
        )
    summaries = list(summaries)
    for entry in summaries:
        if entry not in OPTIMIZER_SUMMARIES:
            raise ValueError(
                f"summaries: got {describe(entry)} in {summaries!r}; accepted: names from "
                f"[{', '.join(OPTIMIZER_SUMMARIES)}]."
            )
    return summaries


def check_clip_gradients(clip_gradients: Any) -> float | Callable | None:
    """Validate ``clip_gradients``: ``None``, a positive number (global norm) or a callable.

    TF 1 accepted only ``float`` and let ``0.0`` or negative values through; here ints are
    accepted and a norm that is not positive is an error.

    >>> check_clip_gradients(5)
    5.0
    """
    if clip_gradients is None or callable(clip_gradients):
        return clip_gradients
    if is_real_number(clip_gradients):
        value = float(clip_gradients)
        if value > 0.0 and np.isfinite(value):
            return value
    raise ValueError(
        f"clip_gradients: got {describe(clip_gradients)}; accepted: None, a positive finite "
        "float or int (the maximum global norm), or a callable taking and returning a list of "
        "(gradient, variable) pairs, such as adaptive_clipping_fn()."
    )


def check_gradient_noise_scale(scale: Any) -> Any:
    """Validate ``gradient_noise_scale``: ``None``, a non-negative number or a scalar tensor.

    >>> check_gradient_noise_scale(0.1)
    0.1
    """
    if scale is None or isinstance(scale, (tf.Tensor, tf.Variable)):
        return scale
    if is_real_number(scale) and float(scale) >= 0.0 and np.isfinite(float(scale)):
        return float(scale)
    raise ValueError(
        f"gradient_noise_scale: got {describe(scale)}; accepted: None, a non-negative finite "
        "float (the standard deviation of the noise) or a scalar Tensor."
    )


def check_global_step_tensor(global_step: Any) -> Any:
    """TF 1's ``assert_global_step``: an integer, scalar Variable or Tensor, else ``TypeError``.

    >>> check_global_step_tensor(tf.Variable(0, dtype=tf.int64)).dtype
    tf.int64
    """
    if not isinstance(global_step, (tf.Variable, tf.Tensor)):
        raise TypeError(
            f"global_step: got {describe(global_step)}; it must be a Variable or Tensor of "
            "integer dtype and scalar shape, or None."
        )
    if not global_step.dtype.base_dtype.is_integer:
        raise TypeError(
            f"global_step: {global_step.name} does not have integer type "
            f"({global_step.dtype.name}); accepted: an int32 or int64 scalar."
        )
    shape = global_step.get_shape()
    if shape.is_fully_defined() and shape.rank != 0:
        raise TypeError(
            f"global_step: {global_step.name} is not scalar (shape {shape}); accepted: a scalar."
        )
    return global_step
