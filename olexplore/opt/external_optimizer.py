"""``ExternalOptimizerInterface``: drive a NumPy-level optimizer over TensorFlow variables.

The port of ``tf.contrib.opt.ExternalOptimizerInterface`` (docs/contrib-spec.md §2.1). The
variables are packed, in ``var_list`` order and C order, into one flat vector; a subclass's
``_minimize`` sees only that vector and functions of it. Two modes, one class:

* **graph mode** -- ``loss`` and the constraints are ``tf.compat.v1`` graph tensors and
  ``minimize(session)`` drives a ``Session``, as in TF 1;
* **TF 2 mode** -- ``loss`` and the constraints are callables returning scalars; each
  evaluation is one call of a compiled ``tf.function`` of the flat vector.

TF 1 evaluated a candidate by *feeding* the variables; TF 2.21 silently ignores feeds of resource
variables. Both modes therefore *assign* the candidate to the variables, then read the loss. That
is exact whatever reads the variables (dense reads, sparse gathers, function bodies), so the
optimizer sees TF 1's numbers. As in TF 1, ``minimize`` ends by assigning the vector
``_minimize`` returned (not the last point evaluated); if ``_minimize`` raises, the initial
values are put back, so the variables end unchanged, as in TF 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.variables import (
    as_tf_variable,
    resolve_variable_mapping,
    touched_trainable_variables,
)
from olexplore.opt.packing import VariablePacking

__all__ = ["ExternalOptimizerInterface", "VariablePacking"]

EvalFunc = Callable[[np.ndarray], list]

# ``_minimize``'s argument prefix -> the constructor argument it comes from.
_CONSTRAINT_ARGUMENTS = {"equality": "equalities", "inequality": "inequalities"}


class ExternalOptimizerInterface:
    """Base class for interfaces with external optimization algorithms.

    Subclass it and implement ``_minimize`` to wrap a new algorithm; use e.g.
    ``ScipyOptimizerInterface`` rather than this class directly.

    Args:
        loss: a scalar graph ``Tensor`` (graph mode) or a callable returning a scalar (TF 2).
        var_list: variables to optimize, in packing order. Default: graph mode, the graph's
            trainable variables; TF 2 mode, the trainable variables the loss reads.
        equalities: scalar tensors (graph) or callables (TF 2) to be held at 0.
        inequalities: scalar tensors (graph) or callables (TF 2) to be held >= 0.
        var_to_bounds: ``{variable: (low, high)}``; keys may also be ``variable.ref()`` or a
            name (needed in TF 2, where variables are unhashable), or a regular expression over
            names. Each side broadcasts to the variable's shape; ``None``/``+-np.inf`` = unbounded.
        **optimizer_kwargs: kept in the public attribute ``optimizer_kwargs``.

    >>> class HalfStep(ExternalOptimizerInterface):
    ...     def _minimize(self, initial_val, loss_grad_func, **unused):
    ...         _, grad = loss_grad_func(initial_val)
    ...         return initial_val - 0.5 * grad
    >>> vector = tf.Variable([4.0, -2.0])
    >>> HalfStep(lambda: tf.reduce_sum(vector**2)).minimize()
    array([0., 0.], dtype=float32)
    >>> vector.numpy()
    array([0., 0.], dtype=float32)
    """

    def __init__(
        self,
        loss: tf.Tensor | Callable[[], Any],
        var_list: Sequence[Any] | None = None,
        equalities: Sequence[Any] | None = None,
        inequalities: Sequence[Any] | None = None,
        var_to_bounds: Mapping[Any, Any] | None = None,
        **optimizer_kwargs: Any,
    ) -> None:
        self._graph_mode = tf.is_tensor(loss) and tf.is_symbolic_tensor(loss)
        if not self._graph_mode and not callable(loss):
            raise TypeError(
                f"loss: got {loss!r} of type {type(loss).__name__}; accepted are a scalar graph "
                "tensor (graph mode) or a callable returning the loss (TF 2 mode), e.g. "
                "loss=lambda: tf.reduce_sum(vector**2)"
            )
        if self._graph_mode and loss.shape.rank not in (None, 0):
            raise ValueError(f"loss: expected a scalar tensor, got shape {loss.shape}")
        self._loss: Any = loss
        self._constraints = {
            "equality": self._check_constraints(equalities, "equalities"),
            "inequality": self._check_constraints(inequalities, "inequalities"),
        }
        self.optimizer_kwargs = optimizer_kwargs
        self._packing = packing = VariablePacking(self._variables(var_list))
        if var_to_bounds is not None:
            if not isinstance(var_to_bounds, Mapping):
                raise TypeError(
                    f"var_to_bounds: expected a dict {{variable: (low, high)}}, got "
                    f"{var_to_bounds!r} of type {type(var_to_bounds).__name__}"
                )
            var_to_bounds = resolve_variable_mapping(
                var_to_bounds, packing.variables, "var_to_bounds"
            )
        self._packed_bounds = packing.bounds(var_to_bounds)
        self._tf2_cache: tuple[list[Any], dict[str, Any]] | None = None
        if self._graph_mode:
            with loss.graph.as_default(), tf.compat.v1.name_scope("ExternalOptimizerInterface"):
                # Candidates arrive through this placeholder and are *assigned* (see above).
                self._candidate = tf.compat.v1.placeholder(packing.dtype, [packing.size])
                self._load_candidate = tf.group(*packing.assign(self._candidate))
                self._packed_var = packing.pack(packing.variables)
                self._packed_loss_grad = self._graph_gradient(self._loss)
                self._packed_constraint_grads = {
                    kind: [self._graph_gradient(c) for c in constraints]
                    for kind, constraints in self._constraints.items()
                }

    def _check_constraints(self, constraints: Sequence[Any] | None, argument: str) -> list[Any]:
        constraints = list(constraints or [])
        for index, constraint in enumerate(constraints):
            if self._graph_mode:
                ok = tf.is_tensor(constraint) and tf.is_symbolic_tensor(constraint)
                ok = ok and constraint.graph is self._loss.graph
                wanted = "a scalar tensor of the loss's graph"
            else:
                ok, wanted = callable(constraint), "a callable returning a scalar (TF 2 mode)"
            if not ok:
                raise TypeError(f"{argument}[{index}]: got {constraint!r}; expected {wanted}")
            if self._graph_mode and constraint.shape.rank not in (None, 0):
                raise ValueError(
                    f"{argument}[{index}]: expected a scalar, got shape {constraint.shape}"
                )
        return constraints

    def _variables(self, var_list: Sequence[Any] | None) -> list[tf.Variable]:
        if var_list is None:
            if self._graph_mode:
                return self._loss.graph.get_collection(tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)
            return touched_trainable_variables(self._loss)
        variables = []
        for index, variable in enumerate(var_list):
            try:
                variables.append(as_tf_variable(variable))
            except TypeError as error:
                raise TypeError(f"var_list[{index}]: {error}") from None
        return variables

    def _graph_gradient(self, tensor: tf.Tensor) -> tf.Tensor:
        zero = tf.UnconnectedGradients.ZERO  # TF 1 replaced a None gradient with zeros
        gradients = tf.gradients(tensor, self._packing.variables, unconnected_gradients=zero)
        return self._packing.pack(gradients)

    def _graph_eval_func(
        self, tensors: list[Any], session: Any, feed_dict: dict, fetches: list, callback: Any
    ) -> EvalFunc:
        count, to_run = len(tensors), list(tensors) + fetches

        def eval_func(x: np.ndarray) -> list:
            # Two runs: the loss ops already exist, so nothing can order their reads after an
            # assignment made in the same run.
            session.run(self._load_candidate, feed_dict={self._candidate: x})
            values = session.run(to_run, feed_dict=feed_dict)
            if callable(callback):
                callback(*values[count:])
            return values[:count]

        return eval_func

    def _tf2_function(self, function: Callable, argument: str, outputs: str, fetches: list) -> Any:
        """One compiled evaluation of the flat vector; ``outputs`` is value, gradient or both."""
        packing = self._packing

        def evaluate(flat: tf.Tensor) -> tuple[list[tf.Tensor], list[Any]]:
            packing.assign(flat)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(packing.variables if outputs != "value" else [])
                value = tf.convert_to_tensor(function())
            if value.shape.rank != 0:
                raise ValueError(f"{argument}: expected a scalar, got shape {value.shape}")
            results = [] if outputs == "gradient" else [value]
            if outputs != "value":
                zero = tf.UnconnectedGradients.ZERO  # TF 1 replaced None gradients with zeros
                results.append(packing.pack(tape.gradient(value, packing.variables, None, zero)))
            return results, [tf.nest.map_structure(tf.convert_to_tensor, f()) for f in fetches]

        # A concrete function: traced once, here, and called without tf.function's dispatch
        # (whose retracing detector would also warn when many optimizers are created).
        spec = tf.TensorSpec([packing.size], packing.dtype)
        return tf.function(evaluate).get_concrete_function(spec)

    def _tf2_eval_func(self, compiled: Any, callback: Any = None) -> EvalFunc:
        dtype = self._packing.dtype

        def eval_func(x: np.ndarray) -> list:
            results, fetched = compiled(tf.constant(x, dtype=dtype))
            if callable(callback):  # tf.nest costs ~10 us: skip it when nothing was fetched
                callback(*tf.nest.map_structure(lambda t: t.numpy(), fetched) if fetched else ())
            return [result.numpy() for result in results]

        return eval_func

    def _tf2_compiled(self, fetches: list) -> dict[str, Any]:
        """The compiled evaluators, traced once and reused while ``fetches`` are the same."""
        cached = self._tf2_cache
        if cached and len(cached[0]) == len(fetches):
            if all(a is b for a, b in zip(cached[0], fetches, strict=True)):
                return cached[1]
        compiled: dict[str, Any] = {"loss": self._tf2_function(self._loss, "loss", "both", fetches)}
        for kind, constraints in self._constraints.items():
            compiled[kind] = [
                [
                    self._tf2_function(c, f"{_CONSTRAINT_ARGUMENTS[kind]}[{i}]", out, fetches)
                    for out in ("value", "gradient")
                ]
                for i, c in enumerate(constraints)
            ]
        self._tf2_cache = (fetches, compiled)
        return compiled

    def minimize(
        self,
        session: Any = None,
        feed_dict: dict | None = None,
        fetches: Sequence[Any] | None = None,
        step_callback: Callable[[np.ndarray], Any] | None = None,
        loss_callback: Callable[..., Any] | None = None,
        **run_kwargs: Any,
    ) -> Any:
        """Minimize the loss; the variables are updated in place at the end.

        Args:
            session: graph mode only: the ``Session`` (default: the default session).
            feed_dict: graph mode only: fed to every ``session.run``.
            fetches: tensors (graph mode) or callables (TF 2 mode) evaluated with every
                evaluation and passed to ``loss_callback`` as positional arguments.
            step_callback: called at each optimization step with the packed variable vector.
            loss_callback: called after every loss-and-gradient evaluation with the fetches.
            **run_kwargs: graph mode only: passed to the final ``session.run``, the one that
                assigns the result (e.g. ``options``, ``run_metadata``).

        Returns:
            ``None`` in graph mode (as TF 1); in TF 2 mode, the final packed vector
            (``ScipyOptimizerInterface``: the SciPy result).
        """
        for name, callback in (("step_callback", step_callback), ("loss_callback", loss_callback)):
            if callback is not None and not callable(callback):
                raise TypeError(
                    f"{name}: got {callback!r} of type {type(callback).__name__}; expected None "
                    "or a function (step_callback gets the packed vector, loss_callback the "
                    "fetches)"
                )
        if self._graph_mode and feed_dict is not None and not isinstance(feed_dict, Mapping):
            raise TypeError(
                f"feed_dict: got {feed_dict!r} of type {type(feed_dict).__name__}; expected None "
                "or a dict {placeholder: value}"
            )
        fetches = list(fetches or [])
        loss_callback = loss_callback or (lambda *fetches: None)
        step_callback = step_callback or (lambda xk: None)
        if self._graph_mode:
            session = self._graph_session(session)
            feed_dict = dict(feed_dict or {})

            def make(tensors: list, callback: Any = None) -> EvalFunc:
                return self._graph_eval_func(tensors, session, feed_dict, fetches, callback)

            funcs: dict[str, Any] = {
                "loss_grad_func": make([self._loss, self._packed_loss_grad], loss_callback)
            }
            for kind, constraints in self._constraints.items():
                funcs[f"{kind}_funcs"] = [make([c]) for c in constraints]
                funcs[f"{kind}_grad_funcs"] = [
                    make([g]) for g in self._packed_constraint_grads[kind]
                ]
            initial_val = session.run(self._packed_var)

            def load(packed: np.ndarray, **kwargs: Any) -> None:
                session.run(self._load_candidate, {self._candidate: packed}, **kwargs)
        else:
            self._check_tf2_call(session, feed_dict, fetches, run_kwargs)
            compiled, evaluator = self._tf2_compiled(fetches), self._tf2_eval_func
            funcs = {"loss_grad_func": evaluator(compiled["loss"], loss_callback)}
            for kind in self._constraints:
                funcs[f"{kind}_funcs"] = [evaluator(value) for value, _ in compiled[kind]]
                funcs[f"{kind}_grad_funcs"] = [evaluator(grad) for _, grad in compiled[kind]]
            initial_val = self._packing.pack(self._packing.variables).numpy()

            def load(packed: np.ndarray, **kwargs: Any) -> None:
                # Eagerly: a tf.function traced for a single call per instance makes TF warn.
                self._packing.assign(tf.constant(packed, dtype=self._packing.dtype))

        try:
            packed_var_val = self._minimize(
                initial_val=initial_val,
                packed_bounds=self._packed_bounds,
                step_callback=step_callback,
                optimizer_kwargs=self.optimizer_kwargs,
                **funcs,
            )
        except BaseException:
            load(initial_val)  # evaluations assigned candidates; TF 1 left the variables alone
            raise
        packed_var_val = np.asarray(packed_var_val).reshape(-1)
        if packed_var_val.shape != (self._packing.size,):
            raise ValueError(
                f"_minimize returned {packed_var_val.size} values; expected {self._packing.size}"
            )
        load(packed_var_val, **run_kwargs)  # the only run that receives run_kwargs (TF 1)
        return None if self._graph_mode else self._tf2_result(packed_var_val)

    def _graph_session(self, session: Any) -> Any:
        session = session or tf.compat.v1.get_default_session()
        if session is None:
            raise ValueError(
                "session: got None and there is no default session; graph mode needs "
                "minimize(session) or a `with session.as_default():` block"
            )
        if getattr(session, "graph", self._loss.graph) is not self._loss.graph:
            raise ValueError("session: its graph is not the graph of the loss")
        return session

    def _check_tf2_call(self, session: Any, feed_dict: Any, fetches: list, kwargs: dict) -> None:
        if not tf.executing_eagerly():
            raise RuntimeError("minimize(): in TF 2 mode call it eagerly, not in a tf.function")
        for name, value in (("session", session), ("feed_dict", feed_dict), ("run_kwargs", kwargs)):
            if value is not None and value != {}:
                raise ValueError(
                    f"{name}: got {value!r}; TF 2 mode (callable loss) has no session, feeds or "
                    "run options: read inputs inside the loss callable instead"
                )
        for index, fetch in enumerate(fetches):
            if not callable(fetch):
                raise TypeError(
                    f"fetches[{index}]: got {fetch!r}; in TF 2 mode fetches are callables, "
                    "e.g. fetches=[lambda: tf.norm(vector)]"
                )

    def _tf2_result(self, packed_var_val: np.ndarray) -> Any:
        """What ``minimize`` returns in TF 2 mode; subclasses may return richer results."""
        return packed_var_val

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
        """Run the algorithm from ``initial_val``; return the optimal packed vector.

        ``loss_grad_func(x)`` returns ``[loss, packed_gradient]``; each constraint function
        returns ``[value]`` and each constraint gradient function ``[packed_gradient]``, in the
        variables' dtype, as TF 1's ``session.run`` did.
        """
        raise NotImplementedError(
            "To use ExternalOptimizerInterface, subclass from it and implement the _minimize() "
            "method."
        )
