"""The live figure: artists made once and fed decimated data, settings, throttling, PNG frames
that match a full redraw, NaN/inf without warnings, the ipympl canvas and its lock."""

import io
import itertools
import json
import threading
import time
import warnings

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from olexplore.problems import get_problem
from olexplore.runs.aggregate import ema
from olexplore.runs.history import History
from olexplore.ui.canvas import png_bytes
from olexplore.ui.decimate import min_max_envelope
from olexplore.ui.figure_panels import Envelope, Smoother, bucket_size, sticky_limits
from olexplore.ui.live_figure import PANELS, LiveFigure, Trace
from tests.browser.truth import TOLERANCE, differing_share


# ----------------------------------------------------------------------------- helpers
def chunk(start, count, seed=0, position=False):
    rng = np.random.default_rng(seed + start)
    steps = np.arange(start, start + count)
    norm = (1.0 + np.exp(-steps / 500)) * rng.lognormal(0, 0.3, count)
    values = {
        "loss": (np.exp(-steps / 800) * rng.lognormal(0, 0.2, count) + 0.01).astype(np.float32),
        "learning_rate": (0.1 * 0.99 ** (steps / 100)).astype(np.float32),
        "global_norm": norm.astype(np.float32),
        "clipped_global_norm": np.minimum(norm, 1.2).astype(np.float32),
    }
    if position:
        angle = steps / 50.0
        values["position"] = (
            np.stack([np.cos(angle), 1 + np.sin(angle)], 1) * np.exp(-steps / 2000)[:, None]
        )
    return values


def history(steps, seed=0, position=False, first_step=0):
    result = History(first_step=first_step)
    result.extend(chunk(0, steps, seed, position))
    return result


def grow(h, count, seed=0):
    h.extend(chunk(len(h), count, seed, "position" in h.names))


def live_figure(**kwargs):
    return LiveFigure(backend="png", **{"min_interval": 0.0, **kwargs})


