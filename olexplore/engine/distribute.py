"""Running the gradient computation of a TF 2 train op under a ``tf.distribute`` strategy.

The train op takes the global batch. Every tensor argument of rank >= 1 is split along its first
axis over the replicas (as evenly as possible); each replica computes the loss of its slice and
its gradients, weighted by its share of the batch, and the gradients are summed. The loss
callable must therefore return the mean over the batch it is given. Noise, multipliers and
clipping then act on the aggregated gradient, in cross-replica context, so the result equals
one-device training on the same batch (Keras 3's ``global_clipnorm`` clips each replica's part).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from olexplore._compat import keras_losses_unscaled
from olexplore._tensorflow import tf


def current_strategy() -> tf.distribute.Strategy | None:
    """The strategy whose scope is open, or ``None`` for the default (no distribution)."""
    if tf.distribute.has_strategy():
        return tf.distribute.get_strategy()
    return None


def _slice_for_replica(value: Any, replica: int, replicas: int) -> Any:
    if isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, "__array__"):
        tensor = tf.convert_to_tensor(value)
        if tensor.shape.rank is not None and tensor.shape.rank >= 1:
            size = tf.shape(tensor, out_type=tf.int64)[0]
            start = size * replica // replicas
            end = size * (replica + 1) // replicas
            return tensor[start:end]
        return tensor
    return value


def _share(value: Any, replica: int, replicas: int) -> Any:
    """Fraction of the global batch that ``replica`` gets (from the first batched tensor)."""
    for leaf in tf.nest.flatten(value):
        if isinstance(leaf, (tf.Tensor, tf.Variable)) or hasattr(leaf, "__array__"):
            tensor = tf.convert_to_tensor(leaf)
            if tensor.shape.rank is not None and tensor.shape.rank >= 1:
                size = tf.shape(tensor, out_type=tf.int64)[0]
                part = size * (replica + 1) // replicas - size * replica // replicas
                return tf.cast(part, tf.float32) / tf.cast(size, tf.float32)
    return tf.constant(1.0 / replicas)


def distributed_gradients(
    strategy: tf.distribute.Strategy,
    compute: Callable[[tuple, dict], tuple[Any, list[Any]]],
    args: tuple,
    kwargs: dict,
) -> tuple[Any, list[Any]]:
    """Loss and gradients of the global batch, from the replicas' parts, in cross-replica context.

    ``compute(args, kwargs)`` returns ``(loss, gradients)`` for one replica's slice.
    """
    replicas = strategy.num_replicas_in_sync

    def replica_inputs(context: tf.distribute.experimental.ValueContext) -> Any:
        replica = context.replica_id_in_sync_group
        sliced = tf.nest.map_structure(
            lambda v: _slice_for_replica(v, replica, replicas), (args, kwargs)
        )
        return sliced, _share((args, kwargs), replica, replicas)

    distributed = strategy.experimental_distribute_values_from_function(replica_inputs)

    def replica_step(inputs: Any) -> tuple[Any, list[Any]]:
        (replica_args, replica_kwargs), share = inputs
        loss, gradients = compute(replica_args, replica_kwargs)
        weighted = [None if g is None else _scale(g, share) for g in gradients]
        return loss * tf.cast(share, loss.dtype), weighted

    # Keras 3 loss objects divide their mean by the replica count under a strategy; here each
    # replica's mean is weighted by its share of the batch instead.
    with keras_losses_unscaled():
        loss, gradients = strategy.run(replica_step, args=(distributed,))
    total_loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
    summed = [
        None if g is None else strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None)
        for g in gradients
    ]
    return total_loss, summed


def _scale(gradient: Any, share: Any) -> Any:
    gradient = tf.convert_to_tensor(gradient)  # sparse gradients are summed densely
    return gradient * tf.cast(share, gradient.dtype)


def distributed_apply(
    strategy: tf.distribute.Strategy,
    apply: Callable[[list[Any]], Any],
    gradients: list[Any],
) -> None:
    """Apply already aggregated ``gradients`` once, through the replicas.

    Optimizers sum gradients over replicas when they apply them in replica context, so the first
    replica is handed the gradients and the others zeros: the sum is exact for any replica count.
    """

    def replica_step() -> Any:
        # Built inside each replica (so every gradient sits on its replica's device and the
        # optimizer can batch its all-reduce); tf.where avoids 0 * inf where g is infinite.
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        return apply(
            [None if g is None else tf.where(first, g, tf.zeros_like(g)) for g in gradients]
        )

    strategy.run(replica_step)
