"""What the notebook page gives the explorer and takes from it.

The address's query (Voilà hands the kernel ``QUERY_STRING``: ``?config=`` opens an experiment),
files offered to the browser as downloads, and which cell is running (so running the explorer's
cell again closes the explorer it made before).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import urllib.parse
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from olexplore.runs.config import Config


def download_links(paths: Sequence[Path]) -> str:
    """HTML links that make the browser save each file (data URLs: no server route needed).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = path.write_text("step,loss")
    >>> download_links([path])
    '<a download="runs.csv" href="data:text/csv;base64,c3RlcCxsb3Nz">&#11015; runs.csv</a>'
    """
    links = []
    for path in paths:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        name = html.escape(path.name)
        links.append(f'<a download="{name}" href="data:{kind};base64,{data}">&#11015; {name}</a>')
    return " · ".join(links)


def config_from_query(query: str) -> tuple[Config | None, str]:
    """The Config of a page address's ``?config=<JSON>`` (Voilà gives the kernel the query as
    ``QUERY_STRING``), and the message when it is not a valid Config. Parsed, never evaluated.

    >>> config_from_query("config=%7B%22learning_rate%22%3A%200.5%7D")[0].learning_rate
    0.5
    >>> config_from_query("config=%7Bbad")[1]  # doctest: +ELLIPSIS
    "the address's config: config: not valid JSON (Expecting property name enclosed in ..."
    """
    values = urllib.parse.parse_qs(query).get("config")
    if not values:
        return None, ""
    try:
        return Config.from_json(values[-1]), ""
    except ValueError as error:
        return None, f"the address's config: {error}"


class Closable(Protocol):
    """What a cell's explorer offers to be replaced: ``close()`` stops and releases it."""

    def close(self) -> None: ...


#: The explorer each notebook cell made last: running the cell again closes the old one.
_BY_CELL: dict[str, weakref.ref[Closable]] = {}


def _cell_id() -> str | None:
    """The id of the notebook cell being executed (JupyterLab and Voilà send it), if any."""
    try:
        from IPython import get_ipython  # noqa: PLC0415

        shell = get_ipython()
        parent = shell.get_parent() if shell is not None else None
    except (ImportError, AttributeError):
        return None
    metadata = (parent or {}).get("metadata") or {}
    cell = metadata.get("cellId")
    return cell if isinstance(cell, str) else None


def replace_explorer_of_this_cell(explorer: Closable) -> None:
    """Close the explorer the running cell made before (its training stops), then remember
    ``explorer`` as this cell's."""
    cell = _cell_id()
    if cell is None:
        return
    previous = _BY_CELL.get(cell)
    old = previous() if previous is not None else None
    if old is not None and old is not explorer:
        old.close()  # its training stops; the kernel keeps no second explorer running
    _BY_CELL[cell] = weakref.ref(explorer)
