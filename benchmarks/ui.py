"""How fast the explorer's live figure redraws (``olexplore.ui.live_figure.LiveFigure``).

Run from the repository root: ``python -m benchmarks.ui [--redraws N] [--runs R] [--steps S]``.

Part 1, redraw time (gated): 10 runs of 10,000 steps each (loss, learning rate, global norm
before and after clipping), drawn by the PNG backend (Agg, plus the PNG encoding the widget
needs) with EMA smoothing on. After a warm-up, every run's history grows by 100 steps between
redraws, as in training, and each ``update(traces, force=True)`` is timed; the median over the
redraws must be <= 60 ms. The same is measured with the contour panel of a 2-D problem
(trajectories of 10,000 points). Reference, never gated: a naive figure that ``plot()``s every
point of the same data into three fresh axes and draws and encodes it once; and the cost of an
``update`` that the frame budget turns down (what training pays between frames).

Timings are wall-clock on a shared machine: compare them within one run of this script.
Exits 1 when a gated figure misses its target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import ipywidgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from olexplore.problems import get_problem
from olexplore.runs.history import History
from olexplore.ui.figure_panels import png_bytes, show_png
from olexplore.ui.live_figure import LiveFigure, Trace

RUNS, STEPS, GROWTH = 10, 10_000, 100
SMOOTHING = 0.6
CLIP = 1.0
TARGETS_MS = {"redraw": 60.0, "redraw_contour": 60.0}


# ----------------------------------------------------------------------------- data
def chunk(rng: np.random.Generator, run: int, start: int, count: int, with_position: bool) -> dict:
    """``count`` steps of a plausible noisy run from ``start`` (loss decays with noise and the
    odd spike, learning rate decays exponentially, the global norm is clipped at CLIP)."""
    steps = np.arange(start, start + count)
    decay = np.exp(-steps / (2_000 + 300 * run))
    loss = (2.0 + run) * decay * rng.lognormal(0.0, 0.3, count) + 0.01
    loss[rng.random(count) < 0.002] *= 20.0
    norm = (0.5 + 3.0 * decay) * rng.lognormal(0.0, 0.4, count)
    values = {
        "loss": loss.astype(np.float32),
        "learning_rate": (0.1 * 0.96 ** (steps / 1_000)).astype(np.float32),
        "global_norm": norm.astype(np.float32),
        "clipped_global_norm": np.minimum(norm, CLIP).astype(np.float32),
    }
    if with_position:  # a noisy spiral into Rosenbrock's minimum at (1, 1)
        angle = steps / 300.0 + run
        radius = 1.5 * decay[:, None]
        circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        values["position"] = 1.0 + radius * circle + rng.normal(0, 0.01, (count, 2))
    return values


def make_histories(runs: int, steps: int, with_position: bool, seed: int = 0) -> list[History]:
    rng = np.random.default_rng(seed)
    histories = []
    for run in range(runs):
        history = History(capacity=steps + 64 * GROWTH)
        history.extend(chunk(rng, run, 0, steps, with_position))
        histories.append(history)
    return histories


def grow(histories: list[History], count: int, with_position: bool, rng: np.random.Generator):
    for run, history in enumerate(histories):
        history.extend(chunk(rng, run, len(history), count, with_position))


# ----------------------------------------------------------------------------- measurements
def measure_redraw(
    runs: int = RUNS,
    steps: int = STEPS,
    redraws: int = 30,
    warmup: int = 5,
    contour: bool = False,
) -> dict[str, float]:
    """Steady-state ``update(force=True)`` times (ms) while every history grows by GROWTH."""
    histories = make_histories(runs, steps, contour)
    traces = [Trace.styled(i, f"run{i}", f"run {i}", h) for i, h in enumerate(histories)]
    live = LiveFigure(backend="png")
    live.set_smoothing(SMOOTHING)
    if contour:
        live.set_surface(get_problem("rosenbrock").surface())
    rng = np.random.default_rng(1)
    times = []
    for index in range(warmup + redraws):
        grow(histories, GROWTH, contour, rng)
        start = time.perf_counter()
        live.update(traces, force=True)
        if index >= warmup:
            times.append(1e3 * (time.perf_counter() - start))
    points = sum(len(line.get_xdata()) for line in live.axes["loss"].lines)
    pixels = np.asarray(live.figure.canvas.buffer_rgba())
    encode = []
    for _ in range(5):
        start = time.perf_counter()
        png_bytes(pixels)
        encode.append(1e3 * (time.perf_counter() - start))
    return {
        "median": statistics.median(times),
        "p90": float(np.percentile(times, 90)),
        "max": max(times),
        "png": statistics.median(encode),
        "loss_points_drawn": points,
        "redraws": len(times),
    }


def measure_skipped_update(runs: int = RUNS, steps: int = STEPS, calls: int = 200) -> float:
    """Reference (µs): an ``update`` that the frame budget turns down (no draw), as the
    explorer calls it after every training chunk."""
    histories = make_histories(runs, steps, with_position=False)
    traces = [Trace.styled(i, f"run{i}", f"run {i}", h) for i, h in enumerate(histories)]
    live = LiveFigure(backend="png", min_interval=60.0)
    live.update(traces, force=True)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        drew = live.update(traces)
        times.append(1e6 * (time.perf_counter() - start))
        assert not drew
    return statistics.median(times)


def measure_naive(runs: int = RUNS, steps: int = STEPS, repeats: int = 3) -> float:
    """Reference (ms): a fresh figure that plots every point and is drawn and encoded once."""
    histories = make_histories(runs, steps, with_position=False)
    image = ipywidgets.Image(format="png")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        figure = Figure(figsize=(9.0, 6.0), dpi=100)
        canvas = FigureCanvasAgg(figure)
        axes = figure.subplots(3, 1, sharex=True)
        for history in histories:
            steps_axis = history.steps
            axes[0].plot(steps_axis, history["loss"], linewidth=0.8)
            axes[1].plot(steps_axis, history["learning_rate"])
            axes[2].plot(steps_axis, history["global_norm"])
            axes[2].plot(steps_axis, history["clipped_global_norm"], linestyle="--")
        axes[0].set_yscale("log")
        axes[2].set_yscale("log")
        canvas.draw()
        show_png(canvas, image)
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


# ----------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redraws", type=int, default=30, help="timed redraws (>= 20)")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    if args.redraws < 20:
        parser.error(f"--redraws: got {args.redraws}; accepted: 20 or more.")
    size = f"{args.runs}x{args.steps}"
    failed = []

    results = {
        "redraw": measure_redraw(args.runs, args.steps, args.redraws),
        "redraw_contour": measure_redraw(args.runs, args.steps, args.redraws, contour=True),
    }
    for name, result in results.items():
        target = TARGETS_MS[name]
        print(f"{name}_{size}_ms: {result['median']:.1f} (target <= {target:g})")
        print(
            f"  p90 {result['p90']:.1f} ms, max {result['max']:.1f} ms over {result['redraws']} "
            f"redraws (full redraws when limits move); PNG encoding {result['png']:.1f} ms of "
            f"each; {result['loss_points_drawn']} points on the loss panel"
        )
        if result["median"] > target:
            failed.append(name)

    naive = measure_naive(args.runs, args.steps)
    ratio = naive / results["redraw"]["median"]
    print(f"ref naive_plot_{size}_ms: {naive:.1f} (plot() of every point; {ratio:.1f}x the redraw)")
    skipped = measure_skipped_update(args.runs, args.steps)
    print(f"ref skipped_update_{size}_us: {skipped:.0f} (update() within the frame budget)")

    if failed:
        print(f"below target: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
