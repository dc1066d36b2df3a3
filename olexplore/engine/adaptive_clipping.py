"""TF 1's ``adaptive_clipping_fn``: clip the global norm against its own running statistics.

Based on Hannun et al., "Deep Speech" (arXiv:1412.1602, section 3.2.1): keep exponential moving
averages of ``log(norm)`` and ``log(norm)^2``; when the global norm exceeds
``exp(mean + std_factor * std)`` rescale the gradients so that their norm becomes ``exp(mean)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.transforms import (
    GradientTransform,
    GradsAndVars,
    StepContext,
    global_norm,
    scale_gradient,
)
from olexplore.engine.validation import (
    check_flag,
    check_global_step_tensor,
    check_name,
    describe,
    is_real_number,
)

REPORT_KEY = "adaptive_max_gradient_norm"


def _positive(value: float) -> bool:
    return value > 0.0


def _number(argument: str, value: Any, accepted: str, valid: Callable[[float], bool]) -> float:
    """``value`` as a float if it is a finite real number passing ``valid``, else ValueError."""
    if is_real_number(value) and np.isfinite(float(value)) and valid(float(value)):
        return float(value)
    raise ValueError(
        f"{argument}: got {describe(value)}; accepted by adaptive_clipping_fn: {accepted}."
    )


def _in_graph_mode() -> bool:
    return not tf.executing_eagerly() and not tf.inside_function()


class AdaptiveClipping:
    """The callable returned by :func:`adaptive_clipping_fn`; see there.

    In graph mode each call creates its two state variables with ``get_variable`` in a fresh
    ``AdaptiveMaxNorm`` variable scope, as TF 1 did. In TF 2 mode the state is created once, on
    :meth:`build` (``optimize_loss`` calls it before tracing) or on the first eager call.
    """

    def __init__(
        self,
        std_factor: float = 2.0,
        decay: float = 0.95,
        static_max_norm: float | None = None,
        global_step: Any = None,
        report_summary: bool = False,
        epsilon: float = 1e-8,
        name: str | None = None,
    ) -> None:
        self.std_factor = _number("std_factor", std_factor, "a finite float", lambda x: True)
        self.decay = _number("decay", decay, "a float in [0, 1]", lambda x: 0.0 <= x <= 1.0)
        self.static_max_norm = (
            None
            if static_max_norm is None
            else _number("static_max_norm", static_max_norm, "None or a positive float", _positive)
        )
        if global_step is not None:
            check_global_step_tensor(global_step)
        self.global_step = global_step
        self.report_summary = check_flag(report_summary, "report_summary")
        self.epsilon = _number("epsilon", epsilon, "a positive finite float", _positive)
        self.name = check_name(name)
        self.mean: tf.Variable | None = None
        self.sq_mean: tf.Variable | None = None

    def build(self) -> None:
        """Create the TF 2 state variables ``mean`` and ``sq_mean`` (float32, zero) once."""
        if self.mean is None:
            with tf.init_scope():
                scope = self.name or "AdaptiveMaxNorm"
                zero = tf.constant(0.0)
                self.mean = tf.Variable(zero, trainable=False, name=f"{scope}/mean")
                self.sq_mean = tf.Variable(zero, trainable=False, name=f"{scope}/sq_mean")

    def as_transform(self) -> GradientTransform:
        """This clipping as a :class:`~olexplore.engine.transforms.GradientTransform`."""
        return GradientTransform(lambda variables: self._state(), self._update)

    def __call__(self, grads_and_vars: GradsAndVars) -> GradsAndVars:
        """Clip ``grads_and_vars`` and update the running statistics."""
        return self._update(list(grads_and_vars), self._state(), StepContext())

    def _state(self) -> Any:
        if _in_graph_mode():
            return None  # created per call, inside the variable scope
        self.build()
        return self.mean, self.sq_mean

    def _decay_now(self, dtype: tf.DType) -> Any:
        if self.global_step is None:
            return tf.constant(self.decay, dtype)
        n = tf.cast(self.global_step, dtype)
        return tf.minimum(tf.constant(self.decay, dtype), n / (n + 1.0))

    @staticmethod
    def _moving_average(variable: Any, value: Any, decay: Any) -> Any:
        # TF 1's assign_moving_average without zero-debiasing: m <- m - (1 - decay)(m - x).
        return variable.assign_sub((variable - value) * (1.0 - decay))

    def _update(self, grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> Any:
        norm = context.global_norm if context.global_norm is not None else None
        if norm is None:
            norm = global_norm(grads_and_vars)
        if state is None:
            max_norm, log_mean = self._graph_statistics(norm)
        else:
            max_norm, log_mean = self._statistics(norm, *state)
        if self.report_summary and _in_graph_mode():
            tf.compat.v1.summary.scalar("global_norm/adaptive_max_gradient_norm", max_norm)
        context.reports[REPORT_KEY] = max_norm
        factor = tf.where(norm < max_norm, tf.ones_like(norm), tf.exp(log_mean) / norm)
        if self.static_max_norm is not None:
            factor = tf.minimum(tf.cast(self.static_max_norm, norm.dtype) / norm, factor)
        return [(scale_gradient(g, factor), v) for g, v in grads_and_vars]

    def _graph_statistics(self, norm: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.compat.v1.variable_scope(self.name, "AdaptiveMaxNorm", values=[norm]):

            def state_variable(name: str) -> Any:
                return tf.compat.v1.get_variable(
                    name,
                    shape=norm.get_shape(),
                    dtype=norm.dtype,
                    initializer=tf.compat.v1.zeros_initializer(),
                    trainable=False,
                )

            return self._statistics(norm, state_variable("mean"), state_variable("sq_mean"))

    def _statistics(self, norm: Any, mean_var: Any, sq_mean_var: Any) -> tuple[Any, Any]:
        log_norm = tf.math.log(norm + self.epsilon)
        decay = self._decay_now(norm.dtype)
        mean = self._moving_average(mean_var, log_norm, decay)
        sq_mean = self._moving_average(sq_mean_var, tf.square(log_norm), decay)
        variance = sq_mean - tf.square(mean)
        std = tf.sqrt(tf.maximum(tf.cast(self.epsilon, norm.dtype), variance))
        return tf.exp(mean + self.std_factor * std), mean


def adaptive_clipping_fn(
    std_factor: float = 2.0,
    decay: float = 0.95,
    static_max_norm: float | None = None,
    global_step: tf.Variable | tf.Tensor | None = None,
    report_summary: bool = False,
    epsilon: float = 1e-8,
    name: str | None = None,
) -> AdaptiveClipping:
    """Adaptive gradient clipping, to pass as ``clip_gradients`` to ``optimize_loss``.

    Each call updates ``mean`` and ``sq_mean``, moving averages of ``log(norm + epsilon)`` and
    its square with decay ``min(decay, n / (n + 1))`` at global step ``n`` (``decay`` when no
    ``global_step`` is given), then sets ``max_norm = exp(mean + std_factor * std)`` with
    ``std = sqrt(max(epsilon, sq_mean - mean^2))``. Gradients whose global norm reaches
    ``max_norm`` are rescaled to norm ``exp(mean)``; ``static_max_norm`` caps the norm besides.
    With ``report_summary`` the ``global_norm/adaptive_max_gradient_norm`` summary is written.

    >>> clip = adaptive_clipping_fn(decay=0.5)
    >>> pairs = [(tf.constant([3.0, 4.0]), None)]
    >>> first = clip(pairs)  # no global_step: mean moves from 0 by (1 - decay) * log(5)
    >>> round(float(clip.mean.numpy()), 4)
    0.8047
    """
    return AdaptiveClipping(
        std_factor=std_factor,
        decay=decay,
        static_max_norm=static_max_norm,
        global_step=global_step,
        report_summary=report_summary,
        epsilon=epsilon,
        name=name,
    )
