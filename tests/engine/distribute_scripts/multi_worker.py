"""One process of the MultiWorkerMirroredStrategy test, or the one-device reference.

``python multi_worker.py worker`` reads ``TF_CONFIG`` (set by the test: two workers on
127.0.0.1), creates the strategy before any other TensorFlow call and trains the shared model
on the whole global batch, which the train op splits over the two workers' replicas.
``python multi_worker.py reference`` trains the same model on one device. Either prints one
JSON line: the final variables, global step, per-step metrics and the examples each replica saw.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import tensorflow as tf
from common import CLIP, Model, emit, train_optimize_loss

STEPS = 2
FUSED_STEPS = 2


def options(model: Model) -> dict[str, Any]:
    return dict(
        learning_rate=0.05,
        optimizer="Adam",
        clip_gradients=CLIP,
        gradient_multipliers={"out/.*": 2.0},
        gradient_noise_scale=0.3,
        gradient_noise_seed=5,
    )


def main(role: str) -> None:
    strategy = None
    task = None
    if role == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    elif role != "reference":
        raise SystemExit(f"usage: multi_worker.py worker|reference (got {role!r})")
    result = train_optimize_loss(strategy, options, STEPS, FUSED_STEPS)
    result["task"] = task
    result["replicas"] = 1 if strategy is None else strategy.num_replicas_in_sync
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
    # Skip interpreter teardown: the collective runtime's gRPC threads can stall it.
    os._exit(0)
