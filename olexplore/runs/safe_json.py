"""JSON parsing for text a user or a file supplies: every failure is one ``ValueError``.

``json.loads`` lets three kinds of failure through as something other than a clear error:
deeply nested documents raise ``RecursionError``, ``NaN``/``Infinity`` are accepted although they
are not JSON, and a decode error does not say which file or field it came from. :func:`loads`
turns each into a ``ValueError`` that names ``source``; :func:`read_text` does the same for
files that cannot be read as UTF-8 text.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

#: How deeply arrays and objects may nest. Run records nest about six levels deep (the
#: history's 2-D series included); Python's own parser gives up near 1,000.
MAX_DEPTH = 64
#: The largest document read (bytes): a run record of a million steps is about 100 MB.
MAX_BYTES = 512 * 1024 * 1024


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside strings (vectorised: no recursion, no loop
    over characters in Python).

    >>> _depth('{"a": [[1], "]]]["]}')
    3
    """
    return _bracket_depth(_STRING.sub('""', text))


def nesting_depth(text: str) -> int:
    """How deeply ``[``/``{`` nest in ``text``, brackets inside JSON strings not counted.

    >>> nesting_depth('[[1, "[[["], {"a": [2]}]')
    3
    """
    return _depth(text)


def _bracket_depth(text: str) -> int:
    codes = np.frombuffer(text.encode("utf-8", "replace"), np.uint8)
    steps = np.zeros(codes.shape, np.int8)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def loads(text: str, *, source: str, allow_nan: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text``; any failure is a ``ValueError`` that starts with ``source``.

    ``allow_nan`` accepts the non-standard constants ``NaN``, ``Infinity`` and ``-Infinity``;
    documents nesting deeper than ``max_depth`` are refused before they are parsed.

    >>> loads('{"a": [1, 2.5, "x"]}', source="settings")
    {'a': [1, 2.5, 'x']}
    >>> loads('[NaN]', source="run.json")
    Traceback (most recent call last):
    ValueError: run.json: not valid JSON (NaN is not JSON).
    >>> loads("[" * 100_000, source="deep.json")
    Traceback (most recent call last):
    ValueError: deep.json: not valid JSON (nested 100000 deep; accepted: at most 64).
    >>> loads('{"a": 1', source="cut.json")
    Traceback (most recent call last):
    ValueError: cut.json: not valid JSON (Expecting ',' delimiter: line 1 column 8 (char 7)).
    """
    if not isinstance(text, str):
        raise ValueError(f"{source}: got {type(text).__name__}; accepted: JSON text (a str).")
    depth = _bracket_depth(text)  # fast; brackets inside strings only make it deeper
    if depth > max_depth:
        depth = _depth(text)
    if depth > max_depth:
        reason = f"nested {depth} deep; accepted: at most {max_depth}"
        raise ValueError(f"{source}: not valid JSON ({reason}).")
    options: dict[str, Any] = {} if allow_nan else {"parse_constant": _reject_constant}
    try:
        return json.loads(text, **options)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ValueError(f"{source}: not valid JSON (nested too deeply).") from None
    except ValueError as error:  # JSONDecodeError and the constants refused above
        raise ValueError(f"{source}: not valid JSON ({error}).") from None


def read_text(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``; a binary or oversized file is a ``ValueError`` naming it.

    A file that is missing or unreadable raises the ``OSError`` (``FileNotFoundError``, ...).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "blob.json"
    >>> _ = path.write_bytes(b"PK\\x03\\x04\\xff\\xfe")
    >>> read_text(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: '...blob.json': not UTF-8 text (byte 0xff at position 4); accepted: a JSON file.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(
            f"{str(path)!r}: {size:,} bytes; accepted: at most {max_bytes:,} bytes of JSON."
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        raise ValueError(
            f"{str(path)!r}: not UTF-8 text (byte {byte:#04x} at position {error.start}); "
            "accepted: a JSON file."
        ) from None


def load(path: str | os.PathLike, *, allow_nan: bool = False) -> Any:
    """Read and parse the JSON file ``path``; bad content is a ``ValueError`` naming the file.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = path.write_text('{"steps": 5}')
    >>> load(path)
    {'steps': 5}
    """
    return loads(read_text(path), source=repr(str(path)), allow_nan=allow_nan)
