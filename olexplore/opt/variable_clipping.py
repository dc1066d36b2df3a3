"""``VariableClippingOptimizer``: ``tf.contrib.opt``'s wrapper that clips variables after updates.

Not the gradients: after ``opt`` has applied them, each listed variable is rescaled so that its
L2 norm along the given dimensions is at most ``max_norm`` (``tf.clip_by_norm``), e.g. each row of
an embedding matrix. A dense gradient clips the whole variable; an ``IndexedSlices`` gradient
clips only the rows it touched, unless dimension 0 is clipped, which needs the whole variable.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from olexplore._compat import v1_optimizer_name, v1_use_locking
from olexplore._tensorflow import tf
from olexplore.engine.variables import as_tf_variable, resolve_variable_mapping, variable_name
from olexplore.opt._wrapping import (
    GradsAndVars,
    NumberOrTensor,
    WrappedOptimizer,
    WrappingOptimizer,
    check_number,
    group,
    runs_after,
)


class VariableClippingOptimizer(WrappingOptimizer):
    """Wraps ``opt`` and clips the norm of chosen variables after every update.

    Args:
        opt: the optimizer that computes and applies the gradients: a ``tf.compat.v1.train``
            optimizer, another wrapper such as this one (instances chain, e.g. to give different
            subsets different norms), or a Keras 3 optimizer (TF 2 mode only).
        vars_to_clip_dims: ``{variable: dims}``, ``dims`` being the list of dimensions along
            which the L2 norm is taken (see ``tf.clip_by_norm``). In TF 2 mode, where variables
            are unhashable, key by ``variable.ref()`` or by the variable's name (with or without
            ``:0``); a name may also be a regular expression over variable names.
        max_norm: the largest norm allowed, a positive number or a scalar tensor.
        use_locking: use locks for the clipping updates.
        colocate_clip_ops_with_vars: compute the clipping on the variable's device.
        name: name of the op returned by ``apply_gradients`` when it is given none.

    >>> emb = tf.Variable([[3.0, 4.0], [0.3, 0.4]], name="emb")
    >>> sgd = tf.compat.v1.train.GradientDescentOptimizer(learning_rate=1.0)
    >>> opt = VariableClippingOptimizer(sgd, {emb.ref(): [1]}, max_norm=1.0)
    >>> _ = opt.apply_gradients([(tf.zeros([2, 2]), emb)])
    >>> emb.numpy().round(3)  # row 0 (norm 5) rescaled to norm 1; row 1 (norm 0.5) kept
    array([[0.6, 0.8],
           [0.3, 0.4]], dtype=float32)
    """

    def __init__(
        self,
        opt: WrappedOptimizer,
        vars_to_clip_dims: Mapping[Any, Sequence[int]],
        max_norm: NumberOrTensor,
        use_locking: bool = False,
        colocate_clip_ops_with_vars: bool = False,
        name: str = "VariableClipping",
    ) -> None:
        super().__init__(opt, use_locking, name)
        if not isinstance(vars_to_clip_dims, Mapping):
            raise TypeError(
                "vars_to_clip_dims: expected a dict {variable, its ref() or its name: list of "
                f"dimensions}}, got {vars_to_clip_dims!r} of type "
                f"{type(vars_to_clip_dims).__name__}"
            )
        # A copy, so that later changes to the caller's dict or lists do not leak in (as TF 1).
        self._vars_to_clip_dims = {
            key: _check_dims(key, dims) for key, dims in vars_to_clip_dims.items()
        }
        _check_max_norm(max_norm)
        self._max_norm = max_norm
        self._colocate_clip_ops_with_vars = colocate_clip_ops_with_vars

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, Any]], global_step: Any = None, name: Any = None
    ) -> Any:
        """Apply the gradients with ``opt``, then clip the listed variables that got a gradient.

        ``global_step`` is passed to a v1 ``opt``, and incremented here after a Keras 3 one.
        Returns an op named ``name`` (default: the constructor's) grouping the update and the
        clipping (None when executing eagerly).
        """
        self._check_mode("apply_gradients")
        pairs: GradsAndVars = list(grads_and_vars)
        clip_dims = resolve_variable_mapping(
            self._vars_to_clip_dims, [as_tf_variable(v) for _, v in pairs], "vars_to_clip_dims"
        )
        with tf.compat.v1.name_scope(name, v1_optimizer_name(self)) as scope:
            update_op = self._apply_wrapped(pairs, global_step, name=None)
            clip_ops = []
            with runs_after(update_op):
                for grad, var in pairs:
                    variable = as_tf_variable(var)
                    dims = clip_dims.get(variable.ref())
                    if grad is None or dims is None:
                        continue
                    dims = _normalized_dims(dims, variable)
                    with tf.name_scope("clip_" + variable_name(variable)):
                        if isinstance(grad, tf.IndexedSlices):
                            clip_ops.append(self._clip_sparse(grad, variable, dims))
                        else:
                            clip_ops.append(self._clip_dense(variable, dims))
            # The group runs the update even when nothing is clipped.
            return group([update_op, *clip_ops], name=scope)

    def _clipped(self, value: tf.Tensor, dims: list[int]) -> tf.Tensor:
        max_norm = tf.cast(self._max_norm, value.dtype)
        return tf.clip_by_norm(value, max_norm, axes=dims)

    def _clip_dense(self, variable: tf.Variable, dims: list[int]) -> Any:
        with self._maybe_colocate_with(variable):
            value = variable.read_value()
            delta = value - self._clipped(value, dims)
        # Ops reading or writing a resource variable are placed on its device anyway.
        return variable.assign_sub(delta, use_locking=v1_use_locking(self), read_value=False)

    def _clip_sparse(self, grad: tf.IndexedSlices, variable: tf.Variable, dims: list[int]) -> Any:
        if 0 in dims:
            warnings.warn(
                f"VariableClippingOptimizer: clipping {variable_name(variable)!r} across "
                f"dimensions {dims}, which include the sparse dimension 0, is inefficient: the "
                "whole variable is clipped, not only the rows that received a gradient",
                stacklevel=3,
            )
            return self._clip_dense(variable, dims)
        # Each touched row once: TF 1 subtracted the correction once per repeated index.
        indices, _ = tf.unique(grad.indices)
        rows = tf.gather(variable, indices)
        with self._maybe_colocate_with(variable):
            delta = tf.IndexedSlices(rows - self._clipped(rows, dims), indices, grad.dense_shape)
        return variable.scatter_sub(delta, use_locking=v1_use_locking(self))

    def _maybe_colocate_with(self, variable: tf.Variable) -> contextlib.AbstractContextManager[Any]:
        if self._colocate_clip_ops_with_vars:
            return tf.compat.v1.colocate_with(variable)
        return contextlib.nullcontext()


def _check_dims(key: Any, dims: Any) -> list[int]:
    if isinstance(dims, (list, tuple)) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims
    ):
        return [int(d) for d in dims]
    raise TypeError(
        f"vars_to_clip_dims: the dimensions of {key!r} must be a list of integers (the axes of "
        f"the L2 norm), got {dims!r} of type {type(dims).__name__}"
    )


def _normalized_dims(dims: list[int], variable: tf.Variable) -> list[int]:
    """Negative dimensions counted from the end, so that dimension 0 is always recognised."""
    rank = variable.shape.rank
    if rank is None:
        return dims
    if any(not -rank <= d < rank for d in dims):
        raise ValueError(
            f"vars_to_clip_dims: dimensions {dims} of {variable_name(variable)!r} are out of "
            f"range for its rank {rank}; accepted are -{rank} to {rank - 1}"
        )
    return [d % rank for d in dims]


def _check_max_norm(max_norm: Any) -> None:
    check_number(max_norm, "max_norm", "a positive number", lambda value: value > 0)  # not NaN
    if not isinstance(max_norm, (tf.Tensor, tf.Variable)) and max_norm == float(
        "inf"
    ):  # tf.clip_by_norm computes inf / inf: every value became NaN
        raise ValueError(
            f"max_norm: expected a finite number, got {max_norm!r}; leave the variable out of "
            "vars_to_clip_dims not to clip it"
        )
