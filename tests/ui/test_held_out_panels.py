"""Held-out metrics (validation loss and accuracy) get panels of their own on the right of the
live figure whenever the runs shown have evaluated them; every frame still equals the figure
drawn whole."""

import numpy as np
import pytest

from olexplore.problems import get_problem
from olexplore.runs import Config
from olexplore.runs.history import History
from olexplore.ui.explorer import Explorer
from olexplore.ui.live_figure import LiveFigure, Trace
from tests.browser.truth import TOLERANCE, differing_share
from tests.ui.test_live_figure import chunk, frame


def evaluated_history(steps, seed=0, every=50, metrics=("val_loss", "val_accuracy")):
    history = History()
    history.extend(chunk(0, steps, seed))
    for step in range(0, steps, every):
        values = {
            "val_loss": 2.0 * np.exp(-step / 300) + 0.05 * seed,
            "val_accuracy": 1 - 0.9 * np.exp(-step / 200),
            "distance_to_minimum": 1.0 / (1 + step),
        }
        history.add_evaluation(step, {name: values[name] for name in metrics})
    return history


def live_figure():
    return LiveFigure(backend="png", min_interval=0.0)


def test_panels_show_each_runs_evaluations_as_recorded():
    runs = [evaluated_history(600, seed) for seed in range(2)]
    live = live_figure()
    live.update([Trace.styled(i, f"r{i}", f"run {i}", h) for i, h in enumerate(runs)])
    assert list(live.axes) == [
        "loss",
        "learning_rate",
        "global_norm",
        "held:val_loss",
        "held:val_accuracy",
    ]
    loss, accuracy = live.axes["held:val_loss"], live.axes["held:val_accuracy"]
    assert loss.get_ylabel() == "validation loss" and accuracy.get_ylabel() == "validation accuracy"
    for index, history in enumerate(runs):
        table = history.evaluations
        for metric in ("val_loss", "val_accuracy"):
            x, y = live.artists(f"r{index}")[f"held:{metric}"].get_data()
            np.testing.assert_array_equal(x, table["step"])
            np.testing.assert_allclose(y, table[metric])
    # the x axis is the loss panel's; the y axes fit the values shown, accuracy never below 0
    assert loss.get_xlim() == live.axes["loss"].get_xlim()
    low, high = accuracy.get_ylim()
    assert 0.0 <= low <= 0.1 and 0.98 <= high <= 1.1
    # the line panels leave the right column to them
    assert live.axes["loss"].get_position().x1 < loss.get_position().x0
    assert differing_share(frame(live), live.rendered()[:, :, :3]) < TOLERANCE


def test_validation_loss_follows_the_loss_panels_log_scale():
    live = live_figure()
    live.update([Trace("a", "a", evaluated_history(400), "#0072B2")])
    assert live.axes["held:val_loss"].get_yscale() == live.axes["loss"].get_yscale() == "log"
    live.set_log_y("loss", False)
    assert live.axes["held:val_loss"].get_yscale() == "linear"
    assert live.axes["held:val_accuracy"].get_yscale() == "linear"


def test_panels_follow_the_runs_shown_and_give_way_to_a_contour():
    plain = History()
    plain.extend(chunk(0, 300))
    live = live_figure()
    live.update([Trace("p", "p", plain, "#0072B2")])
    assert not [name for name in live.axes if name.startswith("held:")]
    # val_loss and val_accuracy come first, two panels at most
    other = evaluated_history(300, metrics=("distance_to_minimum", "val_loss"))
    live.update([Trace("p", "p", plain, "#0072B2"), Trace("o", "o", other, "#D55E00")])
    assert [n for n in live.axes if n.startswith("held:")] == [
        "held:val_loss",
        "held:distance_to_minimum",
    ]
    assert "held:val_loss" not in live.artists("p")  # the plain run evaluated nothing
    assert live.axes["held:distance_to_minimum"].get_ylabel() == "distance to minimum"
    live.set_surface(get_problem("rosenbrock").surface())
    assert "contour" in live.axes and not [n for n in live.axes if n.startswith("held:")]
    assert "held:val_loss" not in live.artists("o")
    live.set_surface(None)
    assert "held:val_loss" in live.axes
    live.update([Trace("p", "p", plain, "#0072B2")])  # the evaluated run deleted
    assert not [name for name in live.axes if name.startswith("held:")]
    assert differing_share(frame(live), live.rendered()[:, :, :3]) < TOLERANCE


@pytest.mark.slow
def test_the_explorer_shows_digits_validation_as_the_run_recorded_it():
    explorer = Explorer(
        Config(problem="digits-mlp", optimizer="Adam", learning_rate=0.003, steps=300),
        backend="png",
    )
    history = explorer.run()
    table = history.evaluations
    assert len(table["step"]) >= 10 and table["val_accuracy"][-1] > 0.8
    key = explorer.entries[0].key
    for metric in ("val_loss", "val_accuracy"):
        x, y = explorer.figure.artists(key)[f"held:{metric}"].get_data()
        np.testing.assert_array_equal(x, table["step"])
        np.testing.assert_allclose(y, table[metric])


def test_many_evaluations_are_drawn_as_a_line_without_dots():
    live = live_figure()
    few, many = evaluated_history(600, every=50), evaluated_history(6000, every=50)
    live.update([Trace("few", "few", few, "#0072B2"), Trace("many", "many", many, "#D55E00")])
    assert live.artists("few")["held:val_loss"].get_marker() == "o"  # 12 evaluations
    assert live.artists("many")["held:val_loss"].get_marker() == "None"  # 120
