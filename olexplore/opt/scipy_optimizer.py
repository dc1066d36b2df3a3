"""``ScipyOptimizerInterface``: ``scipy.optimize.minimize`` over TensorFlow variables.

The port of ``tf.contrib.opt.ScipyOptimizerInterface`` (docs/contrib-spec.md §2.2), in graph
mode (``minimize(session)``, as in TF 1) and in TF 2 mode (callable loss, ``minimize()``).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.opt.external_optimizer import EvalFunc, ExternalOptimizerInterface

__all__ = ["ScipyOptimizerInterface"]

# SciPy warns when these get ``jac=True`` and never calls a gradient: they get a value-only
# objective instead (the loss is evaluated exactly as often, and ``loss_callback`` fires the same).
_GRADIENT_FREE_METHODS = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})

#: The methods of ``scipy.optimize.minimize`` (SciPy 1.17), as SciPy spells them; SciPy matches
#: them case-insensitively.
SCIPY_METHODS = (
    "Nelder-Mead",
    "Powell",
    "CG",
    "BFGS",
    "Newton-CG",
    "L-BFGS-B",
    "TNC",
    "COBYLA",
    "COBYQA",
    "SLSQP",
    "trust-constr",
    "dogleg",
    "trust-ncg",
    "trust-exact",
    "trust-krylov",
)

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
    SciPy receives ``x0``, values and gradients in float64, except that gradient-free methods
    (Nelder-Mead, Powell, COBYLA, COBYQA) get ``x0`` and values in the variables' dtype, as in
    TF 1, and a value-only objective rather than ``jac=True``, which current SciPy warns about.
    ``method``, ``options`` and ``tol`` are checked when the interface is built. SciPy 1.17's
    TNC has no ``maxiter``: TF 1 code passing ``options={'maxiter': n}`` gets ``maxfun=n`` and
    a ``UserWarning`` saying so. ``step_callback`` always receives only the vector
    (trust-constr passes its state too). The result is logged and kept in ``self.result``; in
    TF 2 mode ``minimize()`` also returns it.

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

    def __init__(
        self,
        loss: tf.Tensor | Callable[[], Any],
        var_list: Sequence[Any] | None = None,
        equalities: Sequence[Any] | None = None,
        inequalities: Sequence[Any] | None = None,
        var_to_bounds: Mapping[Any, Any] | None = None,
        **optimizer_kwargs: Any,
    ) -> None:
        _check_scipy_kwargs(optimizer_kwargs)  # before anything is built
        super().__init__(
            loss,
            var_list=var_list,
            equalities=equalities,
            inequalities=inequalities,
            var_to_bounds=var_to_bounds,
            **optimizer_kwargs,
        )

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
        if isinstance(method, str) and method.lower() == "tnc":
            _tnc_maxiter_as_maxfun(optimizer_kwargs.get("options"))

        uses_gradient = callable(method) or str(method).lower() not in _GRADIENT_FREE_METHODS
        # SciPy's Fortran and C cores (L-BFGS-B, TNC, SLSQP) need doubles; gradient-free methods
        # get the variables' own dtype, as in TF 1 (Nelder-Mead then works in float32).
        x0 = np.asarray(initial_val, dtype=np.float64 if uses_gradient else None)

        def loss_and_gradient(x: np.ndarray) -> tuple[np.float64, np.ndarray]:
            loss, gradient = loss_grad_func(x)
            return np.float64(loss), np.asarray(gradient, dtype=np.float64)

        def loss_only(x: np.ndarray) -> Any:
            return loss_grad_func(x)[0]  # the value in the variables' dtype, as TF 1 gave it

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
            x0,
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


def _check_scipy_kwargs(optimizer_kwargs: Mapping[str, Any]) -> None:
    """``method``, ``options`` and ``tol`` checked when the interface is built, not in SciPy."""
    method = optimizer_kwargs.get("method", ScipyOptimizerInterface._DEFAULT_METHOD)
    known = [name.lower() for name in SCIPY_METHODS]
    if not callable(method) and not (isinstance(method, str) and method.lower() in known):
        raise ValueError(
            f"method: got {method!r} ({type(method).__name__}); accepted: a callable "
            f"minimizer or one of scipy.optimize.minimize's methods {list(SCIPY_METHODS)} "
            "(case-insensitive)."
        )
    options = optimizer_kwargs.get("options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise ValueError(
                f"options: got {options!r} ({type(options).__name__}); accepted: None or a dict "
                f"of {method!r}'s solver options, e.g. options={{'maxiter': 100}}."
            )
        for name in options:
            if not isinstance(name, str):
                raise ValueError(
                    f"options: got the key {name!r} ({type(name).__name__}); accepted: option "
                    "names as strings, e.g. options={'maxiter': 100}."
                )
    tol = optimizer_kwargs.get("tol")
    if tol is not None and not (
        isinstance(tol, numbers.Real) and not isinstance(tol, bool) and 0.0 <= float(tol) < np.inf
    ):
        raise ValueError(
            f"tol: got {tol!r} ({type(tol).__name__}); accepted: None or a non-negative "
            "finite number, the tolerance for termination."
        )


def _tnc_maxiter_as_maxfun(options: dict[str, Any] | None) -> None:
    """SciPy 1.17's TNC has no ``maxiter`` (it stops near 100 evaluations): use it as ``maxfun``.

    >>> options = {"maxiter": 500}
    >>> with warnings.catch_warnings(record=True):
    ...     _tnc_maxiter_as_maxfun(options)
    >>> options
    {'maxfun': 500}
    """
    if not options or "maxiter" not in options:
        return
    maxiter = options.pop("maxiter")
    if "maxfun" in options:
        note = f"options['maxfun']={options['maxfun']!r} is given too and is kept"
    else:
        options["maxfun"] = maxiter
        note = "it is passed as options['maxfun'], the limit on function evaluations"
    warnings.warn(
        f"ScipyOptimizerInterface: SciPy's TNC has no 'maxiter' option (options['maxiter']="
        f"{maxiter!r}, accepted by TF 1's SciPy); {note}.",
        UserWarning,
        stacklevel=4,
    )
