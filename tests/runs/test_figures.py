"""Static figures of real run records: panels, scales, drawn data, smoothing, files."""

import ast
import inspect

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.contour import ContourSet
from matplotlib.figure import Figure

from olexplore.problems import get_problem
from olexplore.runs import aggregate, figures
from olexplore.runs.figures import (
    OKABE_ITO,
    ema,
    group_records,
    plot_runs,
    plot_seeds,
    plot_sensitivity,
    plot_trajectories,
    save_figure,
    seed_band,
    sensitivity_points,
)
from tests.runs.test_record import train_record

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def records():
    """Adam; SGD clipped at 1; SGD that diverges."""
    return [
        train_record("Adam", 0.05, steps=40),
        train_record("SGD", 0.001, steps=30, clip=1.0),
        train_record("SGD", 0.01, steps=20),
    ]


@pytest.fixture(scope="module")
def seeded():
    """Two settings, three seeds each; the seed drives the gradient noise."""
    return [
        train_record(optimizer, rate, steps=30, seed=seed, noise=2.0)
        for optimizer, rate in (("Adam", 0.05), ("SGD", 0.0005))
        for seed in (0, 1, 2)
    ]


def line(ax, gid):
    (found,) = [line for line in ax.lines if line.get_gid() == gid]
    return found


def markers(ax, gid):
    return [c for c in ax.collections if c.get_gid() == gid]


# --------------------------------------------------------------------- ema
def tensorboard_smoothing(values, weight):
    """TensorBoard's smoothing loop (vz_line_chart2), written out step by step."""
    last, count, smoothed = 0.0, 0, []
    for value in values:
        if not np.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        smoothed.append(last / (1 - weight**count))
    return smoothed


def test_ema_by_hand():
    values = [4.0, np.nan, 2.0, np.inf, 1.0]
    smoothed = ema(values, 0.5)
    assert smoothed[0] == 4.0  # debiased: the first value is itself, not 0.5 * 4
    assert np.isnan(smoothed[1]) and smoothed[3] == np.inf  # non-finite values stay
    assert smoothed[2] == pytest.approx((0.5 * 2.0 + 0.5 * 2.0) / 0.75)  # (1 + 1) / (1 - 0.25)
    assert smoothed[4] == pytest.approx((0.5 * 2.0 + 0.5 * 1.0) / 0.875)  # s=1.5, 1 - 0.125


def test_ema_equals_tensorboard_on_a_real_loss(records):
    loss = records[2].history["loss"]  # finite, then NaN after the divergence
    for weight in (0.0, 0.3, 0.6, 0.99):
        np.testing.assert_allclose(
            ema(loss, weight), tensorboard_smoothing(loss.astype(float), weight), rtol=1e-12
        )


def test_ema_leaves_constants_and_rejects_bad_weights():
    assert ema([2.0, 2.0, 2.0], 0.9).tolist() == [2.0, 2.0, 2.0]
    for weight in (1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match=r"weight: got .*accepted: a number in \[0, 1\)"):
            ema([1.0], weight)
    with pytest.raises(ValueError, match=r"values: got an array of shape \(1, 2\)"):
        ema([[1.0, 2.0]], 0.5)


# --------------------------------------------------------------------- panels
def test_plot_runs_draws_each_history(records):
    figure = plot_runs(records)
    assert isinstance(figure, Figure)
    loss_ax, rate_ax, norm_ax = figure.axes
    assert [len(ax.lines) for ax in figure.axes] == [3, 3, 4]  # + clipped norm of run 1
    for index, record in enumerate(records):
        history = record.history
        for ax, name in ((loss_ax, "loss"), (rate_ax, "learning_rate"), (norm_ax, "global_norm")):
            drawn = line(ax, f"{index}:{name}")
            np.testing.assert_array_equal(drawn.get_xdata(), history.steps)
            np.testing.assert_array_equal(drawn.get_ydata(), history[name])
            assert drawn.get_color() == OKABE_ITO[index]
    clipped = line(norm_ax, "1:clipped_global_norm")
    np.testing.assert_array_equal(clipped.get_ydata(), records[1].history["clipped_global_norm"])
    assert clipped.get_linestyle() == "--" and line(norm_ax, "1:global_norm").get_linestyle() == "-"
    # log y where a loss or a norm is shown, linear for the learning rate
    assert [ax.get_yscale() for ax in figure.axes] == ["log", "linear", "log"]
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == [r.label for r in records]


def test_plot_runs_marks_divergence_with_a_cross(records):
    figure = plot_runs(records, ("loss",))
    (ax,) = figure.axes
    (cross,) = markers(ax, "2:loss:diverged")
    loss = records[2].history["loss"]
    last = np.flatnonzero(np.isfinite(loss))[-1]
    np.testing.assert_array_equal(cross.get_offsets(), [[last, loss[last]]])
    assert not markers(ax, "0:loss:diverged")
    # on a panel that stays finite, the cross sits at the first non-finite loss
    (ax,) = plot_runs(records, ("learning_rate",)).axes
    (cross,) = markers(ax, "2:learning_rate:diverged")
    assert cross.get_offsets()[0, 0] == last + 1


