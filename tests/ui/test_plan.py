"""The planned learning rate: drawn faint in the learning-rate panel from the same decay the run
uses, before and while training, and redrawn when the rate, the decay or the steps change."""

import numpy as np
import pytest

from olexplore.runs import Config, schedule
from olexplore.runs.config import Decay
from olexplore.ui.explorer import Explorer
from olexplore.ui.live_figure import LiveFigure
from tests.browser.truth import TOLERANCE, differing_share
from tests.ui.test_live_figure import frame

COSINE = Config(
    problem="quadratic",
    optimizer="SGD",
    learning_rate=0.1,
    steps=400,
    decay=Decay("cosine_decay", {"decay_steps": 400}),
)


def test_the_plan_spans_the_steps_before_training_and_fits_the_rate_axis():
    live = LiveFigure(backend="png", min_interval=0.0)
    rates = np.geomspace(0.1, 1e-3, 6000)
    live.set_plan(rates, color="#0072B2", every=5)
    x, y = live.plan.get_data()
    assert x[0] == 0 and x[-1] == 5 * 5999 and len(x) < 1000  # decimated, in steps
    assert [float(v) for v in live.axes["loss"].get_xlim()] == [0.0, 5 * 5999]
    low, high = live.axes["learning_rate"].get_ylim()
    assert low <= 1e-3 and 0.1 <= high < 0.2
    assert differing_share(frame(live), live.rendered()[:, :, :3]) < TOLERANCE
    live.set_plan(None)
    assert live.plan is None and not live.axes["learning_rate"].lines


@pytest.mark.parametrize("bad", [[], [[0.1, 0.2]], "0.1"])
def test_bad_plans_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"^rates: got .*; accepted: None or a 1-D array"):
        LiveFigure(backend="png").set_plan(bad)
    with pytest.raises(ValueError, match=r"^every: got 0"):
        LiveFigure(backend="png").set_plan([0.1], every=0)


def test_the_explorer_shows_the_runs_own_schedule_and_follows_edits():
    explorer = Explorer(COSINE, backend="png")
    x, y = explorer.figure.plan.get_data()
    np.testing.assert_array_equal(y[x == 200], schedule(COSINE)[200])
    assert explorer.figure.plan.get_color() == explorer.entries[0].color
    explorer.panel.learning_rate_text.value = 0.05  # live: the plan follows the new base rate
    x, y = explorer.figure.plan.get_data()
    assert y[0] == np.float32(0.05)
    explorer.run(100)
    np.testing.assert_array_equal(  # what the run recorded is what was planned
        explorer.current.history["learning_rate"][:100][x[x < 100]], y[x < 100]
    )
    explorer.config = COSINE.replace(steps=1_000_000)  # a long plan: about 2,000 points
    x, _ = explorer.figure.plan.get_data()
    assert x[-1] == 999_500 and len(x) <= 2_000 * 2 + 2
    explorer.close()
