"""Speed of olexplore's runs: a slider-drag trajectory recompute, a Run against ``model.fit``,
and what recording the History costs.

Run from the repository root: ``python -m benchmarks.runs [--quick] [--rounds N] [--steps K]
[--recomputes R] [--only trajectory,fit,history]``.

* ``trajectory`` (gated, median <= 30 ms): the distill.pub momentum article redraws a whole path
  while a slider moves. Here a 500-step Adam trajectory on Rosenbrock is recomputed with a fresh
  learning rate on the *existing* fused op, as a slider drag would: every variable the op owns
  (the parameters, Adam's slots and beta powers, the global step, the op's iteration counter) is
  assigned its value from before the first step, the learning-rate variable gets the new value
  (no retrace), then ``train_op.run_steps(500, record=setup.record)`` returns the 500 positions.
  The script checks that a recompute reproduces a fresh ``Run`` of the same Config exactly and
  that nothing retraced. It also prints what the time is made of (reset, one call's fixed cost,
  per-step cost) and, for reference, a fresh ``Run`` per slider value (build + trace).
* ``fit`` (gated, >= 3.5): a ``Run`` of the digits MLP (batch 64, Adam at 0.001, its default
  ~20 evaluations per run) against ``model.fit(x_train, y_train, batch_size=64)`` on the same
  Keras model (a second copy with the same initial weights), the same training split and Keras
  Adam at the same rate: the call a Keras user writes. Reference line: ``model.fit`` on the same
  endless ``tf.data`` batches the Run reads (``steps_per_epoch=K``), which skips fit's per-epoch
  set-up.
* ``history`` (gated, >= 0.95): the same Run against the bare ``train_op.run_steps`` of a second,
  identically seeded train op, called with the same chunk sizes the Run used in that round:
  what the Run adds (History, wall times, divergence checks, evaluations, chunk sizing). The two
  sides are checked to have trained the same weights. Reference lines: one ``run_steps(K)`` call
  per round, and the same pair on Rosenbrock (recording positions, ~40x cheaper steps).

Per docs/benchmarks.md: one process, warm-up first, interleaved rounds (the order of the sides
alternates from round to round), medians of the per-round ratios. Exits 1 when a gated figure
misses its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

from olexplore._tensorflow import tf
from olexplore.problems import get_problem
from olexplore.problems.real import load_sklearn_dataset, split_and_standardise
from olexplore.runs import Config, Run
from olexplore.runs.builder import build_setup, build_train_op

TRAJECTORY_STEPS = 500
EVALUATE_EVERY = 25  # what a 500-step digits-mlp Run does by default (about 20 evaluations)
TARGETS = {"trajectory": 30.0, "fit": 3.5, "history": 0.95}
MLP = Config(problem="digits-mlp", optimizer="Adam", learning_rate=0.001, batch_size=64)
SURFACE = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05)


def quartiles(values):
    values = sorted(values)
    return statistics.median(values), values[len(values) // 4], values[(3 * len(values)) // 4]


def optimizer_variables(optimizer):
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


# ----------------------------------------------------------------------------- (a) trajectory
class SliderReplay:
    """One Run's fused op, recomputed from its initial state with a new learning rate."""

    def __init__(self, config):
        self.run = Run(config)
        self.op, self.setup = self.run.train_op, self.run.setup
        self.op.run_steps(0, record=self.setup.record)  # traces; creates the optimizer's slots
        self.state = [
            *self.setup.variables,
            *optimizer_variables(self.op.optimizer),
            self.op.global_step,
            self.op.iterations,
        ]
        self.initial = [variable.numpy() for variable in self.state]

    def reset(self):
        for variable, value in zip(self.state, self.initial, strict=True):
            variable.assign(value)

    def recompute(self, learning_rate, steps=TRAJECTORY_STEPS):
        self.reset()
        self.op.learning_rate = learning_rate
        return self.op.run_steps(steps, record=self.setup.record)


