"""The model, data and training loop shared by the distribution scripts.

A two-layer regression network with fixed initial values and a fixed global batch, so every
process (one device, two logical CPUs, two workers) starts from the same numbers. Importing
this module makes no TensorFlow call, so a script can still configure its devices afterwards.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

BATCH = 7  # odd: two replicas get 3 and 4 examples
FEATURES = 3
HIDDEN = 5
CLIP = 0.5  # well below the global norms of this model (about 5 to 15): clipping is active

INITIAL = {
    name: np.random.default_rng(index).normal(scale=0.7, size=shape).astype(np.float32)
    for index, (name, shape) in enumerate(
        [
            ("hidden/kernel", (FEATURES, HIDDEN)),
            ("hidden/bias", (HIDDEN,)),
            ("out/kernel", (HIDDEN, 1)),
            ("out/bias", (1,)),
        ]
    )
}


def data(batch: int = BATCH) -> tuple[tf.Tensor, tf.Tensor]:
    """The global batch ``(x, y)``."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, FEATURES)).astype(np.float32)
    y = (3.0 * rng.normal(size=(batch, 1)) + 2.0).astype(np.float32)
    return tf.constant(x), tf.constant(y)


def scope(strategy: tf.distribute.Strategy | None) -> Any:
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


class Model:
    """Fresh variables with the fixed initial values and the mean-squared-error loss.

    ``seen`` counts, per replica, the examples each traced step gave the loss (replica ``i``
    adds its slice's size at index ``i``; the counts are summed over replicas), which shows how
    the train op split the global batch.
    """

    def __init__(self, replicas: int = 2) -> None:
        self.weights = {name: tf.Variable(value, name=name) for name, value in INITIAL.items()}
        self.seen = tf.Variable(
            tf.zeros([replicas], tf.int64),
            trainable=False,
            name="seen",
            synchronization=tf.VariableSynchronization.ON_WRITE,
            aggregation=tf.VariableAggregation.SUM,
        )
        self.replicas = replicas

    def predict(self, x: tf.Tensor) -> tf.Tensor:
        w = self.weights
        return tf.tanh(x @ w["hidden/kernel"] + w["hidden/bias"]) @ w["out/kernel"] + w["out/bias"]

    def _count(self, x: tf.Tensor) -> None:
        if tf.inside_function():  # not the eager call that discovers the variables
            context = tf.distribute.get_replica_context()
            replica = 0 if context is None else context.replica_id_in_sync_group
            size = tf.shape(x, out_type=tf.int64)[0]
            self.seen.assign_add(tf.one_hot(replica, self.replicas, dtype=tf.int64) * size)

    def loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        self._count(x)
        return tf.reduce_mean(tf.square(self.predict(x) - y))

    def keras_loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """The same loss through a Keras 3 loss object (which scales itself under a strategy)."""
        import keras  # noqa: PLC0415

        self._count(x)
        return keras.losses.MeanSquaredError()(y, self.predict(x))

    def snapshot(self) -> dict[str, list]:
        return {name: variable.numpy().tolist() for name, variable in self.weights.items()}


def train_optimize_loss(
    strategy: tf.distribute.Strategy | None,
    options: Callable[[Model], dict[str, Any]],
    steps: int,
    fused_steps: int = 0,
) -> dict[str, Any]:
    """``steps`` single calls, then ``fused_steps`` steps in one ``run_steps``; the results."""
    from olexplore import optimize_loss  # noqa: PLC0415

    x, y = data()
    with scope(strategy):
        model = Model()
        settings = options(model)
        adaptive = settings.pop("adaptive", None)
        loss = model.keras_loss if settings.pop("keras_loss", False) else model.loss
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        train = optimize_loss(loss, global_step, **settings)
    metrics: list[dict[str, float]] = []
    for _ in range(steps):
        train(x, y)
        metrics.append(train.metrics)
    if fused_steps:
        history = train.run_steps(fused_steps, x, y)
        metrics += [
            {name: float(values[i]) for name, values in history.items()}
            for i in range(len(history["loss"]))
        ]
    result = {
        "variables": model.snapshot(),
        "global_step": int(global_step.numpy()),
        "iterations": int(train.iterations.numpy()),
        "metrics": metrics,
        "seen": model.seen.numpy().tolist(),
    }
    if adaptive is not None:
        result["adaptive_state"] = [float(adaptive.mean.numpy()), float(adaptive.sq_mean.numpy())]
    return result


def emit(result: Any) -> None:
    """Print ``result`` as JSON on one line, the last of stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
