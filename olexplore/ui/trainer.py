"""Training in the background of a notebook without threads: chunks on the kernel's event loop.

ipykernel 7 broke sending display updates from background threads, and JupyterLab may deliver
widget callbacks on a subshell thread. So the :class:`Trainer` captures the kernel's asyncio
loop once; every request (play, pause, step) is handed to that loop with
``call_soon_threadsafe``, and one asyncio task advances the run in chunks of about 50 ms,
yielding between chunks so the kernel keeps answering (a click on Pause lands between two
chunks). The figure is refreshed after each chunk, throttled by the figure itself.

A ``pace`` (steps per second) slows training down to be watched: a 200-step Rosenbrock run that
would finish in 0.1 s takes 10 s at 20 steps/s. Steps are then due on a schedule from the moment
the pace was set, so the run keeps the pace however long each chunk takes to compute; a run that
fell more than a quarter of a second behind (its first chunk builds the step; a busy kernel)
goes on from where it is rather than rushing to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from olexplore.engine.validation import describe, is_real_number
from olexplore.runs.run import Run

#: Pause between chunks: long enough for the kernel to handle a click, short for throughput.
YIELD_SECONDS = 0.002
#: The paces a person can pick, in steps per second (``None``: as fast as possible).
PACES = (None, 1000.0, 300.0, 100.0, 30.0, 10.0, 3.0, 1.0)
MAX_PACE = 1e6
#: A paced run further behind its schedule than this catches up no more: it goes on from there.
MAX_LAG_SECONDS = 0.25


class Trainer:
    """Advances one run at a time on an event loop.

    ``on_chunk(run)`` is called on the loop after every chunk (refresh the status and the
    figure); ``on_end(run)`` once when the run stops advancing (finished, paused, stopped,
    diverged or failed). Without a running loop (a script, a test) train headlessly with
    ``Session.run`` (what ``Explorer.run`` does) instead.

    >>> trainer = Trainer(on_chunk=lambda run: None, on_end=lambda run: None, loop=None)
    >>> trainer.playing, trainer.pace
    (False, None)
    >>> trainer.pace = 20
    >>> trainer.pace
    20.0
    """

    def __init__(
        self,
        on_chunk: Callable[[Run], Any],
        on_end: Callable[[Run], Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.on_chunk = on_chunk
        self.on_end = on_end
        self.loop = loop if loop is not None else _kernel_loop()
        self.run: Run | None = None
        self._task: asyncio.Task | None = None
        self._pause_requested = False
        self.pause_requested_at: float | None = None
        self.last_pause_latency: float | None = None
        self._pace: float | None = None
        self._schedule: tuple[float, int] | None = None  # (when, step) the pace counts from

    @property
    def pace(self) -> float | None:
        """Steps per second while playing, or ``None`` for as fast as possible."""
        return self._pace

    @pace.setter
    def pace(self, steps_per_second: float | None) -> None:
        if steps_per_second is not None and (
            not is_real_number(steps_per_second) or not 0 < float(steps_per_second) <= MAX_PACE
        ):
            raise ValueError(
                f"pace: got {describe(steps_per_second)}; accepted: None (as fast as possible) "
                f"or steps per second in (0, {MAX_PACE:g}]."
            )
        self._pace = None if steps_per_second is None else float(steps_per_second)
        self._schedule = None  # the new pace counts from now

    def _allowed(self, run: Run) -> tuple[int | None, float]:
        """How many steps the pace allows now (``None``: no limit), and else how long to wait."""
        if self._pace is None:
            return None, 0.0
        now = time.perf_counter()
        if self._schedule is None:
            self._schedule = (now, run.step)
        begun, first = self._schedule
        due = first + int((now - begun) * self._pace) + 1  # the step due next is allowed now
        if due - run.step > max(1.0, self._pace * MAX_LAG_SECONDS):
            # far behind (the first chunk built the step, or the kernel was busy): no burst to
            # catch up, the schedule starts again from here
            self._schedule = (now, run.step)
            return 1, 0.0
        if due > run.step:
            return due - run.step, 0.0
        return 0, (run.step - first) / self._pace - (now - begun)

    @property
    def playing(self) -> bool:
        """True while the training task is alive."""
        return self._task is not None and not self._task.done()

    # ----------------------------------------------------------------- requests
    def play(self, run: Run, steps: int | None = None) -> None:
        """Start (or resume) advancing ``run`` on the loop; ``steps`` limits how many."""
        self._call(self._start, run, steps)

    def pause(self) -> None:
        """Ask the training task to stop after the chunk in progress."""
        self.pause_requested_at = time.perf_counter()
        self._pause_requested = True

    def _loop(self) -> asyncio.AbstractEventLoop:
        """The loop to train on; ``RuntimeError`` when there is none."""
        if self.loop is None:
            raise RuntimeError(
                "no event loop to train on: in a script or a test use Explorer.run(steps) or "
                "Session.run(steps)"
            )
        return self.loop

    def _call(self, function: Callable[..., Any], *args: Any) -> None:
        self._loop().call_soon_threadsafe(function, *args)

    def _start(self, run: Run, steps: int | None) -> None:
        if self.playing and self.run is run:
            return
        self.cancel()
        self.run = run
        self._pause_requested = False
        self._schedule = None
        run.resume()
        self._task = self._loop().create_task(self._train(run, steps))

    def cancel(self) -> None:
        """Stop the training task now (used before a reset); the run keeps its history."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _train(self, run: Run, steps: int | None) -> None:
        target = None if steps is None else run.step + steps
        try:
            while not run.done and run.status != "paused" and not self._pause_requested:
                if target is not None and run.step >= target:
                    break
                limit = None if target is None else target - run.step
                allowed, wait = self._allowed(run)
                if allowed == 0:
                    await asyncio.sleep(max(wait, YIELD_SECONDS))
                    continue
                if allowed is not None:
                    limit = allowed if limit is None else min(limit, allowed)
                run.advance(limit)
                self.on_chunk(run)
                await asyncio.sleep(YIELD_SECONDS)
        except asyncio.CancelledError:
            raise
        finally:
            if self._pause_requested:
                run.pause()
                if self.pause_requested_at is not None:
                    self.last_pause_latency = time.perf_counter() - self.pause_requested_at
            self._pause_requested = False
            with contextlib.suppress(Exception):
                self.on_end(run)


def _kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the running IPython kernel (or the running loop), else ``None``."""
    with contextlib.suppress(RuntimeError):
        return asyncio.get_running_loop()
    try:
        from IPython import get_ipython  # noqa: PLC0415 - optional at run time

        shell = get_ipython()
    except ImportError:
        shell = None
    kernel = getattr(shell, "kernel", None)
    loop = getattr(getattr(kernel, "io_loop", None), "asyncio_loop", None)
    return loop
