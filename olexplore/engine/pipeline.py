"""The gradient pipeline of ``optimize_loss``, composed once for both modes, in TF 1's order.

noise -> multipliers -> global norm -> clipping -> clipped global norm, as an optax-style
:func:`chain` of :class:`~olexplore.engine.transforms.GradientTransform`. Graph mode and TF 2 mode
build it with :func:`gradient_pipeline` and run it with :func:`run_pipeline`, which returns the
transformed ``(gradient, variable)`` pairs and the step's metrics; applying them is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from olexplore.engine.adaptive_clipping import AdaptiveClipping
from olexplore.engine.transforms import (
    GradientTransform,
    GradsAndVars,
    StepContext,
    clip_by_global_norm,
    global_norm,
    multiply,
    user_function,
)

#: The metric the pipeline reports before clipping, and after it when it clips.
GLOBAL_NORM = "global_norm"
CLIPPED_GLOBAL_NORM = "clipped_global_norm"


def chain(*transforms: GradientTransform | None) -> GradientTransform:
    """Compose transforms left to right (optax's ``chain``); ``None`` entries are skipped.

    >>> double = GradientTransform(lambda v: (), lambda p, s, c: [(2 * g, v) for g, v in p])
    >>> both = chain(double, None, double)
    >>> both.update([(1.0, "w")], both.init([]), StepContext())
    [(4.0, 'w')]
    """
    present = [t for t in transforms if t is not None]

    def init(variables: Sequence[Any]) -> tuple:
        return tuple(t.init(variables) for t in present)

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        for transform, part in zip(present, state, strict=True):
            grads_and_vars = transform.update(grads_and_vars, part, context)
        return grads_and_vars

    return GradientTransform(init, update)


def measure_global_norm(key: str) -> GradientTransform:
    """Report the global norm of the pairs as ``context.reports[key]`` (pairs pass unchanged).

    The pre-clip measurement (``key == GLOBAL_NORM``) is also the norm the clipping reuses.

    >>> from olexplore._tensorflow import tf
    >>> context = StepContext()
    >>> _ = measure_global_norm(GLOBAL_NORM).update([(tf.constant([3.0, 4.0]), "w")], (), context)
    >>> float(context.reports["global_norm"]), float(context.global_norm)
    (5.0, 5.0)
    """

    def update(grads_and_vars: GradsAndVars, state: Any, context: StepContext) -> GradsAndVars:
        norm = global_norm(grads_and_vars)
        if key == GLOBAL_NORM:
            context.global_norm = norm
        context.reports[key] = norm
        return grads_and_vars

    return GradientTransform(lambda variables: (), update)


def clip_transform(clip_gradients: Any, clip_norm: Any = None) -> GradientTransform | None:
    """The one dispatch over ``clip_gradients`` (already validated).

    A float clips the global norm (to ``clip_norm`` when given, e.g. a variable the TF 2 train
    op can change); an :class:`AdaptiveClipping` keeps its running statistics; any other
    callable receives and returns the pairs.

    >>> clip_transform(None) is None, type(clip_transform(1.0)).__name__
    (True, 'GradientTransform')
    """
    if clip_gradients is None:
        return None
    if isinstance(clip_gradients, float):
        return clip_by_global_norm(clip_gradients if clip_norm is None else clip_norm)
    if isinstance(clip_gradients, AdaptiveClipping):
        return clip_gradients.as_transform()
    return user_function(clip_gradients)


def gradient_pipeline(
    *,
    noise: GradientTransform | None = None,
    multipliers: Mapping[Any, Any] | None = None,
    clip: GradientTransform | None = None,
) -> GradientTransform:
    """TF 1's order: noise -> multipliers -> global norm -> clip -> clipped global norm.

    ``multipliers`` is keyed by ``variable.ref()`` (see ``resolve_variable_mapping``).

    >>> from olexplore._tensorflow import tf
    >>> w = tf.Variable([0.0, 0.0])
    >>> pipeline = gradient_pipeline(multipliers={w.ref(): 2.0}, clip=clip_transform(5.0))
    >>> pairs, metrics = run_pipeline(pipeline, pipeline.init([w]), [(tf.constant([3.0, 4.0]), w)])
    >>> pairs[0][0].numpy(), float(metrics["global_norm"]), float(metrics["clipped_global_norm"])
    (array([3., 4.], dtype=float32), 10.0, 5.0)
    """
    return chain(
        noise,
        multiply(multipliers) if multipliers else None,
        measure_global_norm(GLOBAL_NORM),
        clip,
        measure_global_norm(CLIPPED_GLOBAL_NORM) if clip is not None else None,
    )


def run_pipeline(
    pipeline: GradientTransform, state: Any, grads_and_vars: GradsAndVars
) -> tuple[GradsAndVars, dict[str, Any]]:
    """Run ``pipeline`` on the pairs; return the new pairs and the step's reported metrics.

    >>> from olexplore._tensorflow import tf
    >>> pipeline = gradient_pipeline()
    >>> pairs = [(tf.constant([6.0, 8.0]), None)]
    >>> pairs, metrics = run_pipeline(pipeline, pipeline.init([]), pairs)
    >>> sorted(metrics), float(metrics["global_norm"])
    (['global_norm'], 10.0)
    """
    context = StepContext()
    pairs = pipeline.update(list(grads_and_vars), state, context)
    return pairs, dict(context.reports)
