"""Closing widgets for good: a widget, its children, and the Layout and Style widgets it owns.

``Widget.close()`` alone leaves a widget's ``layout`` and ``style`` (widgets themselves) open
in the kernel, so a closed panel would still hold hundreds of widget models.
"""

from __future__ import annotations

from collections.abc import Iterable

import ipywidgets


def close_tree(widgets: Iterable[ipywidgets.Widget]) -> None:
    """Close each widget, everything below it, and their layouts and styles.

    >>> box = ipywidgets.VBox([ipywidgets.Button(description="a")])
    >>> button = box.children[0]
    >>> close_tree([box])
    >>> box.comm is None and button.comm is None and button.layout.comm is None
    True
    """
    seen: set[int] = set()
    pending = list(widgets)
    while pending:
        widget = pending.pop()
        if id(widget) in seen or not isinstance(widget, ipywidgets.Widget):
            continue
        seen.add(id(widget))
        pending.extend(getattr(widget, "children", ()))
        for part in ("layout", "style"):
            owned = getattr(widget, part, None)
            if isinstance(owned, ipywidgets.Widget):
                pending.append(owned)
        widget.close()
