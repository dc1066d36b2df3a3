"""How fast the explorer's live figure redraws (``olexplore.ui.live_figure.LiveFigure``).

Run from the repository root: ``python -m benchmarks.ui [--redraws N] [--runs R] [--steps S]``.

Part 1, redraw time (gated): 10 runs of 10,000 steps each (loss, learning rate, global norm
before and after clipping), drawn by the PNG backend (Agg, plus the PNG encoding the widget
needs) with EMA smoothing on. After a warm-up, every run's history grows by 100 steps between
redraws, as in training, and each ``update(traces, force=True)`` is timed; the median over the
redraws must be <= 60 ms. The same is measured with the contour panel of a 2-D problem
(trajectories of 10,000 points). Reference, never gated: the ipympl canvas itself, the same
frames (layered, sent whole) against ipympl's own path (``set_data`` and a full ``draw()``,
sent as one of ipympl's diff frames, or whole), which shows why the layers stay; a naive
figure that ``plot()``s every
point of the same data into three fresh axes and draws and encodes it once; and the cost of an
``update`` that the frame budget turns down (what training pays between frames).

Part 2, training throughput with the live figure (gated): one Rosenbrock run advanced headless
(``Run.advance`` alone) against one advanced by the explorer (``advance`` plus the explorer's
per-chunk refresh: status, run table and the throttled figure), alternating rounds of about a
second; the median ratio of steps/s must be >= 0.85 while the figure draws at least 4 times a
second. Rosenbrock is the hardest case: its steps are the cheapest, so drawing weighs most.

Part 3, Pause latency (gated): the explorer trains on an asyncio loop as in a kernel; after a
random 0.2-0.5 s, ``pause()`` is called, and the time until the training task has stopped is
measured; the median over 10 pauses must be <= 200 ms.

Timings are wall-clock on a shared machine: compare them within one run of this script.
Exits 1 when a gated figure misses its target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from olexplore.problems import get_problem
from olexplore.runs.history import History
from olexplore.ui.canvas import png_bytes, show_png
from olexplore.ui.live_figure import LiveFigure, Trace

RUNS, STEPS, GROWTH = 10, 10_000, 100
SMOOTHING = 0.6
CLIP = 1.0
TARGETS_MS = {"redraw": 60.0, "redraw_contour": 60.0}
THROUGHPUT_TARGET, DRAWS_PER_SECOND_TARGET, PAUSE_TARGET_MS = 0.85, 4.0, 200.0


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


def measure_ipympl_paths(
    runs: int = RUNS, steps: int = STEPS, redraws: int = 20, contour: bool = True
) -> dict[str, float]:
    """Reference (ms, medians): a frame of the ipympl canvas, layered and sent whole (what
    ``LiveFigure`` does), against ipympl's own path: the same artists and data, a full
    ``canvas.draw()`` and ipympl's diff frame (Pillow), or a full draw sent whole."""
    from ipympl.backend_nbagg import Canvas

    histories = make_histories(runs, steps, contour)
    traces = [Trace.styled(i, f"run{i}", f"run {i}", h) for i, h in enumerate(histories)]
    live = LiveFigure(backend="ipympl", min_interval=0.0)
    live.set_smoothing(SMOOTHING)
    if contour:
        live.set_surface(get_problem("rosenbrock").surface())
    canvas, rng = live.figure.canvas, np.random.default_rng(2)

    def layered() -> None:
        live.update(traces, force=True)

    def full_whole() -> None:  # ipympl's draw(): renders everything, then sends
        live._update_limits(live._sync_data())
        canvas.draw()

    def full_diff() -> None:  # the same with ipympl's own (diff) frame
        live._update_limits(live._sync_data())
        canvas._png_is_old = True
        FigureCanvasAgg.draw(canvas)
        Canvas.get_diff_image(canvas)

    paths = {"layered_whole": layered, "full_whole": full_whole, "full_diff": full_diff}
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(3):
        grow(histories, GROWTH, contour, rng)
        layered()
    for index in range(redraws * len(paths)):  # interleaved
        name = list(paths)[index % len(paths)]
        grow(histories, GROWTH, contour, rng)
        start = time.perf_counter()
        paths[name]()
        times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


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


