"""``optimize_loss`` under a ``tf.compat.v1`` graph: TF 1's behaviour, step for step.

See ``docs/contrib-spec.md`` section 1 for the branch-by-branch reference; the
numbered comments below follow its execution order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from olexplore._tensorflow import tf
from olexplore.engine.optimizers import resolve_optimizer
from olexplore.engine.pipeline import (
    CLIPPED_GLOBAL_NORM,
    GLOBAL_NORM,
    clip_transform,
    gradient_pipeline,
    run_pipeline,
)
from olexplore.engine.summaries import (
    CLIPPED_GLOBAL_NORM_TAG,
    GLOBAL_NORM_TAG,
    summary_variable_name,
)
from olexplore.engine.transforms import add_noise
from olexplore.engine.validation import check_global_step_tensor, check_learning_rate, describe
from olexplore.engine.variables import check_variable_list, resolve_variable_mapping

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
    gradient_multipliers: dict[Any, Any] | None = None,
    clip_gradients: Any = None,
    learning_rate_decay_fn: Callable[[Any, Any], Any] | None = None,
    update_ops: Any = None,
    variables: Any = None,
    name: str | None = None,
    summaries: list[str],
    colocate_gradients_with_ops: bool = False,
    increment_global_step: bool = True,
    gradient_noise_seed: int | None = None,
) -> tf.Tensor:
    """Build TF 1's training tensor in the default graph; see :func:`olexplore.optimize_loss`.

    The arguments other than the loss, the global step, the learning rate, the optimizer and
    the variables arrive validated by ``optimize_loss``.
    """
    loss = _check_scalar_loss(loss)  # 1
    if global_step is None:  # 2
        global_step = find_graph_global_step(loss.graph)
    else:
        check_global_step_tensor(global_step)
    learning_rate = check_learning_rate(learning_rate, allow_variable=False)
    if variables is not None:
        variables = check_variable_list(variables)

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

        # 6: summaries were checked by optimize_loss.
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
        noise = None
        if gradient_noise_scale is not None:  # 11
            noise = add_noise(gradient_noise_scale, seed=gradient_noise_seed)
        factors = None
        if gradient_multipliers is not None:  # 12
            factors = resolve_variable_mapping(
                gradient_multipliers, [v for _, v in gradients], "gradient_multipliers"
            )
            if not gradients:
                raise ValueError(
                    "Empty list of (gradient, var) pairs encountered. This is most likely "
                    "to be caused by an improper value of gradient_multipliers."
                )
        # 11-14: noise -> multipliers -> global norm -> clipping, the pipeline TF 2 mode runs.
        pipeline = gradient_pipeline(
            noise=noise, multipliers=factors, clip=clip_transform(clip_gradients)
        )
        gradients, norms = run_pipeline(pipeline, pipeline.init(variables), gradients)
        norm_summaries = "global_gradient_norm" in summaries or "gradient_norm" in summaries
        if norm_summaries:  # 13
            tf.compat.v1.summary.scalar(GLOBAL_NORM_TAG, norms[GLOBAL_NORM])

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
        if clip_gradients is not None and norm_summaries:  # 17
            tf.compat.v1.summary.scalar(CLIPPED_GLOBAL_NORM_TAG, norms[CLIPPED_GLOBAL_NORM])

        grad_updates = opt.apply_gradients(  # 18
            gradients,
            global_step=global_step if increment_global_step else None,
            name="train",
        )
        with tf.control_dependencies([grad_updates]):  # 19
            return tf.identity(loss)
