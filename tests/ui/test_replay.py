"""Replaying runs: the cursor marks one step on every panel with steps and, on a contour, where
each run was after that many steps; the explorer's replay slider drives it."""

import numpy as np
import pytest

from olexplore.problems import get_problem
from olexplore.runs import Config
from olexplore.ui.explorer import Explorer
from olexplore.ui.live_figure import PANELS, LiveFigure, Trace
from tests.browser.truth import TOLERANCE, differing_share
from tests.ui.test_live_figure import frame, history


def test_the_cursor_marks_the_step_and_each_runs_point_after_it():
    surface = get_problem("rosenbrock").surface()
    long, short = history(400, 0, position=True), history(150, 1, position=True)
    live = LiveFigure(backend="png", min_interval=0.0)
    live.set_surface(surface)
    live.update([Trace("long", "a", long, "#0072B2"), Trace("short", "b", short, "#D55E00")])
    live.set_cursor(200)
    assert live.cursor == 200
    for panel in PANELS:
        lines = [
            a for a in live.axes[panel].lines if a.get_gid() is None and a.get_xdata()[0] == 200
        ]
        assert len(lines) == 1 and list(lines[0].get_xdata()) == [200, 200]
    np.testing.assert_allclose(live.cursor_point("long"), long["position"][199])
    np.testing.assert_allclose(live.cursor_point("short"), short["position"][-1])  # ended
    assert differing_share(frame(live), live.rendered()[:, :, :3]) < TOLERANCE
    live.set_cursor(0)  # no step taken: the start
    np.testing.assert_allclose(live.cursor_point("long"), surface.start)
    live.update([Trace("long", "a", long, "#0072B2")])  # a run deleted: its mark goes
    assert live.cursor_point("short") is None
    live.set_cursor(None)
    assert live.cursor_point("long") is None
    assert not [a for a in live.axes["loss"].lines if a.get_gid() is None]
    assert differing_share(frame(live), live.rendered()[:, :, :3]) < TOLERANCE


@pytest.mark.parametrize("step", [-1, 2.5, "3", True])
def test_bad_cursor_steps_are_refused_by_name(step):
    live = LiveFigure(backend="png")
    with pytest.raises(ValueError, match=r"^step: got .*; accepted: None or an integer >= 0\."):
        live.set_cursor(step)
    assert live.cursor is None


def test_the_replay_slider_spans_the_runs_and_moves_the_cursor():
    config = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=120)
    explorer = Explorer(config, backend="png")
    assert explorer.replay_step.max == 0
    history = explorer.run()
    assert explorer.replay_step.max == explorer.replay.max == 120
    assert explorer.replay.step == 2  # about 60 frames for Play
    explorer.replay_step.value = 30  # what dragging the slider (or Play) does
    assert explorer.figure.cursor == 30
    key = explorer.entries[0].key
    np.testing.assert_allclose(explorer.figure.cursor_point(key), history["position"][29])
    explorer.replay_step.value = 0
    assert explorer.figure.cursor is None
    link = explorer._replay_link
    explorer.close()
    assert link.comm is None  # the Play-slider link is closed with the explorer