# ----------------------------------------------------------------------------- training
def _explorer(steps: int = 10_000_000) -> Any:
    from olexplore.runs import Config
    from olexplore.ui.explorer import Explorer

    config = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.001, steps=steps)
    return Explorer(config, backend="png")


def measure_throughput(rounds: int = 7, seconds: float = 1.0) -> dict:
    """Median ratio of steps/s with the explorer's refresh to steps/s headless, and draws/s."""
    from olexplore.runs import Config, Run

    headless = Run(
        Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.001, steps=10_000_000)
    )
    explorer = _explorer()
    shown = explorer.current
    draws = []
    original_draw = explorer.figure.draw

    def counting_draw() -> float:
        draws.append(time.perf_counter())
        return original_draw()

    explorer.figure.draw = counting_draw

    def advance(run: Any, refresh: Any, budget: float) -> tuple[int, float]:
        start, steps = time.perf_counter(), run.step
        while time.perf_counter() - start < budget:
            run.advance()
            refresh(run)
        return run.step - steps, time.perf_counter() - start

    advance(headless, lambda run: None, 0.5)  # warm up: tracing and chunk sizing
    advance(shown, explorer._on_chunk, 0.5)
    ratios, rates = [], []
    for index in range(rounds):
        order = [("headless", headless), ("shown", shown)]
        if index % 2:
            order.reverse()
        speed = {}
        for name, run in order:
            begun = len(draws)
            refresh = explorer._on_chunk if name == "shown" else (lambda run: None)
            steps, elapsed = advance(run, refresh, seconds)
            speed[name] = steps / elapsed
            if name == "shown":
                rates.append((len(draws) - begun) / elapsed)
        ratios.append(speed["shown"] / speed["headless"])
    return {
        "ratio": statistics.median(ratios),
        "draws_per_second": statistics.median(rates),
        "headless_steps_per_second": speed["headless"],
        "shown_steps_per_second": speed["shown"],
    }


def measure_pause_latency(pauses: int = 10, seed: int = 0) -> dict:
    """Median and maximum time from ``pause()`` to the end of the training task, in ms."""
    import asyncio

    rng = np.random.default_rng(seed)

    async def scenario() -> list[float]:
        explorer = _explorer()
        latencies = []
        for _ in range(pauses):
            explorer.play()
            await asyncio.sleep(float(rng.uniform(0.2, 0.5)))
            explorer.pause()
            while explorer.trainer.playing:
                await asyncio.sleep(0.001)
            latencies.append(1e3 * explorer.trainer.last_pause_latency)
        return latencies

    latencies = asyncio.run(scenario())
    return {"median": statistics.median(latencies), "max": max(latencies)}


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
    paths = measure_ipympl_paths(args.runs, args.steps)
    print(
        f"ref ipympl_frame_{size}_contour_ms: layered, sent whole {paths['layered_whole']:.1f}; "
        f"full draw(), ipympl's diff frame {paths['full_diff']:.1f}; full draw(), sent whole "
        f"{paths['full_whole']:.1f}"
    )
    skipped = measure_skipped_update(args.runs, args.steps)
    print(f"ref skipped_update_{size}_us: {skipped:.0f} (update() within the frame budget)")

    throughput = measure_throughput()
    print(
        f"throughput_with_live_figure / headless: {throughput['ratio']:.3f} "
        f"(target >= {THROUGHPUT_TARGET}); figure draws per second: "
        f"{throughput['draws_per_second']:.1f} (target >= {DRAWS_PER_SECOND_TARGET:g})"
    )
    print(
        f"  steps/s headless {throughput['headless_steps_per_second']:,.0f}, with the figure "
        f"{throughput['shown_steps_per_second']:,.0f} (last round)"
    )
    if throughput["ratio"] < THROUGHPUT_TARGET:
        failed.append("throughput")
    if throughput["draws_per_second"] < DRAWS_PER_SECOND_TARGET:
        failed.append("draws_per_second")
    pause = measure_pause_latency()
    print(
        f"pause_latency_ms: median {pause['median']:.0f}, max {pause['max']:.0f} "
        f"(target: median <= {PAUSE_TARGET_MS:g})"
    )
    if pause["median"] > PAUSE_TARGET_MS:
        failed.append("pause_latency")

    if failed:
        print(f"below target: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
