"""Train the same model on one device and under a MirroredStrategy over two logical CPUs.

Run as ``python mirrored.py [SCENARIO ...]`` (all scenarios by default). The two logical CPU
devices must be configured before any other TensorFlow call, so this runs in its own process;
it prints one JSON object, ``{scenario: {"one_device": ..., "mirrored": ...}}``, on the last
line of stdout. A scenario that raises reports ``{"error": ...}`` instead.

One MirroredStrategy serves every scenario: a second MirroredStrategy object in the same
process reuses the first one's collective instance keys, and TensorFlow then fails with
"Shape mismatch in the collective instance 100" (a TensorFlow limitation, not olexplore's).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import tensorflow as tf
from common import BATCH, CLIP, INITIAL, Model, data, emit, scope, train_optimize_loss

STEPS = 4


def configure_devices() -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


# ------------------------------------------------------------------ optimize_loss scenarios
def _sgd_clip_multipliers(model: Model) -> dict[str, Any]:
    return dict(
        learning_rate=0.1,
        optimizer="SGD",
        clip_gradients=CLIP,
        # a variable's ref() and a name, resolved to the mirrored variables
        gradient_multipliers={model.weights["hidden/kernel"].ref(): 0.5, "out/bias": 3.0},
    )


def _adam_noise_clip(model: Model) -> dict[str, Any]:
    return dict(
        learning_rate=0.05,
        optimizer="Adam",
        clip_gradients=CLIP,
        gradient_noise_scale=0.3,
        gradient_noise_seed=7,
    )


def _nadam_multipliers_clip(model: Model) -> dict[str, Any]:
    return dict(
        learning_rate=0.05,
        optimizer="Nadam",
        clip_gradients=CLIP,
        gradient_multipliers={"hidden/.*": 2.0},
    )


def _adamw_noise_clip(model: Model) -> dict[str, Any]:
    # AdamW's decoupled weight decay must also be applied once, not once per replica.
    return dict(
        learning_rate=0.05,
        optimizer="AdamW",
        clip_gradients=CLIP,
        gradient_noise_scale=0.2,
        gradient_noise_seed=4,
    )


def _adaptive(callable_wrapper: bool) -> Any:
    import olexplore  # noqa: PLC0415

    def options(model: Model) -> dict[str, Any]:
        # std_factor 0.5: the first steps' norms exceed the running bound, so clipping acts
        adaptive = olexplore.adaptive_clipping_fn(std_factor=0.5, decay=0.5)
        clip = adaptive
        if callable_wrapper:
            adaptive.build()  # its state, created (mirrored) under the strategy's scope

            def clip(pairs: list) -> list:
                return adaptive(pairs)

        return dict(
            learning_rate=0.05,
            optimizer="Momentum",
            clip_gradients=clip,
            gradient_noise_scale=0.5,
            gradient_noise_seed=11,
            adaptive=adaptive,
        )

    return options


def _sgd_keras_loss(model: Model) -> dict[str, Any]:
    return dict(learning_rate=0.1, optimizer="SGD", clip_gradients=CLIP, keras_loss=True)


OPTIMIZE_LOSS = {
    "sgd_keras_loss_object": (_sgd_keras_loss, STEPS, 0),
    "sgd_clip_multipliers": (_sgd_clip_multipliers, STEPS, 0),
    "adam_noise_clip": (_adam_noise_clip, STEPS, 0),
    "nadam_multipliers_clip": (_nadam_multipliers_clip, STEPS, 0),
    "adamw_noise_clip": (_adamw_noise_clip, STEPS, 0),
    "momentum_adaptive": (_adaptive(callable_wrapper=False), STEPS, 0),
    "momentum_adaptive_callable": (_adaptive(callable_wrapper=True), STEPS, 0),
    # one single step (which builds the op), then fused steps under the strategy
    "fused_adam_noise_clip": (_adam_noise_clip, 1, STEPS),
    "fused_nadam_multipliers_clip": (_nadam_multipliers_clip, 1, STEPS),
}


# ------------------------------------------------------------------ Keras global_clipnorm
def train_keras(strategy: tf.distribute.Strategy | None, clipnorm: float | None) -> dict:
    """The textbook custom loop with ``keras.optimizers.SGD(global_clipnorm=clipnorm)``.

    Each replica's loss is its share of the global mean (``tf.nn.compute_average_loss`` with
    the global batch size), so without clipping the all-reduced sum is the one-device gradient;
    Keras clips each replica's gradient before that sum.
    """
    import keras  # noqa: PLC0415

    x, y = data()
    with scope(strategy):
        model = Model()
        variables = list(model.weights.values())
        optimizer = keras.optimizers.SGD(learning_rate=0.1, global_clipnorm=clipnorm)
        optimizer.build(variables)

    def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            per_example = tf.reduce_sum(tf.square(model.predict(x) - y), axis=1)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=BATCH)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss

    if strategy is None:
        step = tf.function(lambda: replica_step(x, y))
    else:
        replicas = strategy.num_replicas_in_sync

        def part(context: tf.distribute.experimental.ValueContext) -> tuple:
            i = context.replica_id_in_sync_group
            start, end = BATCH * i // replicas, BATCH * (i + 1) // replicas
            return x[start:end], y[start:end]

        inputs = strategy.experimental_distribute_values_from_function(part)
        step = tf.function(lambda: strategy.run(replica_step, args=inputs))
    for _ in range(STEPS):
        step()
    return {"variables": model.snapshot()}


def _sgd_clip(model: Model) -> dict[str, Any]:
    return dict(learning_rate=0.1, optimizer="SGD", clip_gradients=CLIP)


def run(name: str, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    if name == "keras_global_clipnorm":
        return {
            "one_device": train_keras(None, CLIP),
            "mirrored": train_keras(strategy, CLIP),
            "one_device_unclipped": train_keras(None, None),
            "mirrored_unclipped": train_keras(strategy, None),
            "optimize_loss_one_device": train_optimize_loss(None, _sgd_clip, STEPS),
            "optimize_loss_mirrored": train_optimize_loss(strategy, _sgd_clip, STEPS),
        }
    options, steps, fused_steps = OPTIMIZE_LOSS[name]
    return {
        "one_device": train_optimize_loss(None, options, steps, fused_steps),
        "mirrored": train_optimize_loss(strategy, options, steps, fused_steps),
    }


SCENARIOS = [*OPTIMIZE_LOSS, "keras_global_clipnorm"]


def main(names: list[str]) -> None:
    configure_devices()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results: dict[str, Any] = {
        "replicas": strategy.num_replicas_in_sync,
        "devices": list(strategy.extended.worker_devices),
        "initial": {name: value.tolist() for name, value in INITIAL.items()},
        "scenarios": {},
    }
    for name in names or SCENARIOS:
        start = time.perf_counter()
        try:
            result = run(name, strategy)
        except Exception as error:  # reported to the test, which names the failing scenario
            result = {"error": f"{type(error).__name__}: {error}"[:3000]}
        result["seconds"] = round(time.perf_counter() - start, 3)
        results["scenarios"][name] = result
    emit(results)


if __name__ == "__main__":
    main(sys.argv[1:])
