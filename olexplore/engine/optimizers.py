"""Turning the ``optimizer`` argument of ``optimize_loss`` into an optimizer object.

The six TF 1 names map to the ``tf.compat.v1.train`` classes, so their numbers match TF 1
(epsilons, initial accumulators and RMSProp's slot initialised at one differ in Keras 3). Further
names, usable in TF 2 mode only, map to Keras 3 optimizers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe

V1Optimizer: type = tf.compat.v1.train.Optimizer


def _momentum(learning_rate: Any) -> Any:
    return tf.compat.v1.train.MomentumOptimizer(learning_rate, momentum=0.9)


#: TF 1's table: name -> factory taking ``learning_rate``.
OPTIMIZER_CLS_NAMES: dict[str, Callable[..., Any]] = {
    "Adagrad": tf.compat.v1.train.AdagradOptimizer,
    "Adam": tf.compat.v1.train.AdamOptimizer,
    "Ftrl": tf.compat.v1.train.FtrlOptimizer,
    "Momentum": _momentum,
    "RMSProp": tf.compat.v1.train.RMSPropOptimizer,
    "SGD": tf.compat.v1.train.GradientDescentOptimizer,
}

#: Names beyond TF 1's six, built from Keras 3 (TF 2 mode only).
KERAS_OPTIMIZER_NAMES: dict[str, type] = {
    "AdamW": keras.optimizers.AdamW,
    "Nadam": keras.optimizers.Nadam,
    "Adadelta": keras.optimizers.Adadelta,
    "Adamax": keras.optimizers.Adamax,
    "Lion": keras.optimizers.Lion,
    "Adafactor": keras.optimizers.Adafactor,
    "Lamb": keras.optimizers.Lamb,
}


def optimizer_names(graph_mode: bool = False) -> list[str]:
    """Every optimizer name accepted in the given mode.

    >>> optimizer_names(graph_mode=True)
    ['Adagrad', 'Adam', 'Ftrl', 'Momentum', 'RMSProp', 'SGD']
    """
    names = list(OPTIMIZER_CLS_NAMES)
    if not graph_mode:
        names += list(KERAS_OPTIMIZER_NAMES)
    return names


def is_keras_optimizer(optimizer: Any) -> bool:
    """True for a Keras 3 optimizer instance.

    >>> is_keras_optimizer(keras.optimizers.SGD()), is_keras_optimizer("SGD")
    (True, False)
    """
    return isinstance(optimizer, keras.optimizers.Optimizer)


def _is_keras_class(optimizer: Any) -> bool:
    return inspect.isclass(optimizer) and issubclass(optimizer, keras.optimizers.Optimizer)


def _is_v1_class(optimizer: Any) -> bool:
    return inspect.isclass(optimizer) and issubclass(optimizer, V1Optimizer)


def _check_keras_allowed(optimizer: Any, graph_mode: bool) -> None:
    if graph_mode:
        raise ValueError(
            f"optimizer: got {describe(optimizer)}, a Keras 3 optimizer, which cannot run in "
            "tf.compat.v1 graph mode; accepted there: one of "
            f"{optimizer_names(graph_mode=True)}, a tf.compat.v1.train.Optimizer subclass or "
            "instance, or a function returning one. Pass a callable loss to use Keras."
        )


def resolve_optimizer(
    optimizer: Any,
    learning_rate_tensor: Any,
    learning_rate_given: bool,
    *,
    graph_mode: bool,
    keras_learning_rate: Any = None,
) -> Any:
    """Build or check the optimizer as TF 1 did, first match wins.

    ``learning_rate_tensor`` is what a v1 optimizer is given (a variable or tensor, or ``None``);
    ``keras_learning_rate`` is what a Keras optimizer built here is given (a callable reading the
    same value). ``learning_rate_given`` picks the arity of a factory function, as in TF 1.

    >>> opt = resolve_optimizer("Momentum", 0.1, True, graph_mode=False)
    >>> w = tf.Variable(0.0)
    >>> for _ in range(2):
    ...     _ = opt.apply_gradients([(tf.constant(1.0), w)])
    >>> type(opt).__name__, round(float(w.numpy()), 4)  # momentum 0.9: -0.1, then -0.1 - 0.19
    ('MomentumOptimizer', -0.29)
    """
    if isinstance(optimizer, str):
        if learning_rate_tensor is None:
            raise ValueError(
                f"learning_rate: got None, but it is required when optimizer is a string "
                f"(optimizer={optimizer!r}); accepted: a non-negative float or a scalar Tensor."
            )
        if optimizer in OPTIMIZER_CLS_NAMES:
            return OPTIMIZER_CLS_NAMES[optimizer](learning_rate=learning_rate_tensor)
        if optimizer in KERAS_OPTIMIZER_NAMES and not graph_mode:
            return KERAS_OPTIMIZER_NAMES[optimizer](learning_rate=keras_learning_rate)
        if optimizer in KERAS_OPTIMIZER_NAMES:
            _check_keras_allowed(optimizer, graph_mode)
        raise ValueError(
            f"optimizer: got {describe(optimizer)}; accepted names: "
            f"[{', '.join(optimizer_names(graph_mode))}] (case-sensitive)."
        )
    if _is_v1_class(optimizer) or _is_keras_class(optimizer):
        if learning_rate_tensor is None:
            raise ValueError(
                f"learning_rate: got None, but it is required when optimizer is a class "
                f"({optimizer.__name__}); accepted: a non-negative float or a scalar Tensor."
            )
        if _is_keras_class(optimizer):
            _check_keras_allowed(optimizer, graph_mode)
            return optimizer(learning_rate=keras_learning_rate)
        return optimizer(learning_rate=learning_rate_tensor)
    if isinstance(optimizer, V1Optimizer):
        return optimizer
    if is_keras_optimizer(optimizer):
        _check_keras_allowed(optimizer, graph_mode)
        return optimizer
    if callable(optimizer):
        if learning_rate_given:
            built = optimizer(learning_rate_tensor)
        else:
            built = optimizer()
        if isinstance(built, V1Optimizer) or (is_keras_optimizer(built) and not graph_mode):
            return built
        if is_keras_optimizer(built):
            _check_keras_allowed(built, graph_mode)
        raise ValueError(
            f"optimizer: the function {describe(optimizer)} returned {describe(built)}; it "
            "should return an instance of a tf.compat.v1.train.Optimizer subclass"
            + ("" if graph_mode else " or of a Keras 3 optimizer")
            + "."
        )
    raise ValueError(
        f"optimizer: got {describe(optimizer)}; accepted: a name from "
        f"[{', '.join(optimizer_names(graph_mode))}], a subclass of tf.compat.v1.train.Optimizer"
        + ("" if graph_mode else " or keras.optimizers.Optimizer")
        + ", an instance of one, or a function taking the learning rate (or nothing when "
        "learning_rate is None) and returning one."
    )