def test_plot_runs_log_axes_and_smoothing(records):
    figure = plot_runs(records[:2], ("loss", "global_norm"), log_x=True, log_y=False, smoothing=0.6)
    assert [(ax.get_xscale(), ax.get_yscale()) for ax in figure.axes] == [("log", "linear")] * 2
    loss_ax, norm_ax = figure.axes
    for index, record in enumerate(records[:2]):
        raw = line(loss_ax, f"{index}:loss:raw")
        smooth = line(loss_ax, f"{index}:loss")
        np.testing.assert_array_equal(raw.get_ydata(), record.history["loss"])
        np.testing.assert_array_equal(smooth.get_ydata(), ema(record.history["loss"], 0.6))
        assert raw.get_alpha() == 0.25
    assert len(norm_ax.lines) == 6  # raw + smoothed for 2 norms and 1 clipped norm
    only_loss = plot_runs(records, ("loss", "learning_rate"), log_y=["learning_rate"])
    assert [ax.get_yscale() for ax in only_loss.axes] == ["linear", "log"]


def test_plot_runs_draws_evaluations_at_their_steps(records):
    (ax,) = plot_runs(records, "val_loss").axes
    drawn = line(ax, "0:val_loss")
    evaluations = records[0].history.evaluations
    np.testing.assert_array_equal(drawn.get_xdata(), evaluations["step"])
    np.testing.assert_array_equal(drawn.get_ydata(), evaluations["val_loss"])
    assert drawn.get_marker() == "o"


def test_plot_runs_into_given_figure_or_axes(records):
    figure = Figure()
    figure.subplots(3, 3)
    assert plot_runs(records, ("loss", "learning_rate"), figure=figure) is figure
    assert len(figure.axes) == 2  # cleared first
    given = Figure().subplots(1, 2)
    assert plot_runs(records, ("loss", "global_norm"), axes=given) is given[0].figure
    assert len(given[1].lines) == 4


def test_plot_runs_errors_name_the_argument(records):
    with pytest.raises(ValueError, match=r"metrics: no run has 'accuracy'; accepted: \[.*'loss'"):
        plot_runs(records, ("accuracy",))
    with pytest.raises(ValueError, match=r"'position' has shape \(40, 2\).*plot_trajectories"):
        plot_runs(records, ("position",))
    with pytest.raises(ValueError, match=r"smoothing: got 1.0 \(float\); accepted"):
        plot_runs(records, smoothing=1.0)
    with pytest.raises(ValueError, match="axes: got .*accepted: 3 matplotlib Axes"):
        plot_runs(records, axes=Figure().subplots(1, 2))
    with pytest.raises(ValueError, match=r"log_y: got \['lr'\] \(list\)"):
        plot_runs(records, log_y=["lr"])
    with pytest.raises(ValueError, match="records: got none"):
        plot_runs([])


# --------------------------------------------------------------------- seeds
def test_seed_groups_are_labelled_by_what_differs(seeded):
    groups = group_records(seeded)
    assert list(groups) == [
        "optimizer=Adam, learning_rate=0.05",
        "optimizer=SGD, learning_rate=0.0005",
    ]
    assert [len(members) for members in groups.values()] == [3, 3]
    assert list(group_records(seeded, "optimizer")) == ["optimizer=Adam", "optimizer=SGD"]
    with pytest.raises(ValueError, match="group_by: got 'speed'; accepted: .*config key"):
        group_records(seeded, "speed")


def test_plot_seeds_draws_mean_and_band(seeded):
    figure = plot_seeds(seeded)
    (ax,) = figure.axes
    assert len(ax.lines) == 2
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    for index in range(2):
        runs = np.array([r.history["loss"] for r in seeded[3 * index : 3 * index + 3]], float)
        mean, std = runs.mean(axis=0), runs.std(axis=0)
        assert std[-1] > 0  # the seeds really differ
        np.testing.assert_allclose(line(ax, f"{index}:loss:mean").get_ydata(), mean, rtol=1e-12)
        vertices = bands[index].get_paths()[0].vertices
        assert vertices[:, 1].max() == pytest.approx((mean + std).max())
        assert vertices[:, 1].min() == pytest.approx((mean - std).min())
    assert ax.get_yscale() == "log"
    assert "(n=3)" in ax.get_legend().get_texts()[0].get_text()
    shown = plot_seeds(seeded, "optimizer", show_runs=True, log_x=True).axes[0]
    assert len(shown.lines) == 2 + 6 and shown.get_xscale() == "log"


