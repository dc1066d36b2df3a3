"""Every private TensorFlow or Keras name that olexplore uses, behind one small function each.

TensorFlow and Keras have no public API for these few needs (reading the default summary writer,
the learning rate a v1 optimizer keeps, checkpoint plumbing of a wrapping optimizer...).
Keeping them here means a TF or Keras upgrade that renames one breaks one function, and
``tests/test_compat.py`` (one test per function) says which. Hooks that olexplore *overrides*
(``_trackable_children``, ``_lookup_dependency``, ``_deferred_dependencies``,
``_create_or_restore_slot_variable`` of the v1 ``Optimizer``, ``Checkpoint._write``) are listed
in :data:`OVERRIDDEN_HOOKS`, which the tests check too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

from olexplore._tensorflow import tf

#: Private methods of TF classes that olexplore's subclasses override: ``{class: names}``.
OVERRIDDEN_HOOKS: dict[str, tuple[str, ...]] = {
    "tf.compat.v1.train.Optimizer": (
        "_trackable_children",
        "_lookup_dependency",
        "_deferred_dependencies",
        "_create_or_restore_slot_variable",
        "_track_trackable",
        "_maybe_initialize_trackable",
    ),
    "tf.train.Checkpoint": ("_write", "read"),
}

# v1 optimizers keep their rate in ``_learning_rate``, except AdamOptimizer (``_lr``).
_V1_RATE_ATTRIBUTES = ("_learning_rate", "_lr")


def default_summary_writer() -> Any:
    """The ``tf.summary`` writer set as default in this thread, or ``None``.

    TensorFlow has no public getter; this reads the thread-local state ``tf.summary.scalar``
    reads.

    >>> default_summary_writer() is None
    True
    """
    from tensorflow.python.ops import summary_ops_v2  # noqa: PLC0415 - private, read-only

    return getattr(summary_ops_v2._summary_state, "writer", None)


def distributed_container(variable: tf.Variable) -> tf.Variable:
    """The mirrored variable a replica's component belongs to (the variable itself if none).

    >>> v = tf.Variable(1.0)
    >>> distributed_container(v) is v
    True
    """
    from tensorflow.python.distribute.distribute_utils import value_container  # noqa: PLC0415

    return cast("tf.Variable", value_container(variable))


@contextlib.contextmanager
def keras_losses_unscaled() -> Iterator[None]:
    """Switch off Keras 3's division of a loss object's mean by the replica count.

    Under a ``tf.distribute`` strategy Keras 3 loss objects divide by the number of replicas,
    because Keras' trainer sums the replicas' losses; olexplore weights each replica's mean by
    its share of the batch instead. Inside this block that scaling is the identity.

    >>> import keras
    >>> with keras_losses_unscaled():
    ...     float(keras.losses.MeanSquaredError()([1.0], [3.0]))
    4.0
    """
    try:
        from keras.src.losses import loss as keras_loss  # noqa: PLC0415
    except ImportError:  # pragma: no cover - Keras 3 comes with TensorFlow 2.21
        yield
        return
    original = keras_loss.scale_loss_for_distribution
    keras_loss.scale_loss_for_distribution = lambda value: value
    try:
        yield
    finally:
        keras_loss.scale_loss_for_distribution = original


def v1_learning_rate(optimizer: Any) -> Any:
    """What a ``tf.compat.v1.train`` optimizer keeps as its learning rate (``None`` if unknown).

    A float, a tensor, a variable or a callable, as it was given.

    >>> v1_learning_rate(tf.compat.v1.train.AdamOptimizer(0.25))
    0.25
    """
    for attribute in _V1_RATE_ATTRIBUTES:
        if hasattr(optimizer, attribute):
            return getattr(optimizer, attribute)
    return None


def keras_given_learning_rate(optimizer: Any) -> Any:
    """What a Keras 3 optimizer was given as learning rate: a variable, a schedule or a callable.

    (``optimizer.learning_rate`` evaluates a callable; this does not.)

    >>> import keras
    >>> rate = lambda: 0.5
    >>> keras_given_learning_rate(keras.optimizers.SGD(rate)) is rate
    True
    """
    return optimizer._learning_rate


def v1_optimizer_name(optimizer: Any) -> str:
    """The ``name`` a ``tf.compat.v1.train`` optimizer was built with.

    >>> v1_optimizer_name(tf.compat.v1.train.GradientDescentOptimizer(0.1, name="plain"))
    'plain'
    """
    return optimizer._name


def v1_use_locking(optimizer: Any) -> bool:
    """The ``use_locking`` a ``tf.compat.v1.train`` optimizer was built with.

    >>> v1_use_locking(tf.compat.v1.train.GradientDescentOptimizer(0.1, use_locking=True))
    True
    """
    return optimizer._use_locking


def track_child(parent: Any, child: Any, name: str) -> Any:
    """Make ``child`` a checkpoint dependency of ``parent`` under ``name``; return ``child``.

    >>> parent, child = tf.train.Checkpoint(), tf.Variable(1.0)
    >>> track_child(parent, child, "kept") is child
    True
    """
    return parent._track_trackable(child, name=name)


def initialize_trackable(trackable: Any) -> None:
    """Set up the checkpoint bookkeeping a v1 optimizer otherwise creates lazily.

    >>> initialize_trackable(tf.compat.v1.train.GradientDescentOptimizer(0.1))
    """
    trackable._maybe_initialize_trackable()


def trackable_children(trackable: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The checkpoint children of ``trackable``, by name.

    >>> sorted(trackable_children(tf.train.Checkpoint(v=tf.Variable(1.0))))
    ['v']
    """
    return dict(trackable._trackable_children(*args, **kwargs))


def lookup_dependency(trackable: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """The checkpoint child ``name`` of ``trackable`` (``None`` when it has none).

    >>> v = tf.Variable(1.0)
    >>> lookup_dependency(tf.train.Checkpoint(v=v), "v") is v
    True
    """
    return trackable._lookup_dependency(name, *args, **kwargs)


def deferred_dependencies(trackable: Any) -> dict[str, Any]:
    """Restorations waiting for ``trackable`` to create the named children.

    >>> optimizer = tf.compat.v1.train.GradientDescentOptimizer(0.1)
    >>> initialize_trackable(optimizer)
    >>> dict(deferred_dependencies(optimizer))
    {}
    """
    return trackable._deferred_dependencies


def create_or_restore_slot_variable(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
    """Hand a slot restoration to a v1 ``optimizer`` (its checkpoint hook of that name).

    >>> callable(tf.compat.v1.train.Optimizer._create_or_restore_slot_variable)
    True
    """
    return optimizer._create_or_restore_slot_variable(*args, **kwargs)


def save_slice_info(variable: Any) -> Any:
    """The slice information of a part of a partitioned variable (``None`` for a plain one).

    >>> save_slice_info(tf.Variable(1.0)) is None
    True
    """
    return getattr(variable, "_save_slice_info", None)
