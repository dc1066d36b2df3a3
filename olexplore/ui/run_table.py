"""The table of runs side by side: what differs, how far each got, and show/hide/delete."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.typing import LineStyleType

from olexplore.runs.run import Run
from olexplore.ui.closing import close_tree

COLUMNS = ("", "run", "differs", "step", "loss", "best", "status", "show", "")
#: The grid's columns: at least 652 px with the gaps, so the table fits the explorer's column
#: (720-850 px wide, :mod:`olexplore.ui.layout`) without scrolling "show" and delete out of view.
COLUMN_WIDTHS = (
    "18px minmax(90px, 180px) minmax(100px, 1fr) 60px 70px 70px minmax(90px, 160px) 50px 40px"
)
#: The gaps between the rows and between the columns of the grid.
GRID_GAP = "2px 8px"


@dataclass
class Entry:
    """One run in the comparison, with how it is drawn; ``name`` and ``differs`` are the words
    of its "run" and "differs" cells (the explorer sets them from the Session)."""

    key: str
    run: Run
    color: str
    linestyle: LineStyleType = "-"
    visible: bool = True
    current: bool = False
    name: str = ""
    differs: str = ""
    cells: dict[str, widgets.HTML] = field(default_factory=dict)


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


class RunTable:
    """A grid of runs; ``on_toggle(entry)`` and ``on_delete(entry)`` report the user's clicks."""

    def __init__(
        self,
        on_toggle: Callable[[Entry], None],
        on_delete: Callable[[Entry], None],
    ) -> None:
        self.on_toggle = on_toggle
        self.on_delete = on_delete
        self.entries: list[Entry] = []
        self.widget = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=COLUMN_WIDTHS,
                grid_gap=GRID_GAP,
                align_items="center",
            )
        )
        self.widget.add_class("olexplore-run-table")
        self._rebuild()

    def set_entries(self, entries: Sequence[Entry]) -> None:
        """Show exactly these entries (rebuilds the rows only when the set of runs changed)."""
        if [e.key for e in entries] != [e.key for e in self.entries]:
            self.entries = list(entries)
            self._rebuild()
        else:
            self.entries = list(entries)
        self.refresh()

    def _rebuild(self) -> None:
        old = list(self.widget.children)
        header = [widgets.HTML(f"<b>{name}</b>") for name in COLUMNS]
        children: list[widgets.Widget] = list(header)
        for entry in self.entries:
            children.extend(self._row(entry))
        self.widget.children = children
        close_tree(old)  # the replaced rows: closed, so no widget outlives its row

    def close(self) -> None:
        """Close every widget of the table."""
        close_tree([self.widget])

    def _row(self, entry: Entry) -> list[widgets.Widget]:
        swatch = widgets.HTML(
            f'<span style="display:inline-block;width:14px;height:4px;'
            f'background:{entry.color}"></span>'
        )
        show = widgets.Checkbox(
            value=entry.visible, indent=False, tooltip="Show or hide this run in the plots"
        )
        show.layout.width = "40px"
        delete = widgets.Button(
            icon="trash", tooltip="Delete this run", layout=widgets.Layout(width="36px")
        )

        def toggled(change: Mapping[str, Any]) -> None:
            entry.visible = bool(change["new"])
            self.on_toggle(entry)

        show.observe(toggled, names="value")
        delete.on_click(lambda _: self.on_delete(entry))
        entry.cells = {
            name: widgets.HTML() for name in ("run", "differs", "step", "loss", "best", "status")
        }
        cells = entry.cells
        return [
            swatch,
            cells["run"],
            cells["differs"],
            cells["step"],
            cells["loss"],
            cells["best"],
            cells["status"],
            show,
            delete,
        ]

    def refresh(self) -> None:
        """Update the numbers of every row in place."""
        for entry in self.entries:
            run, cells = entry.run, entry.cells
            loss = run.history["loss"] if "loss" in run.history else np.empty(0)
            finite = loss[np.isfinite(loss)]
            name = html.escape(entry.name) + (" <i>(current)</i>" if entry.current else "")
            cells["run"].value = name
            cells["differs"].value = html.escape(entry.differs)
            cells["step"].value = str(run.step)
            cells["loss"].value = _number(float(loss[-1]) if len(loss) else float("nan"))
            cells["best"].value = _number(float(finite.min()) if len(finite) else float("nan"))
            status = html.escape(run.status)
            if run.reason:
                # Font Awesome (which Lab and Voilà ship), not a character fonts may lack
                status = (
                    f'<span title="{html.escape(run.reason)}">{status} '
                    '<i class="fa fa-info-circle"></i></span>'
                )
            if run.status == "diverged":
                status = f'<span style="color:#D55E00">{status}</span>'
            cells["status"].value = status
