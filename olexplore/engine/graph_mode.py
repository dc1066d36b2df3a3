"""``optimize_loss`` under a ``tf.compat.v1`` graph: TF 1's behaviour, step for step.

See ``docs/contrib-spec.md`` section 1 (shared docs) for the branch-by-branch reference; the
numbered comments below follow its execution order.
"""

from __future__ import annotations

import logging
from typing import Any

from olexplore._tensorflow import tf
from olexplore.engine.adaptive_clipping import AdaptiveClipping
from olexplore.engine.optimizers import resolve_optimizer
from olexplore.engine.summaries import (
    CLIPPED_GLOBAL_NORM_TAG,
    GLOBAL_NORM_TAG,
    summary_variable_name,
)
from olexplore.engine.transforms import (
    GradientTransform,
    StepContext,
    add_noise,
    clip_by_global_norm,
    global_norm,
    multiply,
    user_function,
)
from olexplore.engine.validation import (
    check_clip_gradients,
    check_global_step_tensor,
    check_gradient_noise_scale,
    check_learning_rate,
    check_summaries,
    describe,
)
from olexplore.engine.variables import resolve_variable_mapping

logger = logging.getLogger(__name__)


def find_graph_global_step(graph: tf.Graph) -> Any:
    """TF 1's ``get_global_step`` lookup, working around TF 2.21's resource variables.

    One entry in the ``GLOBAL_STEP`` collection is the step; several are an error that is logged
    (and ``None`` returned); none falls back to a global variable named ``global_step``, which
    TF 1 found as the tensor ``global_step:0`` (under TF 2.21 that tensor is a resource handle).
    """
    collection = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_STEP)
    if len(collection) == 1:
        return check_global_step_tensor(collection[0])
    if len(collection) > 1:
        logger.error("Multiple tensors in the global_step collection; using no global step.")
        return None
    for variable in graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES):
        if variable.op.name == "global_step":
            return check_global_step_tensor(variable)
    return None


def _clip_transform(clip_gradients: Any) -> GradientTransform | None:
    if clip_gradients is None:
        return None
    if isinstance(clip_gradients, float):
        return clip_by_global_norm(clip_gradients)
    if isinstance(clip_gradients, AdaptiveClipping):
        return clip_gradients.as_transform()
    return user_function(clip_gradients)


def _check_scalar_loss(loss: Any) -> tf.Tensor:
    if loss is None:
        raise ValueError(
            "loss: got None; accepted: a scalar Tensor (graph mode) or a callable returning "
            "one (TF 2 mode)."
        )
    loss = tf.convert_to_tensor(loss)
    if loss.shape.rank != 0:
        raise ValueError(
            f"loss: expected scalar shape for {loss.name}, saw shape: {loss.shape}; accepted: "
            "a rank-0 Tensor, e.g. tf.reduce_mean(per_example_losses)."
        )
    return loss


def graph_optimize_loss(
    loss: Any,
    global_step: Any,
    learning_rate: Any,
    optimizer: Any,
    *,
    gradient_noise_scale: Any = None,
    gradient_multipliers: Any = None,
    clip_gradients: Any = None,
    learning_rate_decay_fn: Any = None,
    update_ops: Any = None,
    variables: Any = None,
    name: str | None = None,
    summaries: Any = None,
    colocate_gradients_with_ops: bool = False,
    increment_global_step: bool = True,
    gradient_noise_seed: int | None = None,
) -> tf.Tensor:
    """Build TF 1's training tensor in the default graph; see :func:`olexplore.optimize_loss`."""
    loss = _check_scalar_loss(loss)  # 1
    if global_step is None:  # 2
        global_step = find_graph_global_step(loss.graph)
    else:
        check_global_step_tensor(global_step)
    gradient_noise_scale = check_gradient_noise_scale(gradient_noise_scale)
    clip_gradients = check_clip_gradients(clip_gradients)
    learning_rate = check_learning_rate(learning_rate, allow_variable=False)

    with tf.compat.v1.variable_scope(name, "OptimizeLoss", [loss, global_step]):  # 3
        if update_ops is None:  # 4
            update_ops = set(tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS))
        if update_ops:
            with tf.control_dependencies(list(update_ops)):
                loss = tf.identity(loss)

        lr = None  # 5
        if isinstance(learning_rate, float):
            lr = tf.compat.v1.get_variable(
                "learning_rate",
                [],
                trainable=False,
                initializer=tf.compat.v1.constant_initializer(learning_rate),
            )
        elif learning_rate is not None:
            lr = learning_rate

        summaries = check_summaries(summaries)  # 6

        if learning_rate is not None and learning_rate_decay_fn is not None:  # 7
            if global_step is None:
                raise ValueError(
                    "learning_rate_decay_fn: global_step is required for "
                    f"learning_rate_decay_fn ({describe(learning_rate_decay_fn)}), but none was "
                    "given and the graph has none; create one with "
                    "tf.compat.v1.train.get_or_create_global_step()."
                )
            lr = learning_rate_decay_fn(lr, global_step)
        # Deliberate difference: TF 1 wrote this only when a decay function was given.
        if lr is not None and "learning_rate" in summaries:
            tf.compat.v1.summary.scalar("learning_rate", lr)

        opt = resolve_optimizer(optimizer, lr, learning_rate is not None, graph_mode=True)  # 8

        if variables is None:  # 9
            variables = tf.compat.v1.trainable_variables()
        gradients = opt.compute_gradients(  # 10
            loss, variables, colocate_gradients_with_ops=colocate_gradients_with_ops
        )
        context = StepContext()
        if gradient_noise_scale is not None:  # 11
            noise = add_noise(gradient_noise_scale, seed=gradient_noise_seed)
            gradients = noise.update(gradients, (), context)
        if gradient_multipliers is not None:  # 12
            factors = resolve_variable_mapping(
                gradient_multipliers, [v for _, v in gradients], "gradient_multipliers"
            )
            gradients = multiply(factors).update(gradients, (), context)
            if not gradients:
                raise ValueError(
                    "Empty list of (gradient, var) pairs encountered. This is most likely "
                    "to be caused by an improper value of gradient_multipliers."
                )
        if "global_gradient_norm" in summaries or "gradient_norm" in summaries:  # 13
            context.global_norm = global_norm(gradients)
            tf.compat.v1.summary.scalar(GLOBAL_NORM_TAG, context.global_norm)

        clip = _clip_transform(clip_gradients)  # 14
        if clip is not None:
            gradients = clip.update(gradients, clip.init(variables), context)

        if "loss" in summaries:  # 15
            tf.compat.v1.summary.scalar("loss", loss)
        for gradient, variable in gradients:  # 16
            if gradient is None:
                continue
            values = gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient
            var_name = summary_variable_name(variable)
            if "gradients" in summaries:
                tf.compat.v1.summary.histogram("gradients/" + var_name, values)
            if "gradient_norm" in summaries:
                tf.compat.v1.summary.scalar("gradient_norm/" + var_name, tf.norm(values))
        if clip_gradients is not None and (  # 17
            "global_gradient_norm" in summaries or "gradient_norm" in summaries
        ):
            tf.compat.v1.summary.scalar(CLIPPED_GLOBAL_NORM_TAG, global_norm(gradients))

        grad_updates = opt.apply_gradients(  # 18
            gradients,
            global_step=global_step if increment_global_step else None,
            name="train",
        )
        with tf.control_dependencies([grad_updates]):  # 19
            return tf.identity(loss)
