"""``ScipyOptimizerInterface``: ``scipy.optimize.minimize`` over TensorFlow variables.

The port of ``tf.contrib.opt.ScipyOptimizerInterface`` (docs/contrib-spec.md §2.2), in graph
mode (``minimize(session)``, as in TF 1) and in TF 2 mode (callable loss, ``minimize()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.opt.external_optimizer import EvalFunc, ExternalOptimizerInterface

__all__ = ["ScipyOptimizerInterface"]

# SciPy warns when these get ``jac=True`` and never calls a gradient: they get a value-only
# objective instead (the loss is evaluated exactly as often, and ``loss_callback`` fires the same).
_GRADIENT_FREE_METHODS = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})

# Keyword arguments that ``_minimize`` sets itself, with what to use instead (TF 1's check order).
_AUTOMATIC_KWARGS = {
    "jac": "it is set automatically (gradients come from TensorFlow) and cannot be injected "
    "manually",
    "callback": "it is set automatically and cannot be injected manually; pass "
    "minimize(step_callback=...) instead",
    "constraints": "it is set automatically and cannot be injected manually; pass "
    "equalities=[...] and inequalities=[...] to the constructor instead",
    "bounds": "Bounds must be set using the var_to_bounds argument",
}


class ScipyOptimizerInterface(ExternalOptimizerInterface):
    """Wrapper allowing ``scipy.optimize.minimize`` to operate on TensorFlow variables.

    Every ``scipy.optimize.minimize`` method works (``method=``, default ``'L-BFGS-B'``);
    other keyword arguments (``options``, ``tol``, ``hess``...) go to SciPy unchanged, while
    ``jac``, ``callback``, ``constraints`` and ``bounds`` are set here and rejected (use
    ``minimize(step_callback=...)``, ``equalities``/``inequalities`` and ``var_to_bounds``).
    SciPy receives ``x0``, values and gradients in float64. Gradient-free methods (Nelder-Mead,
    Powell, COBYLA, COBYQA) get a value-only objective rather than ``jac=True``, which current
    SciPy warns about; ``step_callback`` always receives only the vector (trust-constr passes
    its state too). The result is logged and kept in ``self.result``; in TF 2 mode
    ``minimize()`` also returns it.

    TF 2 mode, with bounds:

    >>> vector = tf.Variable([7.0, 7.0], name="vector")
    >>> optimizer = ScipyOptimizerInterface(
    ...     lambda: tf.reduce_sum(tf.square(vector)), var_to_bounds={"vector": ([1, 2], np.inf)}
    ... )
    >>> result = optimizer.minimize()
    >>> np.allclose(vector.numpy(), [1.0, 2.0]), bool(result.success)
    (True, True)

    Graph mode, with constraints (TF 1 code, unchanged but for ``tf.compat.v1``):

    >>> with tf.Graph().as_default():
    ...     vector = tf.Variable([7.0, 7.0], name="vector")
    ...     loss = tf.reduce_sum(tf.square(vector))
    ...     optimizer = ScipyOptimizerInterface(
    ...         loss, equalities=[vector[1] - 1.0], inequalities=[vector[0] - 1.0], method="SLSQP"
    ...     )
    ...     with tf.compat.v1.Session() as session:
    ...         session.run(tf.compat.v1.global_variables_initializer())
    ...         optimizer.minimize(session)
    ...         np.allclose(session.run(vector), [1.0, 1.0])
    True
    """

    _DEFAULT_METHOD = "L-BFGS-B"

    result: Any = None

    def _minimize(
        self,
        initial_val: np.ndarray,
        loss_grad_func: EvalFunc,
        equality_funcs: list[EvalFunc],
        equality_grad_funcs: list[EvalFunc],
        inequality_funcs: list[EvalFunc],
        inequality_grad_funcs: list[EvalFunc],
        packed_bounds: list[tuple] | None,
        step_callback: Callable[[np.ndarray], Any],
        optimizer_kwargs: dict[str, Any],
    ) -> np.ndarray:
        import scipy.optimize

        optimizer_kwargs = dict(optimizer_kwargs)  # self.optimizer_kwargs keeps 'method'
        method = optimizer_kwargs.pop("method", self._DEFAULT_METHOD)
        for name, instead in _AUTOMATIC_KWARGS.items():
            if name in optimizer_kwargs:
                raise ValueError(
                    f"optimizer_kwargs: got {name}={optimizer_kwargs[name]!r}; {instead}"
                )
        if isinstance(optimizer_kwargs.get("options"), Mapping):
            optimizer_kwargs["options"] = dict(optimizer_kwargs["options"])  # never mutated

        uses_gradient = callable(method) or str(method).lower() not in _GRADIENT_FREE_METHODS

        def loss_and_gradient(x: np.ndarray) -> tuple[np.float64, np.ndarray]:
            # SciPy's Fortran and C cores (L-BFGS-B, TNC, SLSQP) need doubles.
            loss, gradient = loss_grad_func(x)
            return np.float64(loss), np.asarray(gradient, dtype=np.float64)

        def loss_only(x: np.ndarray) -> np.float64:
            return np.float64(loss_grad_func(x)[0])

        def callback(xk: np.ndarray, *unused_state: Any) -> None:
            step_callback(xk)  # trust-constr also passes its state: TF 1 callbacks take xk only

        constraints = [
            {"type": kind, "fun": _as_float64(func), "jac": _as_float64(grad_func)}
            for kind, funcs, grad_funcs in (
                ("eq", equality_funcs, equality_grad_funcs),
                ("ineq", inequality_funcs, inequality_grad_funcs),
            )
            for func, grad_func in zip(funcs, grad_funcs, strict=True)
        ]
        result = scipy.optimize.minimize(
            loss_and_gradient if uses_gradient else loss_only,
            np.asarray(initial_val, dtype=np.float64),
            jac=True if uses_gradient else None,
            callback=callback,
            method=method,
            constraints=constraints,
            bounds=packed_bounds,
            **optimizer_kwargs,
        )
        self.result = result
        _log_result(result)
        return result["x"]

    def _tf2_result(self, packed_var_val: np.ndarray) -> Any:
        return self.result


def _as_float64(func: EvalFunc) -> Callable[[np.ndarray], np.ndarray]:
    def wrapped(x: np.ndarray) -> np.ndarray:
        return np.asarray(func(x), dtype=np.float64)

    return wrapped


def _log_result(result: Any) -> None:
    lines = [
        "Optimization terminated with:",
        "  Message: %s",
        "  Objective function value: %f",
    ]
    args = [result.message, result.fun]
    if hasattr(result, "nit"):  # not every method reports iterations and evaluations
        lines.append("  Number of iterations: %d")
        args.append(result.nit)
    if hasattr(result, "nfev"):
        lines.append("  Number of functions evaluations: %d")
        args.append(result.nfev)
    tf.get_logger().info("\n".join(lines), *args)
