"""Steps per second of the train op with XLA (``jit_compile``) against the plain paths.

Run from the repository root: ``python -m benchmarks.xla [--quick] [--rounds N] [--chunks C]
[--steps K]``.

The MLP 64-128-10 of ``benchmarks.engine`` (sklearn's digits, batch 64, the 28 batches on the
device, batch ``step mod 28`` gathered inside the step, ``tf.compat.v1.train.AdamOptimizer``
on every side), timed as ``benchmarks.engine`` times it (docs/benchmarks.md: one process,
warm-up, interleaved rounds, median of the per-round ratios):

* ``xla_vs_step``: ``run_steps(K, jit_compile=True)`` vs K calls of the hand-written per-call
  ``tf.function`` step (target >= 5.0);
* ``xla_vs_fused``: ``run_steps(K, jit_compile=True)`` vs ``run_steps(K, jit_compile=False)``,
  the plain fused loop (>= 1.8);
* ``per_call``: K calls of ``train_op()`` built with the default ``jit_compile="auto"`` vs K
  calls of the hand-written step (>= 0.97);
* reference lines: the per-call step with ``jit_compile=False``, and the digits CNN
  (``olexplore.problems.real.DigitsCNN``'s model, Keras Adam 0.003): ``run_steps(K)`` with XLA
  vs K per-call ``train_op()`` calls without, the plain fused loop vs those calls, and the
  per-call step with XLA vs without.

Before timing, the XLA and plain sides train the same steps and the script checks they hold
the same weights. Exits 1 when a gated ratio is below its target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.engine import (
    BATCH,
    HIDDEN,
    LEARNING_RATE,
    HandWrittenSide,
    batch_at,
    digits_batches,
    interleaved,
    make_variables,
    mlp_loss,
    print_ratios,
)
from olexplore import optimize_loss
from olexplore._tensorflow import tf

TARGETS = {"xla_vs_step": 5.0, "xla_vs_fused": 1.8, "per_call": 0.97}
LABELS = {
    "xla_vs_step": "run_steps(K) with XLA / K calls of the hand-written step",
    "xla_vs_fused": "run_steps(K) with XLA / the plain fused loop",
    "per_call": "train_op() (jit_compile='auto') / hand-written step",
    "per_call_plain": "ref: train_op() (jit_compile=False) / hand-written step",
    "cnn": "ref: digits CNN, run_steps(K) with XLA / K train_op() calls",
    "cnn_plain_fused": "ref: digits CNN, plain run_steps(K) / K train_op() calls",
    "cnn_xla_call": "ref: digits CNN, train_op() with XLA / without",
}


class MLPSide:
    """``optimize_loss`` on the MLP; the loss gathers its batch by the op's global step."""

    def __init__(self, xs, ys, jit_compile):
        self.variables = variables = make_variables(xs.shape[-1])
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

        def loss():
            return mlp_loss(variables, *batch_at(xs, ys, step))

        self.train_op = optimize_loss(loss, step, LEARNING_RATE, "Adam", jit_compile=jit_compile)

    def run(self, steps):
        call = self.train_op
        for _ in range(steps):
            loss = call()
        return float(loss)

    def run_fused(self, steps, jit_compile=None):
        return float(self.train_op.run_steps(steps, jit_compile=jit_compile)["loss"][-1])

    def weights(self):
        return [v.numpy() for v in self.variables]


class CNNSide:
    """The digits CNN of the explorer, its batches gathered by the op's global step."""

    def __init__(self, xs, ys, jit_compile):
        from olexplore.problems.real import DigitsCNN  # noqa: PLC0415

        images = tf.reshape(xs, [xs.shape[0], xs.shape[1], 8, 8, 1])
        model = DigitsCNN().make_model((8, 8, 1), 10, [0, 1, 2])
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="cnn_step")

        def loss():
            x, y = batch_at(images, ys, step)
            logits = model(x)
            return tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )

        self.train_op = optimize_loss(loss, step, 0.003, "Adam", jit_compile=jit_compile)

    def run(self, steps):
        call = self.train_op
        for _ in range(steps):
            loss = call()
        return float(loss)

    def run_fused(self, steps):
        return float(self.train_op.run_steps(steps)["loss"][-1])


def check_same_training(xla, plain, steps):
    """The XLA and the plain fused loop train the same weights (to 1e-5 of each array's max)."""
    xla.run_fused(steps, jit_compile=True)
    plain.run_fused(steps, jit_compile=False)
    if not xla.train_op.compile_info.xla or plain.train_op.compile_info.xla:
        print(f"warning: compile_info {xla.train_op.compile_info}, {plain.train_op.compile_info}")
    for a, b in zip(xla.weights(), plain.weights(), strict=True):
        if np.max(np.abs(a - b)) > 1e-5 * np.max(np.abs(b)):
            print("warning: XLA and plain loops trained different weights; not like for like")
            return


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, 2 chunks")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (15)")
    parser.add_argument("--chunks", type=int, default=None, help="A/B blocks per round (4)")
    parser.add_argument("--steps", type=int, default=100, help="steps per block, K (100)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    chunks = args.chunks or (2 if args.quick else 4)
    steps = args.steps
    started = time.perf_counter()

    xs_np, ys_np, _, _ = digits_batches()
    xs, ys = tf.constant(xs_np), tf.constant(ys_np)
    xla, plain = MLPSide(xs, ys, True), MLPSide(xs, ys, False)
    auto, hand = MLPSide(xs, ys, "auto"), HandWrittenSide(xs, ys, False)
    cnn_xla, cnn_plain = CNNSide(xs, ys, True), CNNSide(xs, ys, False)
    check_same_training(xla, plain, 200)
    for side in (xla, plain, auto, hand, cnn_xla, cnn_plain):  # warm-up: tracing, compiling
        side.run(20)
    for side in (xla, plain, cnn_xla, cnn_plain):
        side.run_fused(steps)

    comparisons = {
        "xla_vs_step": (xla.run_fused, hand.run),
        "xla_vs_fused": (xla.run_fused, plain.run_fused),
        "per_call": (auto.run, hand.run),
        "per_call_plain": (plain.run, hand.run),
        "cnn": (cnn_xla.run_fused, cnn_plain.run),
        "cnn_plain_fused": (cnn_plain.run_fused, cnn_plain.run),
        "cnn_xla_call": (cnn_xla.run, cnn_plain.run),
    }
    rates = interleaved(comparisons, steps, chunks, rounds)

    load = os.getloadavg()
    print(
        f"MLP 64-{HIDDEN}-10 on digits, batch {BATCH}, tf.compat.v1.train.AdamOptimizer; "
        f"{rounds} rounds x {chunks} interleaved blocks of {steps} steps per side; "
        f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; per-call 'auto' ran with "
        f"{auto.train_op.compile_info}"
    )
    failed = print_ratios(rates, LABELS, TARGETS)
    print(f"total {time.perf_counter() - started:.0f} s")
    if failed:
        print("below target: " + "; ".join(f"{name} ({LABELS[name]})" for name in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
