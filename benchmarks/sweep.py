"""A sweep on two worker processes against the serial sweep, and where the time goes.

Run from the repository root: ``python -m benchmarks.sweep [--workers 2] [--steps 300]
[--quick]``.

16 digits-mlp runs (Adam at 4 learning rates x 4 seeds, 300 steps, batch 64, ~20 evaluations
each) are swept three ways: serially in this process, on a fresh Dask ``LocalCluster`` of
``--workers`` single-threaded worker processes on 127.0.0.1 (the first sweep pays each worker's
import of TensorFlow), and again on the now warm cluster. Printed: the wall times and their
ratios, the cluster's start-up, one import of olexplore + TensorFlow in a fresh interpreter (what
each worker pays once), and per run (medians over the warm sweep): building the run, its first
chunk's tracing (the first 16 steps' time less 16 steady steps), training, and shipping the
record back (worker's end to the client's callback, with the pickled size). Every history series
but ``wall_time`` is checked to equal the serial sweep's. Not gated: the figure depends on the
machine's other load (the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import time

import numpy as np

from olexplore.runs import Config, sweep

LEARNING_RATES = [0.0003, 0.001, 0.003, 0.01]
IMPORT = "import time; t = time.perf_counter(); import olexplore.runs.executors; "
IMPORT += "print(time.perf_counter() - t)"


def timed_sweep(base: Config, seeds: int, executor: object = None) -> tuple[float, list, dict]:
    received: dict[int, float] = {}

    def note(done: int, total: int, run: object) -> None:
        received[id(run)] = time.time()

    began = time.perf_counter()
    result = sweep(
        base, {"learning_rate": LEARNING_RATES}, seeds=seeds, progress=note, executor=executor
    )
    return time.perf_counter() - began, result.runs, received


def same(parallel: list, serial: list) -> bool:
    for mine, theirs in zip(parallel, serial, strict=True):
        assert mine.config == theirs.config and mine.status == theirs.status
        for name in theirs.history.names:
            if name != "wall_time":
                np.testing.assert_array_equal(mine.history[name], theirs.history[name], name)
    return True


def tracing(run: object) -> float:
    """The first chunk's (16 steps) time less 16 steady steps."""
    wall = np.asarray(run.history["wall_time"], np.float64)
    steady = float(np.median(np.diff(wall[16:]))) if len(wall) > 32 else 0.0
    return float(wall[15]) - 16 * steady


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 60 steps")
    args = parser.parse_args()
    seeds, steps = (2, 60) if args.quick else (4, args.steps)
    base = Config(problem="digits-mlp", optimizer="Adam", steps=steps, batch_size=64)
    import distributed

    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    imports = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT], capture_output=True, text=True, env=env, check=True
            ).stdout
        )
        for _ in range(2)
    ]
    sweep(base.replace(steps=20), {"learning_rate": [0.001]}, seeds=1, progress=False)  # warm-up
    serial_s, serial, _ = timed_sweep(base, seeds)
    began = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    client.wait_for_workers(args.workers)
    startup_s = time.perf_counter() - began
    with cluster, client:
        cold_s, cold, _ = timed_sweep(base, seeds, client)
        warm_s, warm, received = timed_sweep(base, seeds, client)
    assert same(cold, serial) and same(warm, serial)
    per_run = {
        "build": [r.timings["built"] - r.timings["started"] for r in warm],
        "tracing (first chunk)": [tracing(r) for r in warm],
        "train (incl. tracing, evaluations)": [
            r.timings["finished"] - r.timings["built"] for r in warm
        ],
        "ship the record back": [received[id(r)] - r.timings["finished"] for r in warm],
    }
    runs = len(serial)
    print(f"{runs} digits-mlp runs x {steps} steps; serial {serial_s:.1f} s in this process")
    print(f"cluster start-up ({args.workers} workers): {startup_s:.1f} s")
    print(f"import olexplore + TensorFlow in a fresh interpreter: {min(imports):.1f} s")
    print(
        f"{args.workers} workers, fresh cluster: {cold_s:.1f} s "
        f"(serial / this = {serial_s / cold_s:.2f}x; with start-up "
        f"{serial_s / (cold_s + startup_s):.2f}x)"
    )
    print(
        f"{args.workers} workers, warm cluster: {warm_s:.1f} s "
        f"(serial / this = {serial_s / warm_s:.2f}x)"
    )
    for name, values in per_run.items():
        print(
            f"  per run, {name}: median {statistics.median(values):.3f} s, "
            f"total {sum(values):.1f} s"
        )
    size = statistics.median(len(pickle.dumps(r)) for r in warm)
    print(f"  pickled record: median {size / 1024:.0f} KiB")
    for name, side in (("serial", serial), ("workers, warm", warm)):
        seconds = statistics.median(r.seconds for r in side)
        print(f"{name}: median {seconds:.2f} s per run in training chunks (Run.seconds)")
    counts = np.unique([r.pid for r in warm], return_counts=True)[1]
    print(f"runs per worker process (warm): {sorted(counts.tolist())}")
    print("every history series but wall_time equals the serial sweep's: yes")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
