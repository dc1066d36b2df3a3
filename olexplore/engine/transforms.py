"""Gradient transforms over lists of ``(gradient, variable)`` pairs, composed by ``optimize_loss``.

In the style of optax: each factory returns a :class:`GradientTransform`, a pair of functions.
``init(variables)`` creates the transform's state once, outside any ``tf.function`` (an empty
tuple when stateless); ``update(grads_and_vars, state, context)`` maps the pairs to new pairs.
``None`` gradients always pass through untouched, and ``tf.IndexedSlices`` stay sparse wherever
TF 1 kept them sparse. ``context`` is a :class:`StepContext` shared by the transforms of one step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from olexplore._tensorflow import tf
from olexplore.engine import stateless

GradsAndVars = list[tuple[Any, Any]]


class GradientTransform(NamedTuple):
    """``init(variables) -> state`` and ``update(grads_and_vars, state, context) -> pairs``."""

    init: Callable[[Sequence[Any]], Any]
    update: Callable[[GradsAndVars, Any, StepContext], GradsAndVars]


@dataclass
class StepContext:
    """What the transforms of one step share: the pre-clip global norm and reported values."""

    global_norm: Any = None
    reports: dict[str, Any] = field(default_factory=dict)


def _no_state(variables: Sequence[Any]) -> tuple:
    return ()


def gradients_of(grads_and_vars: GradsAndVars) -> list[Any]:
    """The gradients of a list of pairs.

    >>> gradients_of([(1.0, "a"), (None, "b")])
    [1.0, None]
    """
    return [gradient for gradient, _ in grads_and_vars]


def global_norm(grads_and_vars: GradsAndVars) -> tf.Tensor:
    """Joint L2 norm of all gradients; ``None`` is skipped, ``IndexedSlices`` count their values.

    >>> float(global_norm([(tf.constant([3.0]), None), (tf.constant([4.0]), None)]))
    5.0
    """
    return tf.linalg.global_norm([g for g in gradients_of(grads_and_vars) if g is not None])


def scale_gradient(gradient: Any, factor: Any) -> Any:
    """``gradient * factor`` (cast to the gradient's dtype), keeping ``IndexedSlices`` sparse.

    >>> scale_gradient(tf.constant([1.0, 2.0]), 3).numpy()
    array([3., 6.], dtype=float32)
    """
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        factor = tf.cast(factor, gradient.values.dtype)
        return tf.IndexedSlices(gradient.values * factor, gradient.indices, gradient.dense_shape)
    return gradient * tf.cast(factor, gradient.dtype)


def add_noise(
    scale: Any, seed: int | None = None, counter: tf.Variable | None = None
) -> GradientTransform:
    """Add truncated-normal noise of standard deviation ``scale`` to every gradient.

    ``g + scale * n`` with ``n`` drawn from a normal distribution truncated at two standard
    deviations, so each element of the noise lies strictly inside ``(-2 scale, 2 scale)``; the
    scale is constant over steps (TF 1 did not anneal it as Neelakantan et al., 2015,
    arXiv:1511.06807, do). ``IndexedSlices`` become dense, as in TF 1.

    Without a ``seed`` the draws come from TF's stateful generator. With one, graph mode gives
    gradient ``i`` the op seed ``seed + i``; in TF 2 mode pass a step ``counter`` variable and the
    draws are stateless functions of ``(seed, counter, i)`` (:func:`stateless.truncated_normal`),
    so a run reproduces bit for bit, and a train op compiled with XLA adds the same noise.
    Noise is drawn in each gradient's dtype (TF 1 always drew float32).

    >>> noisy = add_noise(0.1, seed=1).update([(tf.zeros([1000]), None)], (), StepContext())
    >>> bool(tf.reduce_max(tf.abs(noisy[0][0])) < 0.2)
    True
    """

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        noisy = []
        for index, (gradient, variable) in enumerate(grads_and_vars):
            if gradient is None:
                noisy.append((None, variable))
                continue
            dense = tf.convert_to_tensor(gradient)

            def add(dense: tf.Tensor = dense, index: int = index) -> tf.Tensor:
                shape = tf.shape(dense)
                if seed is not None and counter is not None:
                    draw_seed = stateless.derive_seed(seed, counter, index)
                    noise = stateless.truncated_normal(shape, draw_seed, dtype=dense.dtype)
                else:
                    op_seed = None if seed is None else seed + index
                    noise = tf.random.truncated_normal(shape, dtype=dense.dtype, seed=op_seed)
                return dense + noise * tf.cast(scale, dense.dtype)

            if counter is not None:
                # TF 2 mode holds the scale in a variable: skip the draw while it is zero, so
                # noise can be switched on later without rebuilding (or paying for it now).
                noisy.append((tf.cond(scale > 0, add, lambda dense=dense: dense), variable))
            else:
                noisy.append((add(), variable))
        return noisy

    return GradientTransform(_no_state, update)


def multiply(multipliers: Mapping[Any, Any]) -> GradientTransform:
    """Multiply the gradient of each variable in ``multipliers`` (keyed by ``variable.ref()``).

    Dense gradients become ``g * cast(m, g.dtype)``; ``IndexedSlices`` keep their indices and
    have their values scaled. Variables without an entry pass through.

    >>> v = tf.Variable([1.0, 1.0])
    >>> pairs = multiply({v.ref(): 0.5}).update([(tf.constant([2.0, 4.0]), v)], (), StepContext())
    >>> pairs[0][0].numpy()
    array([1., 2.], dtype=float32)
    """

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        result = []
        for gradient, variable in grads_and_vars:
            factor = multipliers.get(variable.ref()) if gradient is not None else None
            result.append(
                (gradient if factor is None else scale_gradient(gradient, factor), variable)
            )
        return result

    return GradientTransform(_no_state, update)


def clip_by_global_norm(clip_norm: Any) -> GradientTransform:
    """Rescale all gradients jointly so their global norm is at most ``clip_norm``.

    Every gradient is multiplied by ``clip_norm / max(global_norm, clip_norm)`` (Pascanu et al.,
    2013, arXiv:1211.5063), exactly ``tf.clip_by_global_norm``; it reuses the pre-clip norm of the
    step's :class:`StepContext` when one was computed.

    >>> pairs = [(tf.constant([3.0]), None), (tf.constant([4.0]), None)]
    >>> [float(g[0]) for g, _ in clip_by_global_norm(1.0).update(pairs, (), StepContext())]
    [0.6000000238418579, 0.800000011920929]
    """

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        gradients = gradients_of(grads_and_vars)
        clipped, _ = tf.clip_by_global_norm(gradients, clip_norm, use_norm=context.global_norm)
        return [(g, v) for g, (_, v) in zip(clipped, grads_and_vars, strict=True)]

    return GradientTransform(_no_state, update)


def user_function(function: Callable[[GradsAndVars], GradsAndVars]) -> GradientTransform:
    """Wrap a user's ``clip_gradients`` callable: it receives and returns the list of pairs.

    >>> halve = user_function(lambda pairs: [(g / 2, v) for g, v in pairs])
    >>> float(halve.update([(tf.constant(4.0), None)], (), StepContext())[0][0])
    2.0
    """

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        result = function(list(grads_and_vars))
        if result is None:
            raise ValueError(
                f"clip_gradients: the callable {function!r} returned None; it must return the "
                "list of (gradient, variable) pairs it received, with the gradients modified."
            )
        return list(result)

    return GradientTransform(_no_state, update)
