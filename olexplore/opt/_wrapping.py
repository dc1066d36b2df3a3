"""What MovingAverageOptimizer and VariableClippingOptimizer share: the optimizer they wrap.

Both wrap a ``tf.compat.v1.train.Optimizer`` or a Keras 3 optimizer and pass every gradient
through it. Keras 3 optimizers only run in TF 2 mode (eagerly or inside a ``tf.function``), have
no ``compute_gradients`` and take no ``global_step``; v1 optimizers need the ``tf.Variable``
behind a Keras variable. This module bridges both.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from olexplore._compat import (
    create_or_restore_slot_variable,
    deferred_dependencies,
    initialize_trackable,
    lookup_dependency,
    track_child,
    trackable_children,
    v1_learning_rate,
)
from olexplore._tensorflow import tf
from olexplore.engine.optimizers import is_keras_optimizer
from olexplore.engine.transforms import GradsAndVars
from olexplore.engine.variables import as_tf_variable

#: What the wrappers wrap: a ``tf.compat.v1.train`` optimizer or a Keras 3 optimizer instance.
WrappedOptimizer = Any  # the TF stubs give no usable class for tf.compat.v1.train.Optimizer
#: A number or a scalar tensor (e.g. a decay, a norm).
NumberOrTensor = float | int | tf.Tensor | tf.Variable

__all__ = [
    "NumberOrTensor",
    "WrappedOptimizer",
    "GradsAndVars",
    "WrappingOptimizer",
    "check_number",
    "group",
    "in_graph_mode",
    "is_keras_optimizer",
    "runs_after",
]


def in_graph_mode() -> bool:
    """True while building a ``tf.compat.v1`` graph for a Session; False in TF 2 mode.

    >>> in_graph_mode()
    False
    >>> with tf.Graph().as_default():
    ...     in_graph_mode()
    True
    """
    return not tf.compat.v1.executing_eagerly_outside_functions()


def check_number(value: Any, argument: str, wanted: str, valid: Callable[[float], bool]) -> None:
    """A constructor argument that is a real number passing ``valid``, or a scalar tensor.

    Anything else is a ``TypeError``, a number failing ``valid`` a ``ValueError``; both name
    ``argument`` and say what is ``wanted``.

    >>> check_number(0.5, "average_decay", "a number in [0, 1]", lambda x: 0 <= x <= 1)
    >>> check_number(2.0, "average_decay", "a number in [0, 1]", lambda x: 0 <= x <= 1)
    Traceback (most recent call last):
    ValueError: average_decay: expected a number in [0, 1], got 2.0
    """
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{argument}: expected {wanted} or a scalar tensor, got {value!r} of type "
            f"{type(value).__name__}"
        )
    if not valid(float(value)):
        raise ValueError(f"{argument}: expected {wanted}, got {value!r}")


def unwrap_keras_variable(variable: Any) -> Any:
    """The ``tf.Variable`` behind a Keras variable; anything else is returned unchanged."""
    if isinstance(variable, tf.Variable):
        return variable
    try:
        return as_tf_variable(variable)
    except TypeError:
        return variable


def runs_after(op: Any) -> contextlib.AbstractContextManager[Any]:
    """Order what is built inside after ``op`` in a graph; eagerly, program order already does."""
    if isinstance(op, (tf.Operation, tf.Tensor)) and not tf.executing_eagerly():
        return tf.control_dependencies([op])
    return contextlib.nullcontext()


def group(ops: Iterable[Any], name: str) -> Any:
    """``tf.group`` of the ops that exist (eagerly there are none, and the result is None)."""
    return tf.group(*[op for op in ops if op is not None], name=name)


class WrappingOptimizer(tf.compat.v1.train.Optimizer):
    """A v1 ``Optimizer`` that delegates gradient computation and application to ``opt``."""

    def __init__(self, opt: Any, use_locking: bool, name: str) -> None:
        if not isinstance(opt, tf.compat.v1.train.Optimizer) and not is_keras_optimizer(opt):
            raise TypeError(
                f"opt: expected a tf.compat.v1.train.Optimizer or a Keras 3 optimizer instance, "
                f"got {opt!r} of type {type(opt).__name__}"
            )
        super().__init__(use_locking, name)
        self._opt = opt
        self._keras = is_keras_optimizer(opt)
        if self._keras:
            track_child(self, opt, name="optimizer")
        else:  # see the checkpoint hooks below
            initialize_trackable(self)
            initialize_trackable(opt)

    def _check_mode(self, method: str) -> None:
        if in_graph_mode() and self._keras:
            raise TypeError(
                f"{type(self).__name__}.{method}: opt is the Keras 3 optimizer {self._opt!r}, "
                "which does not work in a tf.compat.v1 graph; wrap a tf.compat.v1.train "
                "optimizer there, or run in TF 2 mode (eagerly or inside a tf.function)"
            )

    def compute_gradients(
        self,
        loss: Any,
        var_list: Any = None,
        gate_gradients: int = tf.compat.v1.train.Optimizer.GATE_OP,
        aggregation_method: Any = None,
        colocate_gradients_with_ops: bool = False,
        grad_loss: Any = None,
    ) -> GradsAndVars:
        """Gradients of ``loss`` as ``(gradient, variable)`` pairs, computed by ``opt``.

        The arguments are those of ``tf.compat.v1.train.Optimizer.compute_gradients``. A Keras 3
        ``opt`` has none: in TF 2 mode ``loss`` is then a callable and a ``tf.GradientTape``
        computes the gradients (``gate_gradients``, ``aggregation_method`` and
        ``colocate_gradients_with_ops`` only place or order ops, and are ignored).
        """
        self._check_mode("compute_gradients")
        if not self._keras:
            if var_list is not None:
                var_list = [unwrap_keras_variable(v) for v in var_list]
            return self._opt.compute_gradients(
                loss,
                var_list=var_list,
                gate_gradients=gate_gradients,
                aggregation_method=aggregation_method,
                colocate_gradients_with_ops=colocate_gradients_with_ops,
                grad_loss=grad_loss,
            )
        if not callable(loss):
            raise TypeError(
                f"loss: in TF 2 mode the loss must be a callable returning the loss tensor, got "
                f"{loss!r} of type {type(loss).__name__}"
            )
        with tf.GradientTape() as tape:
            if var_list is not None:
                tape.watch([as_tf_variable(v) for v in var_list])
            value: Any = loss()
        if var_list is None:
            var_list = [v for v in tape.watched_variables() if v.trainable]
        grads = tape.gradient(
            value, [as_tf_variable(v) for v in var_list], output_gradients=grad_loss
        )
        return list(zip(grads, var_list, strict=True))

    def get_slot(self, var: Any, name: str) -> Any:
        """The slot ``name`` that ``opt`` keeps for ``var`` (None for a Keras 3 ``opt``)."""
        if self._keras:
            return None
        return self._opt.get_slot(unwrap_keras_variable(var), name)

    def get_slot_names(self) -> list[str]:
        """Names of the slots of ``opt`` (empty for a Keras 3 ``opt``)."""
        if self._keras:
            return []
        return self._opt.get_slot_names()

    def variables(self) -> list[Any]:
        """The variables of ``opt`` (slots, accumulators, step counters)."""
        inner: Any = self._opt.variables  # a method of v1 optimizers, a list in Keras 3
        values: Any = inner() if callable(inner) else inner
        return list(values)

    @property
    def _learning_rate(self) -> Any:
        # The attribute where v1 optimizers keep their rate, which olexplore.engine reads for
        # its learning-rate metric when the optimizer is an instance: the wrapped one's rate.
        if self._keras:
            return lambda: self._opt.learning_rate
        return v1_learning_rate(self._opt)

    def build(self, var_list: Iterable[Any]) -> None:
        """Create now, eagerly, the state that applying gradients to ``var_list`` needs.

        Call it before tracing a ``tf.function`` that calls ``apply_gradients``. It passes the
        call down to a wrapped olexplore optimizer; the base wrapper owns no state of its own.
        """
        if isinstance(self._opt, WrappingOptimizer):
            self._opt.build(var_list)

    # tf.train.Checkpoint. get_slot() delegates (as in TF 1), so a checkpoint sees the slots of a
    # wrapped v1 optimizer as this wrapper's, and tracking that optimizer as a child would list
    # each slot twice (an error). The wrapper stands in for it instead: its variables are the
    # wrapper's children, and restorations meant for it are handed to it. These are the hooks
    # that Trackable and the v1 Optimizer document for overriding. A Keras 3 optimizer reports
    # no slots and is tracked as the child "optimizer".
    def _trackable_children(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        children = {} if self._keras else trackable_children(self._opt, *args, **kwargs)
        children.update(super()._trackable_children(*args, **kwargs))
        return children

    def _lookup_dependency(self, name: str, *args: Any, **kwargs: Any) -> Any:
        found = super()._lookup_dependency(name, *args, **kwargs)
        if found is None and not self._keras:
            found = lookup_dependency(self._opt, name, *args, **kwargs)
        return found

    @property
    def _deferred_dependencies(self) -> dict[str, Any]:
        # Shared with the wrapped v1 optimizer, which fulfils them when it creates its variables.
        if getattr(self, "_keras", True):
            return super()._deferred_dependencies
        return deferred_dependencies(self._opt)

    def _create_or_restore_slot_variable(self, *args: Any, **kwargs: Any) -> Any:
        return create_or_restore_slot_variable(self._opt, *args, **kwargs)

    def _apply_wrapped(self, grads_and_vars: GradsAndVars, global_step: Any, name: Any) -> Any:
        """``opt.apply_gradients``; a Keras 3 ``opt`` gets the step incremented here."""
        if not self._keras:
            pairs = [(g, unwrap_keras_variable(v)) for g, v in grads_and_vars]
            return self._opt.apply_gradients(pairs, global_step=global_step, name=name)
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise ValueError(
                "grads_and_vars: no gradients provided for any variable: "
                f"{[getattr(v, 'name', v) for _, v in grads_and_vars]}"
            )
        self._opt.apply_gradients(pairs)
        if global_step is None:
            return None
        return as_tf_variable(global_step).assign_add(1, read_value=False)