def static_loop(replay, jit_compile):
    """Prototype, not olexplore: the op's own step (``_builder.step``, private) in a while loop
    with fixed-size TensorArrays (XLA needs the size at compile time; the engine's
    ``dynamic_size`` arrays come back empty under XLA), optionally compiled with XLA."""
    op, record = replay.op, replay.setup.record
    names = [*op.metric_names, *record()]

    def loop(steps):
        arrays = {name: tf.TensorArray(tf.float32, size=steps) for name in names}

        def body(index, arrays):
            _, metrics = op._builder.step((), {}, None)
            metrics = {**metrics, **record()}
            return index + 1, {
                name: array.write(index, tf.cast(metrics[name], tf.float32))
                for name, array in arrays.items()
            }

        _, arrays = tf.while_loop(lambda i, _: i < steps, body, (tf.constant(0), arrays))
        return {name: array.stack() for name, array in arrays.items()}

    function = tf.function(loop, jit_compile=jit_compile, autograph=False)

    def recompute(learning_rate):
        replay.reset()
        op.learning_rate = learning_rate
        return {name: values.numpy() for name, values in function(TRAJECTORY_STEPS).items()}

    return recompute


def bench_trajectory(recomputes):
    """Per slider value, interleaved: the engine's recompute (timed in parts), then the two
    prototypes (order alternating); then a call's fixed cost and the per-step slope."""
    replay = SliderReplay(SURFACE.replace(steps=TRAJECTORY_STEPS))
    first = replay.recompute(0.05)["position"]
    fresh = Run(SURFACE.replace(steps=TRAJECTORY_STEPS))
    fresh.run()
    problems = []
    if not np.array_equal(first, fresh.history["position"]):
        problems.append("a recompute differs from a fresh Run of the same Config")
    prototypes = {jit: static_loop(replay, jit) for jit in (False, True)}
    expected = replay.recompute(0.02)["position"]
    for jit, recompute in prototypes.items():
        if not np.allclose(recompute(0.02)["position"], expected, atol=1e-4):
            problems.append(f"the prototype (jit_compile={jit}) computed another path")
    traces = replay.op.tracing_count
    times = {"total": [], "reset": [], "call": [], False: [], True: []}
    for index, learning_rate in enumerate(np.linspace(0.01, 0.1, recomputes)):  # a slider drag
        began = time.perf_counter()
        replay.reset()
        between = time.perf_counter()
        replay.op.learning_rate = learning_rate
        positions = replay.op.run_steps(TRAJECTORY_STEPS, record=replay.setup.record)["position"]
        ended = time.perf_counter()
        assert positions.shape == (TRAJECTORY_STEPS, 2)
        times["total"].append((ended - began) * 1e3)
        times["reset"].append((between - began) * 1e3)
        times["call"].append((ended - between) * 1e3)
        for jit in (False, True) if index % 2 == 0 else (True, False):
            began = time.perf_counter()
            prototypes[jit](learning_rate)
            times[jit].append((time.perf_counter() - began) * 1e3)
    if replay.op.tracing_count != traces:
        problems.append(f"recomputing retraced ({traces} -> {replay.op.tracing_count} traces)")
    one, short, long = [], [], []  # a call's fixed cost, and the per-step slope
    for _ in range(max(5, recomputes // 4)):
        for steps, into in ((1, one), (TRAJECTORY_STEPS, short), (4 * TRAJECTORY_STEPS, long)):
            began = time.perf_counter()
            replay.recompute(0.05, steps=steps)
            into.append((time.perf_counter() - began) * 1e3)
    slope = (statistics.median(long) - statistics.median(short)) / (3 * TRAJECTORY_STEPS)
    builds = []
    for learning_rate in (0.02, 0.05, 0.08):
        began = time.perf_counter()
        Run(SURFACE.replace(steps=TRAJECTORY_STEPS, learning_rate=learning_rate)).run()
        builds.append((time.perf_counter() - began) * 1e3)
    median = {key: statistics.median(values) for key, values in times.items()}
    return {
        "total": times["total"],
        "reset": median["reset"],
        "call": median["call"],
        "one_step": statistics.median(one),
        "per_step_us": slope * 1e3,
        "fresh_run": statistics.median(builds),
        "static": median[False],
        "xla": median[True],
        "problems": problems,
    }


# ----------------------------------------------------------------------------- (b, c) sides
class RunSide:
    """A Run, advanced K steps per round; remembers the chunk sizes it used."""

    def __init__(self, config, total_steps, evaluate_every=None):
        self.run = Run(config.replace(steps=total_steps), evaluate_every=evaluate_every)
        self.chunks = []

    def __call__(self, steps):
        marks = [self.run.step]
        self.run.run(steps=steps, progress=lambda run: marks.append(run.step))
        self.chunks = [b - a for a, b in zip(marks, marks[1:], strict=False) if b > a]
        return self.run.step - marks[0]

    def weights(self):
        return [v.numpy() for v in self.run.setup.variables]


class BareSide:
    """``train_op.run_steps`` of a second train op from the same Config (same seed and data),
    called with the chunk sizes its partner Run used last."""

    def __init__(self, config, partner=None):
        self.setup = build_setup(config)
        self.op = build_train_op(config, self.setup)
        self.partner = partner

    def __call__(self, steps):
        chunks = self.partner.chunks if self.partner is not None else [steps]
        for count in chunks:
            self.op.run_steps(
                count, data=self.setup.data, stop_on_nonfinite=True, record=self.setup.record
            )
        return sum(chunks)

    def weights(self):
        return [v.numpy() for v in self.setup.variables]


class FitSide:
    """Keras ``model.fit`` on a copy of the digits MLP (same initial weights), Keras Adam."""

    def __init__(self, config, from_dataset):
        import keras  # noqa: PLC0415

        self.setup = get_problem(config.problem).build(seed=config.seed, batch_size=64)
        self.model = self.setup.extras["model"]
        self.model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        self.from_dataset = from_dataset
        data = load_sklearn_dataset("digits")
        self.x, self.y, _, _ = split_and_standardise(data.x, data.labels, config.seed, 0.2)
        self.per_epoch = -(-len(self.y) // config.batch_size)
        self.batch_size = config.batch_size

    def __call__(self, steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras on an endless dataset
            if self.from_dataset:
                self.model.fit(self.setup.data, steps_per_epoch=steps, epochs=1, verbose=0)
                return steps
            epochs = max(1, round(steps / self.per_epoch))
            self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=epochs, verbose=0)
            return epochs * self.per_epoch


def same_weights(pairs, equal):
    return all(
        equal(a, b)
        for left, right in pairs
        for a, b in zip(left.weights(), right.weights(), strict=True)
    )


def bench_runs(rounds, steps, only):
    """Per-round steps/s of every side, interleaved (order reversed every other round); each
    Run is followed at once by its bare partner, which repeats the Run's chunk sizes."""
    total = 4 * steps + rounds * steps
    # As a 500-step digits run evaluates (about 20 times: every 25 steps); and not at all.
    run, quiet = RunSide(MLP, total, EVALUATE_EVERY), RunSide(MLP, total, 10 * total)
    surface = RunSide(SURFACE, 10 * total, 10 * total)
    sides = {
        "run": run,
        "bare_eval": BareSide(MLP, run),
        "quiet": quiet,
        "bare": BareSide(MLP, quiet),
        "bare_one": BareSide(MLP),
        "surface": lambda k: surface(10 * k),
        "surface_bare": BareSide(SURFACE, surface),
    }
    if "fit" in only:
        sides["fit"] = FitSide(MLP, from_dataset=False)
        sides["fit_data"] = FitSide(MLP, from_dataset=True)
    partners = {"run": "bare_eval", "quiet": "bare", "surface": "surface_bare"}
    checked = [(run, sides["bare_eval"]), (quiet, sides["bare"])]
    problems = []
    if not same_weights(checked, np.array_equal):
        problems.append("a Run and its bare op started from different weights")
    for _ in range(3):  # warm-up: tracing, slots, chunk sizing
        for name in [n for n in sides if n not in partners.values()]:
            sides[name](steps if name not in ("fit", "fit_data") else sides[name].per_epoch)
            if name in partners:
                sides[partners[name]](steps)
    if not same_weights(checked, np.allclose):
        problems.append("a Run and its bare op trained different weights in the warm-up")
    rates = {name: [] for name in sides}
    order = [name for name in sides if name not in partners.values()]
    for index in range(rounds):
        for name in order if index % 2 == 0 else reversed(order):
            for side in (name, partners[name]) if name in partners else (name,):
                began = time.perf_counter()
                done = sides[side](steps)
                rates[side].append(done / (time.perf_counter() - began))
    return rates, problems, run.run


# ----------------------------------------------------------------------------- report
def ratio_line(label, a, b, target=None):
    ratio, low, high = quartiles(x / y for x, y in zip(a, b, strict=True))
    verdict = ""
    if target is not None and ratio < target:
        verdict = "  BELOW TARGET"
    wanted = f">= {target:.2f}" if target is not None else "ref"
    print(
        f"{label:<58} {ratio:>6.3f} {low:>5.2f}-{high:<5.2f} {wanted:>7}   "
        f"{statistics.median(a):,.0f}, {statistics.median(b):,.0f}{verdict}"
    )
    return not verdict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 7 rounds of 200 steps")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (11)")
    parser.add_argument("--steps", type=int, default=None, help="MLP steps per side a round (600)")
    parser.add_argument("--recomputes", type=int, default=None, help="trajectories (50; quick 20)")
    parser.add_argument("--only", default="trajectory,fit,history", help="what to measure")
    args = parser.parse_args(argv)
    rounds = args.rounds or (7 if args.quick else 11)
    steps = args.steps or (200 if args.quick else 600)
    recomputes = args.recomputes or (20 if args.quick else 50)
    only = set(args.only.split(","))
    unknown = only - set(TARGETS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; known: {sorted(TARGETS)}")
    started = time.perf_counter()
    print(
        f"{os.cpu_count()} CPUs, {'GPU' if tf.config.list_physical_devices('GPU') else 'no GPU'},"
        f" TensorFlow {tf.__version__}, NumPy {np.__version__}"
    )
    passed = True
    if "trajectory" in only:
        result = bench_trajectory(recomputes)
        median, low, high = quartiles(result["total"])
        verdict = "" if median <= TARGETS["trajectory"] else "  ABOVE TARGET"
        passed &= not verdict
        print(
            f"(a) Rosenbrock, Adam, {TRAJECTORY_STEPS}-step trajectory recomputed with a new "
            f"learning rate on the existing op, {recomputes} recomputes"
        )
        print(
            f"{'median ms per recompute (reset + lr + run_steps + arrays)':<58} {median:>6.1f} "
            f"{low:>5.1f}-{high:<5.1f} {'<= 30':>7}{verdict}"
        )
        print(
            f"    of which: reset {result['reset']:.2f} ms, run_steps {result['call']:.1f} ms; "
            f"a 1-step recompute {result['one_step']:.2f} ms; "
            f"{result['per_step_us']:.1f} us per further step"
        )
        print(f"    ref: a fresh Run per value (build, trace, run): {result['fresh_run']:.0f} ms")
        print(
            "    ref, prototype outside olexplore: the op's step in a fixed-size while loop: "
            f"{result['static']:.1f} ms; the same with jit_compile=True (XLA): "
            f"{result['xla']:.2f} ms"
        )
        for problem in result["problems"]:
            passed = False
            print(f"    problem: {problem}")
    if only & {"fit", "history"}:
        rates, problems, run = bench_runs(rounds, steps, only)
        print(
            f"(b, c) digits MLP 64-128-10, batch 64, Adam 0.001; {rounds} interleaved rounds of "
            f"{steps} steps per side (Rosenbrock: {10 * steps}); Run chunks ~{run.chunk_size} steps"
        )
        print(f"{'ratio A / B of steps/s':<58} {'median':>6} {'IQR':>11} {'target':>7}   A, B")
        if "fit" in only:
            label = f"(b) Run (evaluating every {EVALUATE_EVERY}) / model.fit(x, y, batch 64)"
            passed &= ratio_line(label, rates["run"], rates["fit"], TARGETS["fit"])
            label = "    ref: Run / model.fit(tf.data batches, steps_per_epoch=K)"
            ratio_line(label, rates["run"], rates["fit_data"])
        if "history" in only:
            label = "(c) Run (History, no evaluations) / bare run_steps, same chunks"
            passed &= ratio_line(label, rates["quiet"], rates["bare"], TARGETS["history"])
            label = "    ref: Run (no evaluations) / one bare run_steps(K) per round"
            ratio_line(label, rates["quiet"], rates["bare_one"])
            label = f"    ref: Run evaluating every {EVALUATE_EVERY} steps / bare, same chunks"
            ratio_line(label, rates["run"], rates["bare_eval"])
            label = "    ref: Rosenbrock Run (positions) / bare run_steps, same chunks"
            ratio_line(label, rates["surface"], rates["surface_bare"])
        for problem in problems:
            passed = False
            print(f"    problem: {problem}; the comparison is not like for like")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
