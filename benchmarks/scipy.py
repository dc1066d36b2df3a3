"""Function evaluations per second of ``ScipyOptimizerInterface`` on a 1,000-D Rosenbrock.

Run from the repository root: ``python -m benchmarks.scipy [--rounds N] [--maxiter K]``.

Four ways to run the same L-BFGS-B minimisation (float32 variable, same start, same options,
so they follow the same path; graph mode's float32 kernels may round a little differently):

* ``tf2_interface``: ``ScipyOptimizerInterface(loss_callable).minimize()``;
* ``handwritten_bridge``: ``scipy.optimize.minimize`` around a ``tf.function`` that assigns the
  flat vector to the variable and returns the loss and its gradient, converted to float64,
  then the result assigned to the variable: the work the interface must do by contract;
* ``graph_interface``: the TF 1 usage, ``ScipyOptimizerInterface(loss_tensor).minimize(session)``;
* ``handwritten_concrete_bridge`` (reference): the bridge calling the ``tf.function``'s concrete
  function, as the interface does, so the ratio to it is the interface's own overhead.

Rounds are interleaved (A B C D, A B C D, ...) after a warm-up; each ratio is the median of the
per-round ratios of evaluations per second (docs/benchmarks.md). Exits 1 when
``tf2_interface / handwritten_bridge`` is below its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if not __package__:  # run as a file: benchmarks/ would be sys.path[0] and this file "scipy"
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import numpy as np
import scipy.optimize

from olexplore._tensorflow import tf
from olexplore.opt.scipy_optimizer import ScipyOptimizerInterface

assert os.path.abspath(scipy.__file__) != os.path.abspath(__file__), "imported itself as scipy"

TARGET = 0.90
DIMENSION = 1000


def rosenbrock(x):
    return tf.reduce_sum(100.0 * tf.square(x[1:] - tf.square(x[:-1])) + tf.square(1.0 - x[:-1]))


def start_point():
    x0 = np.ones(DIMENSION, dtype=np.float32)
    x0[::2] = -1.2
    return x0


class TF2Interface:
    def __init__(self, options):
        self.variable = tf.Variable(start_point(), name="x")
        self.optimizer = ScipyOptimizerInterface(lambda: rosenbrock(self.variable), options=options)

    def run(self):
        self.variable.assign(start_point())
        return self.optimizer.minimize().nfev


class HandwrittenBridge:
    def __init__(self, options, concrete=False):
        self.options = options
        self.variable = variable = tf.Variable(start_point(), name="x")

        @tf.function(input_signature=[tf.TensorSpec([DIMENSION], tf.float32)])
        def value_and_gradient(x):
            variable.assign(x)
            with tf.GradientTape() as tape:
                loss = rosenbrock(variable)
            return loss, tape.gradient(loss, variable)

        if concrete:  # what the interface calls: no tf.function dispatch per evaluation
            value_and_gradient = value_and_gradient.get_concrete_function()

        def fun(x):
            loss, gradient = value_and_gradient(tf.constant(x, dtype=tf.float32))
            return np.float64(loss.numpy()), gradient.numpy().astype(np.float64)

        self.fun = fun

    def run(self):
        self.variable.assign(start_point())
        x0 = self.variable.numpy().astype(np.float64)
        result = scipy.optimize.minimize(
            self.fun, x0, jac=True, method="L-BFGS-B", options=self.options
        )
        self.variable.assign(result.x.astype(np.float32))
        return result.nfev


class GraphInterface:
    def __init__(self, options):
        self.graph = tf.Graph()
        with self.graph.as_default():
            variable = tf.Variable(start_point(), name="x")
            self.optimizer = ScipyOptimizerInterface(rosenbrock(variable), options=options)
            self.reset = variable.assign(start_point())
            self.session = tf.compat.v1.Session(graph=self.graph)
            self.session.run(tf.compat.v1.global_variables_initializer())

    def run(self):
        self.session.run(self.reset)
        self.optimizer.minimize(self.session)
        return self.optimizer.result.nfev


def timed(variant):
    start = time.perf_counter()
    evaluations = variant.run()
    return evaluations, evaluations / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--maxiter", type=int, default=300)
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("WARNING")  # the interface logs every result at INFO
    options = {"maxiter": args.maxiter}
    variants = {
        "tf2_interface": TF2Interface(options),
        "handwritten_bridge": HandwrittenBridge(options),
        "graph_interface": GraphInterface(options),
        "handwritten_concrete_bridge": HandwrittenBridge(options, concrete=True),
    }
    for variant in variants.values():  # warm-up: tracing, first session runs
        variant.run()
    rates = {name: [] for name in variants}
    evaluations = {}
    for _ in range(args.rounds):
        for name, variant in variants.items():
            evaluations[name], rate = timed(variant)
            rates[name].append(rate)
    if len(set(evaluations.values())) != 1:  # graph mode's float32 kernels may round differently
        print(f"evaluations per minimize() differ: {evaluations} (ratios are per evaluation)")

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True))

    print(
        f"{DIMENSION}-D Rosenbrock, L-BFGS-B, {evaluations['tf2_interface']} evaluations per "
        f"minimize(), {args.rounds} interleaved rounds, {os.cpu_count()} CPUs"
    )
    for name in variants:
        print(f"  {name}: median {statistics.median(rates[name]):,.0f} evaluations/s")
    gated = ratio("tf2_interface", "handwritten_bridge")
    print(f"tf2_interface / handwritten_bridge: {gated:.2f} (target >= {TARGET:.2f})")
    for a, b in (
        ("tf2_interface", "handwritten_concrete_bridge"),
        ("graph_interface", "handwritten_bridge"),
        ("tf2_interface", "graph_interface"),
    ):
        print(f"{a} / {b}: {ratio(a, b):.2f} (reference, no target)")
    return 0 if gated >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
