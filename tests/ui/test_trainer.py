"""The Trainer's pace: a run played at N steps per second takes no more steps than the schedule
allows, and as fast as possible takes many more."""

import asyncio
import concurrent.futures
import time

import pytest

from olexplore.runs import Config
from olexplore.ui.explorer import Explorer
from olexplore.ui.trainer import Trainer

ROSENBROCK = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.01, steps=100_000)


def _play_for(seconds: float, pace: float | None) -> tuple[int, float, Explorer]:
    async def scenario():
        explorer = Explorer(ROSENBROCK, backend="png", chunk_seconds=0.02)
        explorer.pace.value = pace or 0.0  # what a person picks in the dropdown
        explorer.play()
        while explorer.current.step == 0:  # the first chunk builds and traces the step
            await asyncio.sleep(0.01)
        first, begun = explorer.current.step, time.perf_counter()
        await asyncio.sleep(seconds)
        explorer.pause()
        elapsed = time.perf_counter() - begun
        await asyncio.sleep(0.2)
        return explorer.current.step - first, elapsed, explorer

    # A loop of its own in a thread: other tests (Playwright's sync API) may leave one running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario()).result(timeout=120)


def test_a_paced_run_keeps_to_its_schedule():
    steps, elapsed, explorer = _play_for(1.5, pace=30.0)
    assert explorer.trainer.pace == 30.0
    # Never ahead of the schedule (+1: a step is due at once; +1: one on the boundary), even
    # after the first chunk took long building the step, and on this machine far from zero.
    assert steps <= int(elapsed * 30) + 2, (steps, elapsed)
    assert steps >= 10, (steps, elapsed)
    assert "(paced at 30/s)" in explorer.status.value
    assert explorer.current.status == "paused"
    assert len(explorer.current.history) == explorer.current.step  # every paced step recorded


def test_as_fast_as_possible_outruns_a_slow_pace():
    slow, _, _ = _play_for(1.0, pace=10.0)
    fast, _, explorer = _play_for(1.0, pace=None)
    assert slow <= 13
    assert fast > 10 * slow
    assert "paced" not in explorer.status.value


@pytest.mark.parametrize("pace", [0, -1, float("nan"), float("inf"), 2e6, "20", True])
def test_bad_paces_are_refused_by_name(pace):
    trainer = Trainer(on_chunk=lambda run: None, on_end=lambda run: None, loop=None)
    with pytest.raises(ValueError, match=r"^pace: got .*; accepted: None \(as fast as possible\)"):
        trainer.pace = pace
    assert trainer.pace is None
