"""The run table fits the explorer's column: its grid's minimum width, gaps included, is at most
the narrowest column the explorer gets (720 px: JupyterLab at 900x1000, see ui/layout.py)."""

import re

from olexplore.ui.run_table import COLUMNS, RunTable

NARROWEST_COLUMN_PX = 720


def minimum_px(track: str) -> int:
    """The least width a grid track can shrink to: ``Npx``, or the minimum of ``minmax``
    (a bare ``fr`` track can shrink to 0)."""
    found = re.fullmatch(r"(\d+)px|minmax\((\d+)px, *[^)]+\)|\d*\.?\d+fr", track)
    assert found, f"unexpected grid track {track!r}"
    return int(found[1] or found[2] or 0)


def test_the_tables_minimum_width_fits_the_narrowest_column():
    table = RunTable(on_toggle=lambda entry: None, on_delete=lambda entry: None)
    layout = table.widget.layout
    tracks = re.findall(r"minmax\([^)]*\)|\S+", layout.grid_template_columns)
    assert len(tracks) == len(COLUMNS) == 9
    column_gap = int(layout.grid_gap.split()[-1].removesuffix("px"))
    widths = [minimum_px(track) for track in tracks]
    total = sum(widths) + column_gap * (len(tracks) - 1)
    assert total <= NARROWEST_COLUMN_PX, f"the table needs {total} px: {widths}"
    assert widths == [18, 90, 100, 60, 70, 70, 90, 50, 40] and total == 652
    table.close()
