"""The learning rate in TF 2 mode: held in variables, decayed in the step, readable and settable.

The base rate lives in a variable, so changing it between steps does not retrace. With a decay
function a second variable holds the decayed rate of the current step, which is what the
optimizer reads; the ``tf.compat.v1.train.*_decay`` functions are accepted as decay functions
(in eager mode they return callables, inside a ``tf.function`` tensors: both work).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from olexplore._compat import keras_given_learning_rate, v1_learning_rate
from olexplore._tensorflow import tf
from olexplore.engine.optimizers import V1Optimizer, is_keras_optimizer
from olexplore.engine.validation import check_learning_rate, describe
from olexplore.engine.variables import setting_variable

#: The nine ``tf.compat.v1.train`` decay functions, by name.
DECAY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "exponential_decay": tf.compat.v1.train.exponential_decay,
    "inverse_time_decay": tf.compat.v1.train.inverse_time_decay,
    "natural_exp_decay": tf.compat.v1.train.natural_exp_decay,
    "piecewise_constant": tf.compat.v1.train.piecewise_constant,
    "polynomial_decay": tf.compat.v1.train.polynomial_decay,
    "cosine_decay": tf.compat.v1.train.cosine_decay,
    "cosine_decay_restarts": tf.compat.v1.train.cosine_decay_restarts,
    "linear_cosine_decay": tf.compat.v1.train.linear_cosine_decay,
    "noisy_linear_cosine_decay": tf.compat.v1.train.noisy_linear_cosine_decay,
}


def call_if_callable(value: Any) -> Any:
    """``value()`` when ``value`` is callable, else ``value``.

    >>> call_if_callable(lambda: 3), call_if_callable(4)
    (3, 4)
    """
    return value() if callable(value) else value


def decay_function(name: str, **params: Any) -> Callable[[Any, Any], Any]:
    """A ``learning_rate_decay_fn`` built from one of :data:`DECAY_FUNCTIONS` and its parameters.

    ``piecewise_constant`` ignores the base rate (its ``values`` are the rates themselves), as
    in TF 1.

    >>> fn = decay_function("exponential_decay", decay_steps=10, decay_rate=0.5)
    >>> float(call_if_callable(fn(tf.constant(1.0), tf.constant(10, tf.int64))))
    0.5
    """
    if name not in DECAY_FUNCTIONS:
        raise ValueError(
            f"decay: got {describe(name)}; accepted: one of {sorted(DECAY_FUNCTIONS)}."
        )
    function = DECAY_FUNCTIONS[name]
    _check_decay_params(name, function, params)
    if name == "piecewise_constant":
        return lambda learning_rate, global_step: function(global_step, **params)
    return lambda learning_rate, global_step: function(learning_rate, global_step, **params)


def _check_decay_params(name: str, function: Callable[..., Any], params: dict[str, Any]) -> None:
    """Unknown or missing parameters of a decay function are errors now, not at the first step."""
    given = {"learning_rate", "global_step", "x"}  # passed by the returned function
    parameters = inspect.signature(function).parameters
    known = [p for p in parameters if p not in given and p != "name"]
    unknown = sorted(set(params) - set(known))
    missing = [
        p for p in known if p not in params and parameters[p].default is inspect.Parameter.empty
    ]
    if unknown or missing:
        problem = f"unknown {unknown}" if unknown else f"missing {missing}"
        raise ValueError(
            f"decay: {name} got parameters {sorted(params)} ({problem}); accepted: {known}, of "
            f"which {[p for p in known if parameters[p].default is inspect.Parameter.empty]} "
            "are required."
        )


def optimizer_learning_rate(optimizer: Any) -> Any:
    """The learning rate an optimizer instance applies, as a float32 tensor (``None`` if unknown).

    >>> float(optimizer_learning_rate(tf.compat.v1.train.AdamOptimizer(0.25)))
    0.25
    """
    if is_keras_optimizer(optimizer):
        return tf.cast(optimizer.learning_rate, tf.float32)
    rate = v1_learning_rate(optimizer)
    return None if rate is None else tf.cast(call_if_callable(rate), tf.float32)


class LearningRate:
    """Owns the base and decayed learning-rate variables of one TF 2 train op."""

    def __init__(
        self,
        learning_rate: Any,
        decay_fn: Callable[[Any, Any], Any] | None,
        global_step: tf.Variable,
        scope: str,
    ) -> None:
        self.given = learning_rate is not None
        self.decay_fn = decay_fn if self.given else None
        self._global_step = global_step
        self.base: tf.Variable | None = None
        self.applied: tf.Variable | None = None
        self.optimizer: Any = None
        if isinstance(learning_rate, tf.Variable):
            self.base = learning_rate
        elif learning_rate is not None:
            self.base = setting_variable(learning_rate, f"{scope}/learning_rate")
        if self.base is not None:
            self.applied = self.base
            if self.decay_fn is not None:
                self.applied = tf.Variable(
                    self.base.read_value(), trainable=False, name=f"{scope}/decayed_learning_rate"
                )

    def for_keras(self) -> Callable[[], Any] | None:
        """What a Keras optimizer built by olexplore gets: a callable reading the applied rate."""
        if self.applied is None:
            return None
        applied = self.applied
        return lambda: applied.read_value()

    def update(self) -> Any:
        """Inside the step: decay the rate for this step and return the rate the optimizer uses."""
        if self.applied is not None and self.decay_fn is not None:
            decayed = call_if_callable(self.decay_fn(self.base, self._global_step))
            self.applied.assign(tf.cast(decayed, self.applied.dtype))
        return self.current()

    def current(self) -> Any:
        """The rate the optimizer applies (its own, when it was given as an instance)."""
        if self._optimizer_owns_rate():
            rate = optimizer_learning_rate(self.optimizer)
            return tf.constant(np.nan, tf.float32) if rate is None else rate
        return self._variable(self.applied).read_value()

    @staticmethod
    def _variable(variable: tf.Variable | None) -> tf.Variable:
        if variable is None:  # the optimizer owns the rate: callers checked that first
            raise RuntimeError("LearningRate: this train op holds no learning-rate variable")
        return variable

    def _optimizer_owns_rate(self) -> bool:
        if self.applied is None:
            return True
        optimizer = self.optimizer
        if is_keras_optimizer(optimizer):
            return not callable(keras_given_learning_rate(optimizer))
        if isinstance(optimizer, V1Optimizer):
            return v1_learning_rate(optimizer) is not self.applied
        return False

    def get(self) -> float:
        """The base learning rate as a Python float."""
        if self.base is None or self._optimizer_owns_rate():
            return float(self.current())
        return float(self.base.numpy())

    def set(self, value: Any) -> None:
        """Assign a new base learning rate (validated); takes effect at the next step."""
        checked = check_learning_rate(value, allow_variable=False)
        if checked is None or isinstance(checked, tf.Tensor):
            checked = float(checked) if checked is not None else None
        if checked is None:
            raise ValueError("learning_rate: got None; accepted: a non-negative float.")
        optimizer = self.optimizer
        if self._optimizer_owns_rate():
            if is_keras_optimizer(optimizer) and not callable(keras_given_learning_rate(optimizer)):
                optimizer.learning_rate = checked
                return
            rate = v1_learning_rate(optimizer)
            if isinstance(rate, tf.Variable):
                rate.assign(checked)
                return
            raise ValueError(
                f"learning_rate: cannot set {checked} because the optimizer "
                f"{describe(optimizer)} was given as an instance with a fixed learning rate; "
                "pass a name, a class or a factory function to optimize_loss instead."
            )
        self._variable(self.base).assign(checked)
