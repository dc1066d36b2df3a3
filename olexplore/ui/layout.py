"""How the explorer's widgets are arranged on the page, and the page style they need.

The explorer builds its widgets in groups (the control panel, the player row, the status line,
the message, the view row, the figure, the run table, the tools) and :func:`arrange` places
them: the panel on the left at a fixed width, everything else in a column beside it. Messages
sit in a scrollable area of fixed height, so a long message never squeezes the controls.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

#: The page style of the explorer: invalid fields get a red border; messages scroll in place.
STYLE = (
    "<style>"
    ".olexplore-invalid input, .olexplore-invalid select {border-color: #b00020 !important;"
    " box-shadow: 0 0 0 1px #b00020;}"
    ".olexplore-message {word-break: break-word;}"
    "</style>"
)
#: The live figure's width in inches (at 100 dpi): what fits beside the panel in JupyterLab.
FIGURE_INCHES = 9.0


def arrange(
    panel: widgets.DOMWidget,
    main: Sequence[widgets.Widget],
    message: widgets.HTML,
) -> widgets.HBox:
    """The explorer's root box: ``panel`` on the left, the ``main`` widgets in a column.

    ``message`` (one of ``main``) gets its scrollable area.

    >>> message = widgets.HTML()
    >>> root = arrange(widgets.VBox(), [widgets.Button(), message], message)
    >>> len(root.children), message.layout.overflow
    (3, 'auto')
    """
    message.layout.max_height, message.layout.overflow = "6em", "auto"
    message.add_class("olexplore-message")
    return widgets.HBox([widgets.HTML(STYLE), panel, widgets.VBox(list(main))])