def test_seed_band_and_diverged_count(records, seeded):
    steps, mean, std = seed_band(seeded[:3], "loss")
    assert steps.tolist() == list(range(30)) and mean.shape == std.shape == (30,)
    ax = plot_seeds([records[1], records[2]], group_by=lambda record: "SGD").axes[0]
    assert ax.get_legend().get_texts()[0].get_text() == "SGD (n=2, 1 diverged)"


# --------------------------------------------------------------------- 2-D
def test_plot_trajectories_on_log_contours(records):
    surface = records[0].surface
    figure = plot_trajectories(records)
    (ax,) = figure.axes
    (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    ratios = contours.levels[1:] / contours.levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0])  # log-spaced levels for Rosenbrock
    assert markers(ax, "minima")[0].get_offsets().tolist() == [[1.0, 1.0]]
    assert markers(ax, "start")[0].get_offsets().tolist() == [list(surface.start)]
    for index, record in enumerate(records):
        drawn = line(ax, f"{index}:position")
        position = record.history["position"]
        assert (drawn.get_xdata()[0], drawn.get_ydata()[0]) == surface.start
        np.testing.assert_array_equal(drawn.get_xdata()[1:], position[:, 0])
        np.testing.assert_array_equal(drawn.get_ydata()[1:], position[:, 1])
    assert len(markers(ax, "2:position:diverged")) == 1
    assert ax.get_xlim() == surface.x_range and ax.get_ylim() == surface.y_range


def test_plot_trajectories_linear_levels_and_missing_surface(records):
    bowl = get_problem("quadratic").surface()
    (ax,) = plot_trajectories([], bowl, levels=12).axes
    (contours,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    steps = np.diff(contours.levels)
    np.testing.assert_allclose(steps, steps[0])
    with pytest.raises(
        ValueError, match=r"surface: got None \(NoneType\) and no record carries one"
    ):
        plot_trajectories([])


def test_plot_trajectories_of_a_surface_without_a_known_minimum():
    bowl = get_problem("quadratic").surface()
    plane = type(bowl)(lambda x, y: x + y, (0, 4), (0, 4), (), (1.0, 1.0))
    (ax,) = plot_trajectories([], plane).axes
    assert [c.get_gid() for c in ax.collections if c.get_gid()] == ["start"]


# --------------------------------------------------------------------- sensitivity
def test_sensitivity_from_real_sweeps():
    sweep = [
        train_record(optimizer, rate, steps=20, seed=seed)
        for optimizer, rates in (("SGD", (1e-4, 1e-3, 1e-2)), ("Adam", (0.01, 0.1)))
        for rate in rates
        for seed in (0, 1)
    ]
    points = sensitivity_points(sweep)
    assert list(points) == ["optimizer=SGD", "optimizer=Adam"]
    x, mean, spread = points["optimizer=SGD"]
    assert x.tolist() == [1e-4, 1e-3, 1e-2]
    finals = [float(r.history["loss"][-1]) for r in sweep[:4]]
    assert mean[:2].tolist() == [np.mean(finals[:2]), np.mean(finals[2:])]
    assert np.isnan(mean[2])  # lr 0.01 diverges
    figure = plot_sensitivity(points)
    (ax,) = figure.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    np.testing.assert_array_equal(line(ax, "0:mean").get_xdata(), [1e-4, 1e-3])
    np.testing.assert_array_equal(line(ax, "0:mean").get_ydata(), mean[:2])
    (cross,) = markers(ax, "0:diverged")
    assert cross.get_offsets()[:, 0].tolist() == [1e-2]
    assert not markers(ax, "1:diverged")
    assert ax.get_legend().get_title().get_text() == "× diverged"
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    with pytest.raises(ValueError, match=r"points\['a'\]: got .*three arrays of one length"):
        plot_sensitivity({"a": ([1, 2], [1.0], [0.0])})
    with pytest.raises(ValueError, match="x: got 'optimizer'; accepted: a numeric config key"):
        sensitivity_points(sweep, x="optimizer")


# --------------------------------------------------------------------- files
def test_save_figure_png_and_svg(records, tmp_path):
    figure = plot_runs(records)
    png = save_figure(figure, tmp_path / "runs.png")
    svg = save_figure(figure, tmp_path / "runs.SVG")
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 10_000
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text and "<dc:date>" not in text
    with pytest.raises(ValueError, match=r"path: got '.*runs.pdf' \(extension '.pdf'\)"):
        save_figure(figure, tmp_path / "runs.pdf")


def test_figures_do_not_import_pyplot():
    imported = set()
    for module in (figures, aggregate):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "matplotlib.pyplot" not in imported and "matplotlib" not in imported
    assert {"matplotlib.figure", "matplotlib.axes"} <= imported


def test_labels_with_dollar_signs_are_drawn_as_typed(records, tmp_path):
    records[0].label = r"cost $\frac{$ 5"
    figure = plot_runs(records)
    figure.savefig(tmp_path / "runs.png")  # mathtext would fail on the unbalanced $
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert r"cost \$\frac{\$ 5" in texts
