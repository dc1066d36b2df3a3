"""What :func:`olexplore.ui.layout.arrange` sets on the explorer's widgets, and that the
figure's width fits the output areas measured in Chromium (tests/browser/test_layout.py)."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from olexplore.ui import layout
from olexplore.ui.controls import INVALID_CLASS
from olexplore.ui.layout import FIGURE_INCHES, PANEL_WIDTH, arrange

# Output areas measured with tests/browser/test_layout.py (CSS px; Chromium, Debian fonts).
LAB_WITH_FILE_BROWSER = 1168  # JupyterLab 4 at 1600×1000, file browser open
LAB_NARROW = 720  # JupyterLab at 900×1000, file browser closed
VOILA = 1250  # Voilà at 1280×800
VOILA_NARROW = 870  # Voilà at 900×1000
CANVAS_MARGINS = 8  # px the figure widget adds around its canvas, at most


@pytest.fixture
def arranged():
    panel, message = widgets.VBox(), widgets.HTML()
    main = [widgets.HBox([widgets.Button(description="Play")]), message, widgets.Output()]
    return panel, main, message, arrange(panel, main, message)


def test_the_root_holds_the_style_the_panel_and_a_column_of_the_main_widgets(arranged):
    panel, main, message, root = arranged
    style, side, column = root.children
    assert side is panel and list(column.children) == main
    assert style.value.startswith("<style>") and style.layout.display == "none"
    assert root.layout.flex_flow == "row wrap" and root.layout.align_items == "flex-start"


def test_the_panel_keeps_a_fixed_width(arranged):
    panel, *_ = arranged
    width = f"{PANEL_WIDTH}px"
    assert (panel.layout.width, panel.layout.min_width, panel.layout.max_width) == (width,) * 3
    assert panel.layout.flex == "0 0 auto"
    assert layout.PANEL_CLASS in panel._dom_classes


def test_the_message_has_a_reserved_height_and_scrolls(arranged):
    *_, message, _ = arranged
    assert message.layout.height == "4.5em"  # 3 lines of 1.5em, also while empty
    assert message.layout.overflow == "hidden auto"
    assert message.layout.flex == "0 0 auto"
    assert layout.MESSAGE_CLASS in message._dom_classes
    message.value = "x" * 2000
    assert message.layout.height == "4.5em"  # the layout does not follow the text


def test_the_column_asks_for_the_figures_width_and_may_shrink(arranged):
    *_, root = arranged
    column = root.children[2]
    assert column.layout.flex == f"1 1 {round(FIGURE_INCHES * 100) + 8}px"
    assert column.layout.min_width == "0"
    assert layout.COLUMN_CLASS in column._dom_classes


def test_the_style_marks_invalid_fields_and_wraps_rows_and_texts():
    style = layout.STYLE
    assert f".{INVALID_CLASS} input" in style and "#b00020" in style
    assert f".widget-hbox:has(> .{INVALID_CLASS})" in style  # the box next to a marked slider
    assert f".{layout.COLUMN_CLASS} .widget-hbox {{flex-wrap: wrap;}}" in style
    assert "overflow-wrap: anywhere" in style
    assert "scale" not in style and "zoom" not in style  # the canvas is never scaled


def test_the_figure_fits_the_measured_output_areas():
    figure = round(FIGURE_INCHES * 100) + CANVAS_MARGINS
    assert PANEL_WIDTH + figure <= LAB_WITH_FILE_BROWSER  # beside the panel
    assert PANEL_WIDTH + figure <= VOILA
    assert figure <= LAB_NARROW and figure <= VOILA_NARROW  # below it
    assert PANEL_WIDTH + figure > VOILA_NARROW  # there the panel stacks over the figure


def test_arrange_twice_gives_the_same_layout():
    panel, message = widgets.VBox(), widgets.HTML()
    arrange(panel, [message], message)
    arrange(panel, [message], message)
    assert panel._dom_classes.count(layout.PANEL_CLASS) == 1
    assert message._dom_classes.count(layout.MESSAGE_CLASS) == 1
