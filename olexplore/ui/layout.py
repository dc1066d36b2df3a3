"""How the explorer's widgets are arranged on the page, and the page style they need.

The explorer builds its widgets in groups (the control panel, the player row, the status line,
the message, the view row, the figure, the run table, the tools) and :func:`arrange` places
them: the panel on the left at a fixed width, everything else in a column beside it, or below
it where the two do not fit side by side (the root box wraps: narrow screens stack the panel
over the figure). Messages sit in an area of fixed height that scrolls, so a long message never
squeezes the controls and nothing moves when one appears.

The sizes were measured in Chromium (tests/browser/test_layout.py prints them): the output area
is 1168 px wide in JupyterLab at 1600×1000 with the file browser open, 720 px at 900×1000 with
it closed, and 1250 px (870 px) in Voilà at 1280×800 (900×1000). A 700 px figure fits beside a
400 px panel in the first, and below it in the narrow ones. The figure's width is the kernel's
figure size (ipympl sizes its canvas from it); the canvas is never scaled with CSS, so what the
browser shows is pixel for pixel the kernel's figure and mouse zoom stays where it points.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

#: The live figure's width in inches (at 100 dpi: 700 px), measured to fit (module docstring).
FIGURE_INCHES = 7.0
#: The control panel's width in CSS px: it never changes, whatever is shown beside it.
PANEL_WIDTH = 400
#: The lines of text the message area shows before it scrolls (its height is kept when empty).
MESSAGE_LINES = 3
_LINE_EM = 1.5  # line height of the message and of the panel's texts, in em
#: CSS classes :func:`arrange` gives the panel, the column beside it and the message.
PANEL_CLASS, COLUMN_CLASS, MESSAGE_CLASS = "olexplore-side", "olexplore-column", "olexplore-message"

#: The page style of the explorer: an invalid field gets a red border (the box next to a marked
#: slider too); rows of the column wrap instead of squeezing their buttons; texts wrap anywhere
#: (a word longer than a line never widens its box); the slider of a panel row takes the width
#: its neighbours leave; the run table scrolls sideways when the column is narrower than it.
STYLE = f"""<style>
.olexplore-invalid input, .olexplore-invalid select,
.widget-hbox:has(> .olexplore-invalid) input[type="number"] {{
  border-color: #b00020 !important; box-shadow: 0 0 0 1px #b00020;
}}
.{COLUMN_CLASS} .widget-hbox {{flex-wrap: wrap;}}
.{MESSAGE_CLASS} > .widget-html-content,
.{PANEL_CLASS} .widget-html > .widget-html-content {{
  line-height: {_LINE_EM}em; overflow-wrap: anywhere; min-width: 0;
}}
.{PANEL_CLASS} .widget-hbox > .widget-hslider {{flex: 1 1 auto; width: auto; min-width: 0;}}
.{COLUMN_CLASS} > .olexplore-run-table {{max-width: 100%;}}
</style>"""


def arrange(
    panel: widgets.DOMWidget,
    main: Sequence[widgets.Widget],
    message: widgets.HTML,
) -> widgets.HBox:
    """The explorer's root box: the style, ``panel`` on the left and the ``main`` widgets in a
    column beside it (below it where both do not fit).

    The panel gets a fixed width (:data:`PANEL_WIDTH`) that no content changes; ``message``
    (one of ``main``) gets a fixed height of :data:`MESSAGE_LINES` lines and scrolls. The column
    wants the figure's width beside the panel and takes what is left.

    >>> message, panel = widgets.HTML(), widgets.VBox()
    >>> root = arrange(panel, [widgets.Button(), message], message)
    >>> len(root.children), root.layout.flex_flow, panel.layout.width, panel.layout.flex
    (3, 'row wrap', '400px', '0 0 auto')
    >>> message.layout.height, message.layout.overflow
    ('4.5em', 'hidden auto')
    """
    panel.layout.width = panel.layout.min_width = panel.layout.max_width = f"{PANEL_WIDTH}px"
    panel.layout.flex = "0 0 auto"  # neither grows nor shrinks
    panel.add_class(PANEL_CLASS)
    message.layout.height = f"{MESSAGE_LINES * _LINE_EM:g}em"  # reserved, also when empty
    message.layout.overflow = "hidden auto"  # x: wrapped anyway; y: scrolls
    message.layout.flex = "0 0 auto"
    message.add_class(MESSAGE_CLASS)
    figure_px = round(FIGURE_INCHES * 100)
    column = widgets.VBox(
        list(main),
        # basis: the figure's width (and a little for the canvas's margins); min-width 0: a wide
        # row scrolls or wraps inside the column instead of pushing it past the page
        layout=widgets.Layout(flex=f"1 1 {figure_px + 8}px", min_width="0"),
    )
    column.add_class(COLUMN_CLASS)
    style = widgets.HTML(STYLE, layout=widgets.Layout(display="none"))  # applies all the same
    return widgets.HBox(
        [style, panel, column],
        layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
    )
