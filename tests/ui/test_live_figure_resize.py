"""A resize of the live figure's canvas (ipympl's resize handle, or matplotlib's resize_event)
lays the figure out as a figure made at the new size is, and draws a full, true frame."""

import io
import threading
import time

import numpy as np
import pytest
from matplotlib.backend_bases import ResizeEvent
from PIL import Image

from olexplore.ui.live_figure import LiveFigure, Trace
from tests.browser.truth import TOLERANCE, differing_share
from tests.ui.test_live_figure import history, sent_frames

OLD, NEW = (9.0, 6.0), (6.5, 4.5)  # inches (100 dpi): the figure before and after the resize


def traces():
    runs = [history(4000, 0), history(2500, 1), history(3000, 2)]
    return [
        Trace.styled(i, f"run-{i}", f"Adam lr=0.0{i + 1}", h, status="finished")
        for i, h in enumerate(runs)
    ]


def layout(live):
    """What the size decides: each panel's place, the step ticks, the legend's columns."""
    live.rendered()  # the legend's extent is known once drawn
    return {
        "positions": {name: ax.get_position().bounds for name, ax in live.axes.items()},
        "step ticks": live.axes["loss"].get_xticks().tolist(),
        "legend": [legend.get_window_extent().bounds for legend in live.figure.legends],
    }


def resize_like_ipympl(live, width, height):
    """What ipympl does when its resize handle is dragged: the front end sends a "resize"
    message, which reaches matplotlib's WebAgg canvas (handle_resize) through the manager."""
    live.widget.manager.handle_json({"type": "resize", "width": width, "height": height})


def resize_with_an_event(live, width, height):
    live.figure.set_size_inches(width / live.figure.dpi, height / live.figure.dpi)
    live.figure.canvas.callbacks.process(
        "resize_event", ResizeEvent("resize_event", live.figure.canvas)
    )


def png_frame(live):
    return np.asarray(Image.open(io.BytesIO(bytes(live.widget.value))).convert("RGB"))


@pytest.mark.parametrize("backend", ["ipympl", "png"])
def test_a_resized_figure_is_laid_out_like_one_made_at_that_size(backend):
    live = LiveFigure(backend=backend, width=OLD[0], height=OLD[1], min_interval=0.0)
    shown = traces()
    live.update(shown, force=True)
    before = layout(live)
    sent = sent_frames(live) if backend == "ipympl" else None
    if backend == "ipympl":
        resize_like_ipympl(live, NEW[0] * 100, NEW[1] * 100)
    else:
        resize_with_an_event(live, NEW[0] * 100, NEW[1] * 100)
    fresh = LiveFigure(backend="png", width=NEW[0], height=NEW[1], min_interval=0.0)
    fresh.update(shown, force=True)

    assert tuple(live.figure.get_size_inches()) == NEW
    assert layout(live) == layout(fresh) != before
    assert live.rendered().shape == (450, 650, 4)
    share = differing_share(live.rendered(), fresh.rendered())
    assert share < TOLERANCE, f"{share:.2%} of the pixels differ from a figure made at that size"
    if backend == "ipympl":  # the frame sent at the resize is whole and true
        assert sent, "no frame was sent"
        mode, data = sent[-1]
        shown_frame = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert mode == "full"
    else:
        shown_frame = png_frame(live)
    share = differing_share(shown_frame, live.rendered())
    assert share < TOLERANCE, f"{share:.2%} of the pixels differ from a full draw"


def test_lines_are_decimated_for_the_new_width():
    live = LiveFigure(backend="png", width=OLD[0], height=OLD[1], min_interval=0.0)
    live.update(traces(), force=True)
    points = len(live.artists("run-0")["loss"].get_xdata())
    resize_with_an_event(live, 400, 300)
    buckets = max(8, int(live.axes["loss"].bbox.width) // 2)
    after = len(live.artists("run-0")["loss"].get_xdata())
    assert after <= 2 * buckets + 2 < points


def test_an_ipympl_resize_waits_for_the_figure_lock():
    """A draw on another thread holds the lock: the resize (new size, layout, frame) waits."""
    live = LiveFigure(backend="ipympl", width=OLD[0], height=OLD[1], min_interval=0.0)
    live.update(traces(), force=True)
    held, seen = threading.Event(), []

    def hold():
        with live._lock:
            held.set()
            time.sleep(0.3)
            seen.append(tuple(live.figure.get_size_inches()))

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    resize_like_ipympl(live, NEW[0] * 100, NEW[1] * 100)
    thread.join()
    assert seen == [OLD] and tuple(live.figure.get_size_inches()) == NEW
