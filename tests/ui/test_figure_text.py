"""What the live figure writes stays on the figure and reads short: legend labels cut to their
column, log ticks within a decade labelled 2, 3 (not 2×10⁰), reasons marked with an icon."""

import numpy as np

from olexplore.runs.history import History
from olexplore.ui.live_figure import LiveFigure, Trace, shorten

LONG = "digits-mlp, Adam, lr 0.001, 20000 steps, clip global norm 1.0, noise 0.01, seed 3"


def traces(labels):
    result = []
    for index, label in enumerate(labels):
        history = History()
        history.extend(
            {
                "loss": np.geomspace(3, 1.2 + index * 0.1, 300),
                "learning_rate": np.full(300, 0.1),
                "global_norm": np.linspace(3, 1, 300),
            }
        )
        result.append(Trace.styled(index, f"k{index}", label, history, status="finished"))
    return result


def test_long_labels_are_cut_so_the_legend_stays_on_the_figure():
    live = LiveFigure(backend="png", width=7.0, min_interval=0.0)
    live.update(traces([LONG, "lr 0.3 (too high)", LONG.replace("Adam", "SGD")]), force=True)
    legend = live.figure.legends[0]
    box = legend.get_window_extent(live.figure.canvas.get_renderer())
    assert 0 <= box.x0 and box.x1 <= live.figure.bbox.width, (box, live.figure.bbox)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[1] == "lr 0.3 (too high)"  # short labels stay whole
    assert texts[0].endswith("…") and LONG.startswith(texts[0][:-1]) and len(texts[0]) < 50


def test_shorten_keeps_at_least_eight_characters():
    assert shorten(LONG, 3) == "digits-…"
    assert shorten("", 10) == ""


def test_log_ticks_within_a_decade_read_as_plain_numbers():
    live = LiveFigure(backend="png", min_interval=0.0)
    live.update(traces(["a"]), force=True)  # the gradient norm: 1 to 3, on a log axis
    ax = live.axes["global_norm"]
    live.figure.canvas.draw()
    labels = {t.get_text() for t in ax.yaxis.get_minorticklabels() if t.get_text()}
    assert {"2", "3"} <= labels, labels
