"""Steps per second of ``optimize_loss``'s train op against hand-written TensorFlow.

Run from the repository root: ``python -m benchmarks.engine [--quick] [--rounds N] [--chunks C]
[--steps K] [--only plain,fused,...]``.

An MLP 64-128-10 (ReLU, softmax cross-entropy) on sklearn's digits, batch 64, trained with
``tf.compat.v1.train.AdamOptimizer`` on both sides of every comparison. The 28 full batches of
the shuffled data set sit on the device as two tensors; each step gathers batch
``step mod 28`` by its own step counter, inside the step, the same way on both sides. Both sides
start from the same weights; after the warm-up the script checks that the TF 2 train op and the
hand-written step trained the same weights (and the two graphs report the same loss).

Gated comparisons (docs/benchmarks.md: one process, warm-up, interleaved rounds, median of the
per-round ratios of steps per second; a round alternates C blocks of K steps, A B, B A, ...):

* ``plain``: ``train_op()`` from ``optimize_loss(loss, step, 0.001, "Adam")`` vs a hand-written
  ``tf.function`` step doing the work the train op does by contract: tape gradients, Adam with a
  learning-rate variable, the step counter incremented by ``apply_gradients``, and the loss,
  learning-rate and global-norm metrics returned (target >= 0.97);
* ``transforms``: the same with truncated-normal gradient noise, two gradient multipliers,
  clipping by global norm and exponential decay on both sides (the baseline writes them by hand)
  and the clipped global norm as a fourth metric (>= 0.90);
* ``fused``: ``train_op.run_steps(K)`` (K steps in one call, per-step metric arrays back) vs K
  calls of the hand-written per-step function (>= 3.5);
* ``graph``: ``sess.run(optimize_loss(loss_tensor, step, 0.001, "Adam"))`` vs ``sess.run`` of a
  hand-written v1 train tensor (``minimize``, then the loss), each in its own ``tf.Graph`` and
  ``tf.compat.v1.Session`` (>= 0.97).

Reference lines, never gated: ``train_op(x, y)`` vs the hand-written step fed the same
precomputed batch tensors as arguments; ``run_steps(K)`` vs a hand-written ``tf.range`` loop of
K steps (olexplore's own cost in fused mode); that loop vs K hand-written calls (the most any
fused loop gains here); ``model.fit`` steps/s (Keras Adam, its own data pipeline). Exits 1
when a gated ratio is below its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

from olexplore import optimize_loss
from olexplore._tensorflow import tf

BATCH = 64
HIDDEN = 128
LEARNING_RATE = 0.001
NOISE = 0.01
CLIP = 0.5  # below the early global norms (~0.8): the clipping acts
DECAY_STEPS, DECAY_RATE = 1000, 0.96
SEED = 0

TARGETS = {"plain": 0.97, "transforms": 0.90, "fused": 3.5, "graph": 0.97}
LABELS = {
    "plain": "TF 2 train op / hand-written tf.function step",
    "transforms": "same, noise+multipliers+clip+decay on both sides",
    "fused": "run_steps(K) / K calls of the hand-written step",
    "graph": "graph mode: optimize_loss / hand-written v1 train op",
    "fed": "ref: train_op(x, y) / hand-written step(x, y)",
    "fused_vs_loop": "ref: run_steps(K) / hand-written tf.range loop of K",
    "loop_vs_step": "ref: hand-written loop of K / K hand-written calls",
}


# ----------------------------------------------------------------------------- data and model
def digits_batches():
    """The digits data set, shuffled once, as ``[28, 64, 64]`` inputs and ``[28, 64]`` labels."""
    digits = load_digits()
    order = np.random.default_rng(SEED).permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype(np.float32)
    y = digits.target[order].astype(np.int32)
    count = len(y) // BATCH
    return (
        x[: count * BATCH].reshape(count, BATCH, x.shape[1]),
        y[: count * BATCH].reshape(count, BATCH),
        x,
        y,
    )


def initial_weights(inputs):
    rng = np.random.default_rng(SEED)

    def glorot(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)

    return [
        glorot(inputs, HIDDEN),
        np.zeros(HIDDEN, np.float32),
        glorot(HIDDEN, 10),
        np.zeros(10, np.float32),
    ]


def make_variables(inputs):
    names = ["dense/kernel", "dense/bias", "logits/kernel", "logits/bias"]
    return [tf.Variable(w, name=n) for w, n in zip(initial_weights(inputs), names, strict=True)]


def mlp_loss(variables, x, y):
    w1, b1, w2, b2 = variables
    logits = tf.matmul(tf.nn.relu(tf.matmul(x, w1) + b1), w2) + b2
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))


def batch_at(xs, ys, step):
    index = tf.math.floormod(step, xs.shape[0])
    return tf.gather(xs, index), tf.gather(ys, index)


# ----------------------------------------------------------------------------- TF 2 mode
class TrainOpSide:
    """olexplore's TF 2 train op; the loss gathers its batch by the train op's global step."""

    def __init__(self, xs, ys, transforms):
        self.variables = variables = make_variables(xs.shape[-1])
        self.global_step = step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # The plain path, as the hand-written baselines (benchmarks/xla.py measures XLA).
        options: dict = {"jit_compile": False}
        if transforms:
            options |= dict(
                gradient_noise_scale=NOISE,
                gradient_multipliers={"dense/kernel": 0.5, "logits/bias": 2.0},
                clip_gradients=CLIP,
                learning_rate_decay_fn=lambda lr, gs: tf.compat.v1.train.exponential_decay(
                    lr, gs, DECAY_STEPS, DECAY_RATE
                ),
            )

        def loss():
            return mlp_loss(variables, *batch_at(xs, ys, step))

        self.train_op = optimize_loss(loss, step, LEARNING_RATE, "Adam", **options)
        self.fed_op = None
        if not transforms:  # reference: the same kind of op, fed batches as arguments
            fed_variables = make_variables(xs.shape[-1])
            self.fed_op = optimize_loss(
                lambda x, y: mlp_loss(fed_variables, x, y),
                None,
                LEARNING_RATE,
                "Adam",
                variables=fed_variables,
                jit_compile=False,
            )

    def run(self, steps):
        call = self.train_op
        for _ in range(steps):
            loss = call()
        return float(loss)

    def run_fused(self, steps):
        return float(self.train_op.run_steps(steps)["loss"][-1])

    def run_fed(self, batches):
        call = self.fed_op
        for x, y in batches:
            loss = call(x, y)
        return float(loss)

    def weights(self):
        return [v.numpy() for v in self.variables]


class HandWrittenSide:
    """The same step written by hand around ``tf.compat.v1.train.AdamOptimizer``."""

    def __init__(self, xs, ys, transforms):
        self.variables = variables = make_variables(xs.shape[-1])
        self.global_step = step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.base_rate = base_rate = tf.Variable(LEARNING_RATE, trainable=False, name="lr")
        if transforms:

            def rate():
                return tf.compat.v1.train.exponential_decay(
                    base_rate, step, DECAY_STEPS, DECAY_RATE
                )

            optimizer = tf.compat.v1.train.AdamOptimizer(rate)
        else:
            optimizer = tf.compat.v1.train.AdamOptimizer(base_rate)
        multipliers = {0: 0.5, 3: 2.0}  # dense/kernel, logits/bias, as given to optimize_loss

        def train_step():
            x, y = batch_at(xs, ys, step)
            with tf.GradientTape() as tape:
                loss = mlp_loss(variables, x, y)
            gradients = tape.gradient(loss, variables)
            if transforms:
                learning_rate = rate()
                gradients = [g + tf.random.truncated_normal(tf.shape(g)) * NOISE for g in gradients]
                gradients = [
                    g * multipliers[i] if i in multipliers else g for i, g in enumerate(gradients)
                ]
            else:
                learning_rate = base_rate.read_value()
            norm = tf.linalg.global_norm(gradients)
            metrics = {"loss": loss, "learning_rate": learning_rate, "global_norm": norm}
            if transforms:
                gradients, _ = tf.clip_by_global_norm(gradients, CLIP, use_norm=norm)
                metrics["clipped_global_norm"] = tf.linalg.global_norm(gradients)
            optimizer.apply_gradients(zip(gradients, variables, strict=True), global_step=step)
            return loss, metrics

        def fused(steps):  # like run_steps: every step's metrics come back as arrays
            arrays = {
                name: tf.TensorArray(tf.float32, size=0, dynamic_size=True)
                for name in ("loss", "learning_rate", "global_norm")
            }
            for index in tf.range(steps):
                _, metrics = train_step()
                arrays = {name: array.write(index, metrics[name]) for name, array in arrays.items()}
            return {name: array.stack() for name, array in arrays.items()}

        self.step_function = tf.function(train_step)
        self.fused_function = tf.function(fused)
        self.fed_step = None
        if not transforms:
            fed_variables = make_variables(xs.shape[-1])
            fed_rate = tf.Variable(LEARNING_RATE, trainable=False, name="fed_lr")
            fed_optimizer = tf.compat.v1.train.AdamOptimizer(fed_rate)
            fed_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="fed_step")

            @tf.function
            def fed_step(x, y):
                with tf.GradientTape() as tape:
                    loss = mlp_loss(fed_variables, x, y)
                gradients = tape.gradient(loss, fed_variables)
                norm = tf.linalg.global_norm(gradients)
                rate = fed_rate.read_value()
                metrics = {"loss": loss, "learning_rate": rate, "global_norm": norm}
                fed_optimizer.apply_gradients(
                    zip(gradients, fed_variables, strict=True), global_step=fed_counter
                )
                return loss, metrics

            self.fed_step = fed_step

    def run(self, steps):
        call = self.step_function
        for _ in range(steps):
            loss, metrics = call()
        return float(loss)

    def run_fused(self, steps):
        history = {
            name: values.numpy() for name, values in self.fused_function(tf.constant(steps)).items()
        }
        return float(history["loss"][-1])

    def run_fed(self, batches):
        call = self.fed_step
        for x, y in batches:
            loss, metrics = call(x, y)
        return float(loss)

    def weights(self):
        return [v.numpy() for v in self.variables]


# ----------------------------------------------------------------------------- graph mode
class GraphSide:
    """A ``tf.Graph`` and ``Session`` of its own; the batch is gathered in the graph."""

    def __init__(self, xs, ys, use_optimize_loss):
        self.graph = tf.Graph()
        with self.graph.as_default():
            variables = make_variables(xs.shape[-1])
            step = tf.compat.v1.train.get_or_create_global_step()
            loss = mlp_loss(variables, *batch_at(tf.constant(xs), tf.constant(ys), step))
            if use_optimize_loss:
                self.train = optimize_loss(loss, step, LEARNING_RATE, "Adam")
            else:
                rate = tf.compat.v1.get_variable(
                    "learning_rate",
                    [],
                    trainable=False,
                    initializer=tf.compat.v1.constant_initializer(LEARNING_RATE),
                )
                update = tf.compat.v1.train.AdamOptimizer(rate).minimize(loss, global_step=step)
                with tf.control_dependencies([update]):
                    self.train = tf.identity(loss)
            self.session = tf.compat.v1.Session(graph=self.graph)
            self.session.run(tf.compat.v1.global_variables_initializer())

    def run(self, steps):
        run, train = self.session.run, self.train
        for _ in range(steps):
            loss = run(train)
        return float(loss)


# ----------------------------------------------------------------------------- Keras reference
def keras_fit_rates(x, y, rounds, epochs):
    import keras  # noqa: PLC0415 (only for the reference line)

    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # warm-up: tracing
    steps = epochs * -(-len(y) // BATCH)
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False)
        rates.append(steps / (time.perf_counter() - start))
    return rates


# ----------------------------------------------------------------------------- timing
def interleaved(comparisons, chunk, chunks, rounds):
    """Per-round steps/s of each comparison's A and B.

    A round of a comparison alternates ``chunks`` blocks of ``chunk`` steps of A and of B
    (A B, B A, A B, ...) and sums each side's time, so a burst of load from the other processes
    on this shared machine lands on both sides; every round visits every comparison in turn.
    """
    rates = {name: ([], []) for name in comparisons}
    for round_index in range(rounds):
        for name, pair in comparisons.items():
            spent = [0.0, 0.0]
            for chunk_index in range(chunks):
                for side in (0, 1) if (round_index + chunk_index) % 2 == 0 else (1, 0):
                    start = time.perf_counter()
                    pair[side](chunk)
                    spent[side] += time.perf_counter() - start
            for side in (0, 1):
                rates[name][side].append(chunk * chunks / spent[side])
    return rates


def quartiles(values):
    values = sorted(values)
    return statistics.median(values), values[len(values) // 4], values[(3 * len(values)) // 4]


def print_ratios(rates, labels, targets):
    """Print each comparison's median ratio of steps/s (with its IQR and target); return the
    names below their target."""
    print(f"{'ratio A / B of steps/s':<60} {'median':>6} {'IQR':>11} {'target':>7}   A, B steps/s")
    failed = []
    for name, (rates_a, rates_b) in rates.items():
        ratio, low, high = quartiles(a / b for a, b in zip(rates_a, rates_b, strict=True))
        target = targets.get(name)
        verdict = ""
        if target is not None and ratio < target:
            failed.append(name)
            verdict = "  BELOW TARGET"
        print(
            f"{labels[name]:<60} {ratio:>6.3f} {low:>5.2f}-{high:<5.2f} "
            f"{f'>= {target:.2f}' if target else 'ref':>7}   "
            f"{statistics.median(rates_a):,.0f}, {statistics.median(rates_b):,.0f}{verdict}"
        )
    return failed


def check_same_training(plain_op, plain_hand, graph_op, graph_hand):
    """Like for like: after the same warm-up steps the two sides hold the same weights."""
    problems = []
    for a, b in zip(plain_op.weights(), plain_hand.weights(), strict=True):
        if not np.allclose(a, b, rtol=1e-4, atol=1e-6):
            problems.append("TF 2 train op and hand-written step trained different weights")
            break
    if not np.isclose(graph_op.run(1), graph_hand.run(1), rtol=1e-4):
        problems.append("graph-mode sides reported different losses")
    for problem in problems:
        print(f"warning: {problem}; the comparison is not like for like")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, 2 chunks")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (21)")
    parser.add_argument("--chunks", type=int, default=None, help="A/B blocks per round (4)")
    parser.add_argument(
        "--steps", type=int, default=100, help="steps per block, and K of run_steps(K) (100)"
    )
    parser.add_argument("--only", help="comma-separated comparisons to run, e.g. plain,fused")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 21)
    chunks = args.chunks or (2 if args.quick else 4)
    steps = args.steps
    started = time.perf_counter()

    xs_np, ys_np, x_all, y_all = digits_batches()
    xs, ys = tf.constant(xs_np), tf.constant(ys_np)
    batches = [(xs[i], ys[i]) for i in range(xs_np.shape[0])]
    fed = [batches[i % len(batches)] for i in range(steps)]

    plain_op, plain_hand = TrainOpSide(xs, ys, False), HandWrittenSide(xs, ys, False)
    noisy_op, noisy_hand = TrainOpSide(xs, ys, True), HandWrittenSide(xs, ys, True)
    graph_op, graph_hand = GraphSide(xs_np, ys_np, True), GraphSide(xs_np, ys_np, False)
    for side in (plain_op, plain_hand, noisy_op, noisy_hand, graph_op, graph_hand):
        side.run(20)  # warm-up: tracing, slot variables, first session runs
    check_same_training(plain_op, plain_hand, graph_op, graph_hand)
    for side in (plain_op, plain_hand):
        side.run_fused(20)
        side.run_fed(fed[:20])

    comparisons = {
        "plain": (plain_op.run, plain_hand.run),
        "transforms": (noisy_op.run, noisy_hand.run),
        "fused": (plain_op.run_fused, plain_hand.run),
        "graph": (graph_op.run, graph_hand.run),
        "fed": (lambda n: plain_op.run_fed(fed[:n]), lambda n: plain_hand.run_fed(fed[:n])),
        "fused_vs_loop": (plain_op.run_fused, plain_hand.run_fused),
        "loop_vs_step": (plain_hand.run_fused, plain_hand.run),
    }
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - set(comparisons)
        if unknown:
            parser.error(f"--only: unknown {sorted(unknown)}; known: {sorted(comparisons)}")
        comparisons = {name: pair for name, pair in comparisons.items() if name in wanted}
    rates = interleaved(comparisons, steps, chunks, rounds)
    fit_rates = [] if args.only else keras_fit_rates(x_all, y_all, 1 if args.quick else 3, 10)

    print(
        f"MLP 64-{HIDDEN}-10 on digits, batch {BATCH}, tf.compat.v1.train.AdamOptimizer; "
        f"{rounds} rounds x {chunks} interleaved blocks of {steps} steps per side; "
        f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}"
    )
    failed = print_ratios(rates, LABELS, TARGETS)
    if fit_rates:
        print(
            f"{'reference: model.fit, Keras Adam (steps/s)':<60} "
            f"{statistics.median(fit_rates):>6,.0f}"
        )
    print(f"total {time.perf_counter() - started:.0f} s")
    if failed:
        print("below target: " + "; ".join(f"{name} ({LABELS[name]})" for name in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
