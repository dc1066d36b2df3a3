"""Argument checks shared by both modes of ``optimize_loss``.

Each check names the argument, the value it received and what it accepts, as Keras 3 does.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
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
    accepted = "None, a finite non-negative float or int, or a scalar (0-d) float Tensor" + (
        " or tf.Variable" if allow_variable else ""
    )
    if is_real_number(learning_rate):
        value = float(learning_rate)
        if not 0.0 <= value < np.inf:  # also rejects NaN
            raise ValueError(f"learning_rate: got {describe(learning_rate)}; accepted: {accepted}.")
        return value
    if isinstance(learning_rate, tf.Variable):
        if allow_variable and learning_rate.shape.rank == 0 and learning_rate.dtype.is_floating:
            return learning_rate
    elif isinstance(learning_rate, tf.Tensor):
        if learning_rate.shape.rank == 0:
            return learning_rate
    raise ValueError(f"learning_rate: got {describe(learning_rate)}; accepted: {accepted}.")


def _is_scalar_tensor(value: Any) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable)) and value.shape.rank in (None, 0)


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
    if scale is None or (_is_scalar_tensor(scale) and scale.dtype.is_floating):
        return scale
    if is_real_number(scale) and 0.0 <= float(scale) < np.inf:
        return float(scale)
    raise ValueError(
        f"gradient_noise_scale: got {describe(scale)}; accepted: None, a non-negative finite "
        "float (the standard deviation of the noise) or a scalar float Tensor."
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


def check_clip_norm(clip_norm: Any) -> float:
    """Validate a new global-norm clip value (the ``clip_norm`` setter): a positive finite number.

    >>> check_clip_norm(2)
    2.0
    """
    if is_real_number(clip_norm) and 0.0 < float(clip_norm) < np.inf:
        return float(clip_norm)
    raise ValueError(
        f"clip_norm (clip_gradients): got {describe(clip_norm)}; accepted: a positive finite "
        "float or int, the maximum global norm."
    )


def check_multiplier(key: Any, value: Any) -> Any:
    """Validate one ``gradient_multipliers`` value: a finite number or a scalar tensor.

    Numbers come back as Python floats; negative factors are allowed (they reverse the update).

    >>> check_multiplier("w", 2)
    2.0
    """
    if is_real_number(value) and np.isfinite(float(value)):
        return float(value)
    if _is_scalar_tensor(value) and (value.dtype.is_floating or value.dtype.is_integer):
        return value
    raise ValueError(
        f"gradient_multipliers: the value for key {key!r} is {describe(value)}; accepted: a "
        "finite float or int, or a scalar numeric Tensor, e.g. {'dense/kernel': 0.1}."
    )


def check_gradient_multipliers(multipliers: Any) -> dict[Any, Any] | None:
    """Validate ``gradient_multipliers``: ``None`` or a mapping from keys to multipliers.

    The keys are resolved against the variables later; the values are checked here.

    >>> check_gradient_multipliers({"w": 1})
    {'w': 1.0}
    """
    if multipliers is None:
        return None
    if not isinstance(multipliers, Mapping):
        raise ValueError(
            f"gradient_multipliers: got {describe(multipliers)}; accepted: a dict from "
            "variables, their names or name patterns to multipliers."
        )
    return {key: check_multiplier(key, value) for key, value in multipliers.items()}


def check_decay_fn(decay_fn: Any) -> Callable[[Any, Any], Any] | None:
    """Validate ``learning_rate_decay_fn``: ``None`` or a callable ``fn(learning_rate, step)``.

    >>> check_decay_fn(None) is None
    True
    """
    if decay_fn is None or callable(decay_fn):
        return decay_fn
    raise ValueError(
        f"learning_rate_decay_fn: got {describe(decay_fn)}; accepted: None or a callable "
        "fn(learning_rate, global_step), e.g. olexplore.engine.decay_function("
        "'exponential_decay', decay_steps=100, decay_rate=0.5)."
    )


#: Gradient-noise seeds are combined with a per-gradient index into an int64 op seed.
MAX_NOISE_SEED = 2**62


def check_noise_seed(seed: Any) -> int | None:
    """Validate ``gradient_noise_seed``: ``None`` or an int in ``[0, 2**62)``.

    >>> check_noise_seed(7)
    7
    """
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if 0 <= int(seed) < MAX_NOISE_SEED:
            return int(seed)
    raise ValueError(
        f"gradient_noise_seed: got {describe(seed)}; accepted: None or an int from 0 to 2**62 - 1."
    )


def check_name(name: Any) -> str | None:
    """Validate ``name``, the scope of the train op's variables: ``None`` or a non-empty str.

    >>> check_name("train")
    'train'
    """
    if name is None or (isinstance(name, str) and name):
        return name
    raise ValueError(
        f"name: got {describe(name)}; accepted: None (meaning 'OptimizeLoss') or a non-empty "
        "string."
    )


def check_flag(value: Any, argument: str) -> bool:
    """Validate a boolean argument such as ``increment_global_step``.

    >>> check_flag(True, "increment_global_step")
    True
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{argument}: got {describe(value)}; accepted: True or False.")