def decimated(values, buckets, first_step=0):
    """The reference: the min/max envelope of the complete buckets of bucket_size points and of
    the partial last one, plus the first and the last point."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    size = bucket_size(n, buckets)
    full = n - n % size
    head = min_max_envelope(np.arange(full), values[:full], max(full // size, 1))
    tail = min_max_envelope(np.arange(full, n), values[full:], 1)
    x = np.unique(np.concatenate([[0, n - 1], head[0], tail[0]]))
    return x + first_step, values[x]


def buckets_of(live, panel):
    return max(8, int(live.axes[panel].bbox.width) // 2)


def frame(live):
    return np.asarray(Image.open(io.BytesIO(bytes(live.widget.value))).convert("RGB"))


def full_render(live):
    live.figure.canvas.draw()  # every artist, the ordinary way
    return np.asarray(live.figure.canvas.buffer_rgba())[:, :, :3].copy()


def assert_like_full_render(live, tolerance=0.01):
    """The layered frame shows what a full redraw shows (up to a few anti-aliased pixels)."""
    shown, full = frame(live), full_render(live)
    assert shown.shape == full.shape
    differing = np.abs(shown.astype(int) - full.astype(int)).max(axis=2) > 64
    assert differing.mean() < tolerance, differing.mean()


# ----------------------------------------------------------------------------- artists
def test_artists_are_created_once_and_follow_growing_histories():
    runs = [history(3000, seed) for seed in range(3)]
    traces = [Trace.styled(i, f"r{i}", f"run {i}", h) for i, h in enumerate(runs)]
    live = live_figure()
    live.update(traces, force=True)
    before = {trace.key: live.artists(trace.key) for trace in traces}
    assert set(before["r0"]) == {
        "loss",
        "loss:raw",
        "learning_rate",
        "global_norm",
        "clipped_global_norm",
    }
    counts = [len(ax.lines) for ax in live.figure.axes]
    for step in range(20):
        for h in runs:
            grow(h, 150, step)
        live.update(traces, force=True)
    for trace in traces:
        after = live.artists(trace.key)
        assert all(after[role] is line for role, line in before[trace.key].items())
        assert after["loss"].get_gid() == f"{trace.key}:loss"
    assert [len(ax.lines) for ax in live.figure.axes] == counts
    assert live.artists("r1")["loss"].get_xdata()[-1] == len(runs[1]) - 1


def test_line_data_is_the_decimated_history_in_steps():
    h = history(20_000, first_step=100)
    live = live_figure()
    live.update([Trace("a", "a", h, "#0072B2")], force=True)
    for _ in range(7):  # grown in chunks: the incremental envelope equals a fresh one
        grow(h, 777)
        live.update([Trace("a", "a", h, "#0072B2")], force=True)
    lines = live.artists("a")
    for role in ("loss", "learning_rate", "global_norm", "clipped_global_norm"):
        panel = "global_norm" if role == "clipped_global_norm" else role
        x, y = decimated(h[role], buckets_of(live, panel), first_step=100)
        np.testing.assert_array_equal(lines[role].get_xdata(), x)
        np.testing.assert_array_equal(lines[role].get_ydata(), y)
        assert len(x) <= live.axes[panel].bbox.width  # ~ one point per pixel at most
        assert x[0] == 100 and x[-1] == 100 + len(h) - 1
    spike = int(np.argmax(h["loss"]))
    assert 100 + spike in lines["loss"].get_xdata()  # the envelope keeps the extremes


def test_envelope_and_smoother_grown_piecewise_match_one_shot():
    rng = np.random.default_rng(3)
    values = rng.normal(size=9000)
    values[[10, 4000, 8999]] = [np.nan, np.inf, np.nan]
    envelope, smoother = Envelope(), Smoother(0.9)
    for end in (5, 300, 301, 4096, 4100, 9000):
        x, y = envelope.update(values[:end], buckets=200)
        ex, ey = decimated(values[:end], 200)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
        np.testing.assert_allclose(smoother.update(values[:end]), ema(values[:end], 0.9))
    assert envelope.settled <= len(x) and envelope.reduced % bucket_size(9000, 200) == 0


def test_invisible_traces_are_hidden_and_left_out_of_the_legend():
    a, b = history(500, 1), history(500, 2)
    live = live_figure()
    traces = [Trace("a", "shown", a, "#0072B2"), Trace("b", "hidden", b, "#D55E00", visible=False)]
    live.update(traces, force=True)
    assert not any(line.get_visible() for line in live.artists("b").values())
    assert live.artists("a")["loss"].get_visible()
    legend = live.figure.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == ["shown"]
    # its pixels are gone too (the faint raw line is off, so the colour is exact)
    orange = np.array([0xD5, 0x5E, 0x00])
    assert not (frame(live) == orange).all(axis=2).any()
    traces[1].visible = True
    live.update(traces, force=True)
    assert (frame(live) == orange).all(axis=2).any()


def test_deleted_traces_lose_their_artists():
    a, b = history(400, 1), history(400, 2)
    live = live_figure()
    live.update([Trace("a", "a", a, "#0072B2"), Trace("b", "b", b, "#D55E00")], force=True)
    gone = list(live.artists("b").values())
    live.update([Trace("a", "a", a, "#0072B2")], force=True)
    assert all(line.axes is None for line in gone)
    assert not any(line in ax.lines for ax in live.figure.axes for line in gone)
    with pytest.raises(KeyError, match="'b'"):
        live.artists("b")
    assert_like_full_render(live)


# ----------------------------------------------------------------------------- settings
def test_log_y_toggles_set_the_scale_and_ignore_non_positive_values():
    h = History()
    h.extend(
        {
            "loss": np.array([-1.0, 0.0, 1e-3, 10.0, 5.0] * 40),
            "learning_rate": np.full(200, 0.1),
            "global_norm": np.linspace(0, 2, 200),
        }
    )
    live = live_figure()
    assert live.log_y == {"loss": True, "learning_rate": False, "global_norm": True}
    live.update([Trace("a", "a", h, "#0072B2")], force=True)
    low, high = live.axes["loss"].get_ylim()
    assert live.axes["loss"].get_yscale() == "log"
    assert 0 < low <= 1e-3 and high >= 10.0  # from the positive values only
    live.set_log_y("loss", False)
    assert live.axes["loss"].get_yscale() == "linear" and live.log_y["loss"] is False
    assert live.axes["loss"].get_ylim()[0] <= -1.0
    live.set_log_y("learning_rate", True)
    assert live.axes["learning_rate"].get_yscale() == "log"
    low, high = live.axes["learning_rate"].get_ylim()
    assert low < 0.1 < high
    with pytest.raises(ValueError, match="panel: got 'lr'.*accepted: one of"):
        live.set_log_y("lr", True)
    with pytest.raises(ValueError, match="on: got 'yes'"):
        live.set_log_y("loss", "yes")


def test_smoothing_draws_the_ema_over_the_faint_raw_loss():
    h = history(6000)
    live = live_figure()
    trace = Trace("a", "a", h, "#0072B2")
    live.update([trace], force=True)
    assert not live.artists("a")["loss:raw"].get_visible()
    live.set_smoothing(0.9)
    assert live.smoothing == 0.9
    grow(h, 1234)
    live.update([trace], force=True)
    lines = live.artists("a")
    buckets = buckets_of(live, "loss")
    x, y = decimated(ema(h["loss"], 0.9), buckets)
    np.testing.assert_array_equal(lines["loss"].get_xdata(), x)
    np.testing.assert_allclose(lines["loss"].get_ydata(), y, rtol=1e-9)
    raw_x, raw_y = decimated(h["loss"], buckets)
    np.testing.assert_array_equal(lines["loss:raw"].get_ydata(), raw_y)
    assert lines["loss:raw"].get_visible() and lines["loss:raw"].get_alpha() < 0.5
    live.set_smoothing(0)
    np.testing.assert_array_equal(lines["loss"].get_ydata(), raw_y)
    assert not lines["loss:raw"].get_visible()
    with pytest.raises(ValueError, match=r"smoothing: got 1.0 \(float\); accepted: a number in"):
        live.set_smoothing(1.0)


def test_contour_panel_with_trajectories_that_follow_position():
    surface = get_problem("rosenbrock").surface()
    h = history(300, position=True)
    live = live_figure()
    trace = Trace("a", "a", h, "#0072B2")
    live.update([trace], force=True)
    assert "contour" not in live.axes and "position" not in live.artists("a")
    live.set_surface(surface)
    contour = live.axes["contour"]
    contours = list(contour.collections)
    assert contours and contour.get_xlim() == surface.x_range
    live.set_surface(get_problem("rosenbrock").surface())  # an equal surface: nothing redone
    assert live.axes["contour"] is contour
    live.update([trace], force=True)
    path = live.artists("a")["position"]
    expected = np.vstack([surface.start, h["position"]])  # short: every point is drawn
    np.testing.assert_allclose(np.column_stack(path.get_data()), expected)
    grow(h, 20_000)
    live.update([trace], force=True)
    points = np.column_stack(path.get_data())
    assert len(points) < 2_000 and np.allclose(points[-1], h["position"][-1])
    assert list(contour.collections) == contours  # drawn once
    live.set_surface(None)
    assert "contour" not in live.axes and path.axes is None
    assert "position" not in live.artists("a")
    with pytest.raises(ValueError, match="surface: got 'rosenbrock'"):
        live.set_surface("rosenbrock")


def test_diverged_traces_get_a_cross_at_their_last_finite_point():
    h = History(first_step=10)
    loss = np.array([4.0, 3.0, 2.5, 40.0, np.nan, np.inf], dtype=np.float32)
    h.extend({"loss": loss, "learning_rate": np.full(6, 0.5), "global_norm": np.ones(6)})
    live = live_figure()
    trace = Trace("d", "diverged", h, "#D55E00")
    live.update([trace], force=True)
    assert "loss:diverged" not in live.artists("d")
    trace.status = "diverged"
    live.update([trace], force=True)
    cross = live.artists("d")["loss:diverged"]
    assert cross.get_visible() and cross.get_marker() == "x"
    assert list(cross.get_xdata()) == [13] and list(cross.get_ydata()) == [40.0]
    live.mark("diverged at step 14")  # the note goes with its run: "<label>: <note>"
    assert live.figure._suptitle.get_text() == "diverged: diverged at step 14"


# ----------------------------------------------------------------------------- drawing
def test_update_throttles_unless_forced():
    trace = Trace("a", "a", history(200), "#0072B2")
    live = LiveFigure(backend="png", min_interval=5.0)
    assert live.update([trace], force=True) is True
    assert live.update([trace]) is False  # two quick updates: the second does not draw
    assert live.update([trace], force=True) is True
    assert live.frame_interval == 5.0
    quick = LiveFigure(backend="png", min_interval=0.05)
    quick.update([trace], force=True)
    assert 0.05 <= quick.frame_interval <= 0.22  # longer when draws are slow, >= 4 frames/s
    time.sleep(quick.frame_interval + 0.01)
    assert quick.update([trace]) is True
    assert quick.last_draw_seconds > 0
    every = live_figure()  # min_interval=0: every update draws
    assert all(every.update([trace]) for _ in range(3))


def test_png_frames_match_a_full_redraw_while_runs_grow_pause_and_change():
    runs = [history(2000, seed, position=True) for seed in range(3)]
    traces = [Trace.styled(i, f"r{i}", f"run {i}", h) for i, h in enumerate(runs)]
    live = live_figure()
    live.set_surface(get_problem("rosenbrock").surface())
    live.set_smoothing(0.6)
    assert bytes(live.widget.value[:8]) == b"\x89PNG\r\n\x1a\n"
    for step in range(12):
        for index, h in enumerate(runs):
            if index != 1 or step < 4 or step > 8:  # run 1 pauses, then goes on
                grow(h, 130, step)
        traces[2].visible = step % 5 != 3
        live.update(traces, force=True)
        if step in (4, 11):
            assert_like_full_render(live)
    image = Image.open(io.BytesIO(bytes(live.widget.value)))
    assert image.size == (900, 600)
    assert isinstance(live.widget, ipywidgets.Image)


def test_frames_drawn_piece_by_piece_equal_one_drawn_at_once():
    """Growing, pausing (the run is kept whole in the snapshot) and going on again."""

    def bounded(start, count):  # stays inside the first view: no full redraws
        steps = np.arange(start, start + count)
        return {
            "loss": 1.5 + 0.5 * np.sin(steps * 0.37) * np.cos(steps * 0.011),
            "learning_rate": 0.05 + 0.04 * np.sin(steps / 300.0),
        }

    h = History()
    h.extend(bounded(0, 3000))
    traces = [Trace("a", "a", h, "#0072B2")]
    live = live_figure()
    for step in range(10):
        if not 3 <= step <= 5:
            h.extend(bounded(len(h), 40))
        live.update(traces, force=True)
        at_once = live_figure()
        at_once.update(traces, force=True)
        for name, ax in live.axes.items():  # the same view
            at_once.axes[name].set_xlim(ax.get_xlim())
            at_once.axes[name].set_ylim(ax.get_ylim())
        at_once.draw()
        differing = np.abs(frame(live).astype(int) - frame(at_once).astype(int)).max(axis=2)
        assert (differing > 64).sum() <= 30, step  # where line pieces join, if anywhere


def test_png_bytes_decode_to_the_same_pixels():
    rgba = np.random.default_rng(0).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(rgba))))
    np.testing.assert_array_equal(decoded, rgba[:, :, :3])


def test_nan_and_inf_draw_without_warnings():
    h = History()
    values = np.linspace(1, 2, 3000)
    values[[5, 100, 2500]] = [np.nan, np.inf, -np.inf]
    values[2900:] = np.nan
    h.extend(
        {
            "loss": values,
            "learning_rate": np.full(3000, np.nan),
            "global_norm": values[::-1].copy(),
            "clipped_global_norm": np.full(3000, np.inf),
            "position": np.column_stack([values, values]),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        live = live_figure()
        live.set_surface(get_problem("himmelblau").surface())
        live.set_smoothing(0.8)
        trace = Trace("a", "a", h, "#0072B2", status="diverged")
        live.update([trace], force=True)
        for panel in PANELS:
            live.set_log_y(panel, not live.log_y[panel])
        h.extend({"loss": [np.nan] * 10})
        live.update([trace, Trace("b", "empty", History(), "#000000")], force=True)
        live.figure.canvas.draw()


def test_limits_are_sticky_and_a_zoom_is_left_alone():
    h = history(5000)
    live = live_figure()
    trace = Trace("a", "a", h, "#0072B2")
    live.update([trace], force=True)
    xlim = live.axes["loss"].get_xlim()
    assert xlim[0] == 0 and xlim[1] >= len(h) - 1
    grow(h, 50)
    live.update([trace], force=True)
    assert live.axes["loss"].get_xlim() == xlim  # still fits: the axes stay as they were
    live.axes["loss"].set_xlim(1000, 2000)  # what ipympl's zoom does
    grow(h, 5000)
    live.update([trace], force=True)
    assert live.axes["loss"].get_xlim() == (1000, 2000)
    live.axes["loss"].set_xlim(xlim)  # "home": back to a view the figure chose
    live.update([trace], force=True)
    assert live.axes["loss"].get_xlim()[1] >= len(h) - 1


def test_sticky_limits_keep_a_view_until_the_data_leave_or_shrink():
    assert sticky_limits((0.0, 10.0), 1.0, 9.0) is None
    assert sticky_limits((0.0, 10.0), 1.0, 1.5) is not None  # fills too little of the view
    low, high = sticky_limits((0.0, 10.0), -5.0, 9.0, pad=0.0, grow=0.5)
    assert (low, high) == (-12.0, 9.0)  # room on the side the data left
    assert sticky_limits(None, 0.1, 0.1, log=True)[0] < 0.1  # one value: still a range


# ----------------------------------------------------------------------------- backends
def test_auto_falls_back_to_png_outside_a_kernel():
    live = LiveFigure()
    assert live.backend == "png" and isinstance(live.widget, ipywidgets.Image)


def test_ipympl_canvas_works_headless_and_shares_the_lock():
    import matplotlib.pyplot as plt
    from ipympl.backend_nbagg import Canvas

    h = history(3000)
    figures = plt.get_fignums()
    live = LiveFigure(backend="ipympl", min_interval=0.0)
    assert plt.get_fignums() == figures  # not in pyplot's list: shown only inside the layout
    assert live.backend == "ipympl" and isinstance(live.widget, Canvas)
    assert live.widget is live.figure.canvas and live.widget._draw_lock is live._lock
    assert live.widget.header_visible is False
    assert live.update([Trace("a", "a", h, "#0072B2")], force=True)
    grow(h, 100)
    assert live.update([Trace("a", "a", h, "#0072B2")], force=True)
    live.widget.draw()  # what ipympl does on a resize or zoom


def test_draws_from_another_thread_wait_for_the_figure_lock():
    """ipympl redraws on its own thread (resize, zoom); changing artists meanwhile gave
    'ValueError: shape mismatch' (docs/environment.md), so its draws take the figure's lock."""
    live = live_figure()
    finished = threading.Event()

    def redraw():
        live.figure.canvas.draw()
        finished.set()

    with live._lock:  # as during an update
        thread = threading.Thread(target=redraw)
        thread.start()
        assert not finished.wait(0.3)  # blocked
    assert finished.wait(30)
    thread.join()

    h, errors, stop = history(2000), [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                live.figure.canvas.draw()
            except Exception as error:
                errors.append(error)
            time.sleep(0.001)  # the lock is not fair: let updates in

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for step in range(8):
            grow(h, 37, step)
            live.update([Trace("a", "a", h, "#0072B2")], force=True)
    finally:
        stop.set()
        thread.join()
    assert errors == []


def test_arguments_are_checked():
    with pytest.raises(ValueError, match=r"backend: got 'svg' \(str\); accepted: one of"):
        LiveFigure(backend="svg")
    with pytest.raises(ValueError, match="width: got -1"):
        LiveFigure(backend="png", width=-1)
    with pytest.raises(ValueError, match="min_interval: got 'fast'"):
        LiveFigure(backend="png", min_interval="fast")
    live = live_figure()
    h = history(10)
    with pytest.raises(ValueError, match="traces: keys \\['a'\\] repeat"):
        live.update([Trace("a", "a", h, "k"), Trace("a", "b", h, "k")])
    with pytest.raises(ValueError, match=r"traces\[0\]: got 'a' \(str\); accepted: a Trace"):
        live.update(["a"])
    with pytest.raises(ValueError, match=r"traces\[0\].history: got \[1, 2\]"):
        live.update([Trace("a", "a", [1, 2], "k")])
    with pytest.raises(ValueError, match="text: got 3"):
        live.mark(3)


def test_ipympl_last_frame_is_a_data_url():
    """ipympl 0.10 keeps bare base64 there, which its front end requests as a relative URL."""
    import numpy as np

    from olexplore.runs.history import History
    from olexplore.ui.live_figure import LiveFigure, Trace

    figure = LiveFigure(backend="ipympl")
    history = History()
    history.extend(
        {
            "loss": np.linspace(2, 1, 50),
            "learning_rate": np.full(50, 0.1),
            "global_norm": np.linspace(3, 1, 50),
        }
    )
    figure.update([Trace("a", "a", history, "#0072B2")], force=True)
    assert figure.widget._data_url.startswith("data:image/png;base64,iVBORw0KGgo")


# ----------------------------------------------------------------------------- truth
def sent_frames(live):
    """Collect what the ipympl canvas sends: ``[(mode, png bytes)]`` for each binary frame."""
    sent, original = [], live.widget.send

    def send(content, buffers=None):
        if json.loads(content["data"])["type"] == "binary":  # the mode is a synced trait
            sent.append((live.widget._image_mode, bytes(buffers[0])))
        return original(content, buffers)

    live.widget.send = send
    live.widget._force_full = True  # as when a browser connects (its "refresh")
    assert live.widget.manager.web_sockets == [live.widget]  # ipympl sends to the canvas's comm
    return sent


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def assert_true_frame(live, shown):
    share = differing_share(shown, live.rendered())
    assert share < TOLERANCE, f"{share:.2%} of the pixels differ from a full draw"


def test_every_frame_is_whole_and_equals_the_figure_drawn_whole():
    """The explorer's sequence without a browser: play, pause, step, reset (a new history under
    the key), a problem change, log y, a deletion, a finished run, a note. Every frame the ipympl
    canvas sends is a full frame that equals ``rendered()`` (the browser test's tolerance)."""
    live = LiveFigure(backend="ipympl", min_interval=0.0)
    sent = sent_frames(live)
    live.set_surface(get_problem("rosenbrock").surface())
    runs = {"a": history(3000, 0, position=True), "b": history(1500, 1, position=True)}

    def traces(status="running", **statuses):
        return [
            Trace.styled(i, key, f"run {key}", h, status=statuses.get(key, status))
            for i, (key, h) in enumerate(runs.items())
        ]

    def check(what):
        assert sent, what
        mode, data = sent[-1]
        assert mode == "full", what
        assert_true_frame(live, decoded(data))

    for step in range(4):  # play
        grow(runs["a"], 200, step)
        live.update(traces(b="paused"), force=True)
    check("playing")
    live.update(traces("paused"), force=True)
    check("paused")
    for _ in range(3):
        grow(runs["a"], 1)
        live.update(traces("paused"), force=True)
    check("stepped")
    runs["a"] = history(1, 5, position=True)  # reset: a fresh history under the same key
    assert live.update(traces("ready", b="paused"))
    check("reset")
    live.set_surface(None)  # digits-mlp: no contour
    check("problem changed")
    live.set_log_y("learning_rate", True)
    check("log y")
    del runs["b"]
    assert live.update(traces("ready"))
    check("deleted")
    grow(runs["a"], 4000, 9)
    live.update(traces("diverged"), force=True)
    live.mark("diverged at step 4000")
    check("diverged")
    assert live.title == "run a: diverged at step 4000"
    assert len(sent) >= 12


def test_structural_changes_draw_at_once_despite_the_frame_budget():
    live = live_figure(min_interval=60.0)
    a, b = history(500), history(800, 1)
    traces = [Trace("a", "a", a, "#0072B2"), Trace("b", "b", b, "#D55E00")]
    assert live.update(traces)
    grow(a, 10)
    assert not live.update(traces)  # only growth: waits for the next frame
    assert live.update(traces[:1])  # a deletion
    assert live.update([Trace("a", "a", history(3), "#0072B2")])  # a reset (new history)
    assert live.update([Trace("a", "a", live._traces[0].history, "#0072B2", status="paused")])
    assert not live.update(live._traces)
    assert live.update([Trace("a", "a", live._traces[0].history, "#0072B2", visible=False)])


def test_limits_fit_the_data_once_nothing_trains():
    h = History()
    steps = np.arange(20_000)
    h.extend(
        {
            "loss": np.exp(-steps / 5000.0) + 0.1,
            "learning_rate": 0.1 * 0.9 ** (steps / 1000.0),  # 0.0135 ... 0.1, all > 0
            "global_norm": np.full(20_000, 2.0),
        }
    )
    live = live_figure()
    live.set_log_y("learning_rate", False)
    live.update([Trace("a", "a", h, "#0072B2", status="running")], force=True)
    assert live.axes["loss"].get_xlim()[1] > 30_000  # room to grow while it trains
    live.update([Trace("a", "a", h, "#0072B2", status="finished")], force=True)
    assert live.axes["loss"].get_xlim() == (0.0, 19_999.0)
    low, high = live.axes["learning_rate"].get_ylim()
    assert 0.0 <= low <= 0.0135 and 0.1 <= high <= 0.11  # never below 0 for rates > 0
    low, high = live.axes["global_norm"].get_ylim()  # a constant: 0.05 decade around it
    assert live.axes["global_norm"].get_yscale() == "log"
    assert np.allclose(np.log10([low, high]), np.log10(2.0) + np.array([-0.05, 0.05]))


def test_step_labels_at_350k_steps_are_short_and_never_overlap():
    h = History()
    steps = np.arange(350_000)
    h.extend({"loss": 1 + np.sin(steps / 9e3), "learning_rate": np.full(350_000, 0.01)})
    live = live_figure()
    live.update([Trace("a", "a", h, "#0072B2", status="finished")], force=True)
    ax = live.axes["global_norm"]  # the panel with the step labels
    renderer = live.figure.canvas.get_renderer()
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert 4 <= len(labels) <= 9 and "350k" in [t.get_text() for t in labels]
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    assert all(left.x1 + 5 < right.x0 for left, right in itertools.pairwise(boxes))


def test_a_note_goes_with_its_run():
    a, b = history(100), history(100, 1)

    def traces(status_a="running", history_a=a, with_b=True):
        shown = [Trace("a", "run a", history_a, "#0072B2", status=status_a)]
        return [*shown, Trace("b", "run b", b, "#D55E00")] if with_b else shown

    live = live_figure()
    live.update(traces())
    live.mark("diverged at step 99")  # before the figure knows: waits for the next update
    assert live.title == ""
    live.update(traces("diverged"))
    assert live.title == "run a: diverged at step 99"
    live.update(traces("diverged"))  # and stays with run a only
    live.mark("slow", key="b")
    assert live.title == "run a: diverged at step 99 · run b: slow"
    live.update(traces("diverged", with_b=False))  # run b deleted: its note goes
    assert live.title == "run a: diverged at step 99"
    live.update(traces("ready", history_a=history(3)))  # run a reset: a new history
    assert live.title == ""
    live.update(traces("failed", history_a=a))  # no mark: the reason of the trace, or status
    assert live.title == "run a: failed"
    live.mark("")
    live.update([Trace("a", "run a", a, "k", status="failed", reason="failed at step 3: boom")])
    assert live.title == "run a: failed at step 3: boom"
    with pytest.raises(ValueError, match=r"key: got 3 \(int\)"):
        live.mark("x", key=3)


def test_ipympl_version_outside_the_range_is_refused_clearly():
    from olexplore.ui.canvas import IPYMPL_VERSIONS, check_ipympl_version

    assert IPYMPL_VERSIONS == ((0, 10), (0, 11))
    check_ipympl_version("0.10.0")
    with pytest.raises(ImportError, match=r"ipympl 0\.11\.1 is installed; accepted: ipympl "):
        check_ipympl_version("0.11.1")


def composite_as_ipympl_front_end(frames, skipped):
    """What ipympl 0.10's front end shows after ``frames``, skipping the indices in ``skipped``
    (a frame whose ``Image.src`` is replaced before it loads): a "full" frame clears the canvas,
    a "diff" frame is drawn over it (its transparent pixels leave what was there)."""
    shown = None
    for index, (mode, data) in enumerate(frames):
        if index in skipped:
            continue
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)
        if mode == "full" or shown is None:
            shown = np.zeros_like(image)
        opaque = image[..., 3:] > 0
        shown = np.where(opaque, image, shown)
    return shown.astype(np.uint8)


def test_a_frame_the_browser_skips_leaves_nothing_stale():
    live = LiveFigure(backend="ipympl", min_interval=0.0)
    sent = sent_frames(live)
    h = history(2000)
    trace = Trace("a", "a", h, "#0072B2", status="paused")
    live.update([trace], force=True)
    live.set_log_y("loss", False)  # the frame the browser skips: new axes, ticks and labels
    live.set_smoothing(0.5)  # the next frame changes the loss line only
    shown = composite_as_ipympl_front_end(sent, skipped={len(sent) - 2})
    assert differing_share(shown, live.rendered()) < TOLERANCE
