"""``History``: what a run recorded, step by step, in preallocated, growable NumPy arrays.

Per-step series (loss, learning rate, global norms, per-variable norms, the 2-D position, wall
time) share one step axis and grow by doubling, so appending a chunk is a copy into free space.
Steps are contiguous from ``first_step``, so the step numbers are not stored. Evaluations that
happen every k steps (validation loss and accuracy) live in a second, sparse table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


class History:
    """Per-step metric arrays plus sparse evaluations.

    >>> history = History()
    >>> history.extend({"loss": np.array([3.0, 2.0]), "position": np.zeros((2, 2))})
    >>> history.extend({"loss": np.array([1.0]), "position": np.ones((1, 2))})
    >>> len(history), history["loss"].tolist(), history.steps.tolist()
    (3, [3.0, 2.0, 1.0], [0, 1, 2])
    >>> history.add_evaluation(2, {"val_loss": 0.5})
    >>> history.evaluations["step"].tolist(), history.evaluations["val_loss"].tolist()
    ([2], [0.5])
    """

    def __init__(self, first_step: int = 0, capacity: int = 1024) -> None:
        self.first_step = int(first_step)
        self._capacity = max(1, int(capacity))
        self._length = 0
        self._columns: dict[str, np.ndarray] = {}
        self._evaluations: dict[str, list[float]] = {"step": []}

    # ----------------------------------------------------------------- shape
    def __len__(self) -> int:
        return self._length

    @property
    def names(self) -> list[str]:
        """The per-step series recorded so far."""
        return list(self._columns)

    @property
    def steps(self) -> np.ndarray:
        """The step number of each entry (``first_step``, ``first_step + 1``, ...)."""
        return np.arange(self.first_step, self.first_step + self._length, dtype=np.int64)

    @property
    def nbytes(self) -> int:
        """Memory held by the per-step arrays (capacity included)."""
        return sum(column.nbytes for column in self._columns.values())

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __getitem__(self, name: str) -> np.ndarray:
        """The recorded values of one series (a read-only view, no copy)."""
        if name == "step":
            return self.steps
        if name not in self._columns:
            raise KeyError(f"{name!r}: recorded series are {self.names}")
        view = self._columns[name][: self._length]
        view.flags.writeable = False
        return view

    def last(self, name: str, default: float = float("nan")) -> Any:
        """The latest value of a series, or ``default`` when nothing is recorded."""
        if self._length == 0 or name not in self._columns:
            return default
        return self._columns[name][self._length - 1]

    # ----------------------------------------------------------------- writing
    def extend(self, chunk: Mapping[str, Any]) -> None:
        """Append a chunk ``{name: array of n values (or n x k)}``; all series move together.

        A series missing from the chunk gets NaN for those steps; a new series is back-filled
        with NaN.
        """
        arrays = {name: np.asarray(values) for name, values in chunk.items()}
        lengths = {len(values) for values in arrays.values()}
        if len(lengths) > 1:
            raise ValueError(
                f"chunk: series of different lengths {sorted(lengths)}; accepted: equal lengths."
            )
        count = lengths.pop() if lengths else 0
        if count == 0:
            return
        self._reserve(self._length + count)
        for name, values in arrays.items():
            if name not in self._columns:
                self._columns[name] = self._new_column(values)
            self._columns[name][self._length : self._length + count] = values
        for name, column in self._columns.items():
            if name not in arrays:
                column[self._length : self._length + count] = np.nan
        self._length += count

    def _new_column(self, values: np.ndarray) -> np.ndarray:
        dtype = np.float64 if values.dtype == np.float64 and values.ndim > 1 else np.float32
        column = np.empty((self._capacity, *values.shape[1:]), dtype=dtype)
        column[: self._length] = np.nan
        return column

    def _reserve(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = self._capacity
        while capacity < needed:
            capacity *= 2
        for name, column in self._columns.items():
            grown = np.empty((capacity, *column.shape[1:]), dtype=column.dtype)
            grown[: self._length] = column[: self._length]
            self._columns[name] = grown
        self._capacity = capacity

    def add_evaluation(self, step: int, values: Mapping[str, float]) -> None:
        """Record held-out metrics (e.g. ``val_loss``, ``val_accuracy``) measured at ``step``."""
        count = len(self._evaluations["step"])
        for name in values:
            self._evaluations.setdefault(name, [float("nan")] * count)
        self._evaluations["step"].append(int(step))
        for name, series in self._evaluations.items():
            if name != "step":
                series.append(float(values.get(name, float("nan"))))

    @property
    def evaluation_names(self) -> list[str]:
        """The held-out metrics recorded so far, in the order they first came.

        >>> history = History()
        >>> history.add_evaluation(0, {"val_loss": 0.9, "val_accuracy": 0.1})
        >>> history.evaluation_names
        ['val_loss', 'val_accuracy']
        """
        return [name for name in self._evaluations if name != "step"]

    @property
    def evaluations(self) -> dict[str, np.ndarray]:
        """The sparse table: ``{"step": [...], "val_loss": [...], ...}`` as arrays."""
        return {name: np.asarray(series) for name, series in self._evaluations.items()}

    # ----------------------------------------------------------------- export
    def to_dict(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Copies of the series (all, or ``names``), with ``step`` first."""
        chosen = self.names if names is None else list(names)
        return {"step": self.steps, **{name: np.array(self[name]) for name in chosen}}

    def truncate(self, length: int) -> None:
        """Keep only the first ``length`` entries (e.g. to drop steps after a divergence).

        Evaluations measured after the last kept step are dropped too.
        """
        self._length = max(0, min(int(length), self._length))
        last = self.first_step + self._length
        kept = [i for i, step in enumerate(self._evaluations["step"]) if step <= last]
        self._evaluations = {
            name: [series[i] for i in kept] for name, series in self._evaluations.items()
        }

    def __repr__(self) -> str:
        return f"History({self._length} steps from {self.first_step}, series {self.names})"


# --------------------------------------------------------------------- JSON codec
#: Strings that stand for the floats JSON cannot hold.
NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
#: dtypes a History's series are stored in (and read back as).
SERIES_DTYPES = ("float16", "float32", "float64")


def encode_floats(values: Any) -> list:
    """Nested lists of floats that JSON can hold and that decode to the same array.

    float32 values become their shortest decimal form; non-finite values become strings.

    >>> encode_floats(np.array([0.1, np.nan, -np.inf], np.float32))
    [0.1, 'NaN', '-Infinity']
    """
    array = np.asarray(values)
    flat = array.ravel()
    with np.errstate(invalid="ignore", over="ignore"):  # signalling NaNs, float32 overflow
        exact = flat.astype(np.float64)
        if flat.dtype in (np.float32, np.float16):
            short = flat.astype(str).astype(np.float64)
            exact = np.where(short.astype(flat.dtype) == flat, short, exact)
    encoded = exact.astype(object)
    encoded[np.isnan(exact)] = "NaN"
    encoded[exact == np.inf] = "Infinity"
    encoded[exact == -np.inf] = "-Infinity"
    return encoded.reshape(array.shape).tolist()


def decode_floats(values: Any, dtype: Any = np.float64, *, field: str = "values") -> np.ndarray:
    """The array that :func:`encode_floats` encoded; anything else is a ``ValueError`` naming
    ``field``.

    >>> decode_floats([0.5, "NaN", "Infinity"], np.float32)
    array([0.5, nan, inf], dtype=float32)
    >>> decode_floats([[1.0], [2.0, 3.0]], field="position")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: position: rows of different lengths; accepted: ...
    """
    if not isinstance(values, list):
        raise ValueError(f"{field}: got {_describe(values)}; accepted: a list of numbers.")
    try:
        objects = np.array(values, dtype=object)
    except ValueError:
        objects = None
    if objects is None or any(isinstance(v, list) for v in objects.ravel()):
        raise ValueError(
            f"{field}: rows of different lengths; accepted: a list of numbers, or of "
            "equal-length lists of numbers."
        )
    flat = [_decode_one(value, field) for value in objects.ravel()]
    with np.errstate(over="ignore"):  # a float64 beyond float32's range is inf, as TF stores it
        return np.array(flat, dtype=np.float64).astype(dtype).reshape(objects.shape)


def _decode_one(value: Any, field: str) -> float:
    if isinstance(value, str):
        if value not in NONFINITE:
            raise ValueError(
                f"{field}: got {value[:40]!r}; accepted: numbers or one of {list(NONFINITE)}."
            )
        return NONFINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{field}: got {_describe(value)}; accepted: numbers or one of {list(NONFINITE)}."
        )
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64
        return math.copysign(math.inf, value)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} ({type(value).__name__})"


def history_to_dict(history: History) -> dict[str, Any]:
    """The History as JSON-ready data: every series with its dtype and shape, and evaluations.

    >>> history = History(first_step=5)
    >>> history.extend({"loss": np.array([1.5, np.nan], np.float32)})
    >>> history_to_dict(history)["series"]
    {'loss': {'dtype': 'float32', 'shape': [2], 'values': [1.5, 'NaN']}}
    """
    series = {}
    for name in history.names:
        values = np.asarray(history[name])
        series[name] = {
            "dtype": values.dtype.name,
            "shape": list(values.shape),
            "values": encode_floats(values),
        }
    evaluations = history.evaluations
    return {
        "first_step": history.first_step,
        "length": len(history),
        "series": series,
        "evaluations": {
            "step": [int(step) for step in evaluations["step"]],
            **{name: encode_floats(v) for name, v in evaluations.items() if name != "step"},
        },
    }


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: got {_describe(value)}; accepted: a JSON object.")
    return value


def _count(value: Any, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{field}: got {_describe(value)}; accepted: an integer >= {minimum}.")
    return value


def _is_shape(shape: Any) -> bool:
    return isinstance(shape, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape
    )


def history_from_dict(data: Any, *, field: str = "history") -> History:
    """A History from :func:`history_to_dict` output (dtypes kept).

    Every part is checked against the data actually present, so a damaged or hostile document
    is a ``ValueError`` naming its field (``history.series.loss.dtype``, ...), never a huge
    allocation or an ``AttributeError``.

    >>> history_from_dict({"length": 10**12, "series": {"loss": {"values": [1.0]}}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: history.length: got 1000000000000 (int) but the series hold 1 entries; ...
    """
    data = _mapping(data, field)
    first_step = _count(data.get("first_step", 0), f"{field}.first_step")
    series = _mapping(data.get("series", {}), f"{field}.series")
    chunk: dict[str, np.ndarray] = {}
    for name, column in series.items():
        where = f"{field}.series.{name}"
        column = _mapping(column, where)
        dtype_name = column.get("dtype", "float32")
        if dtype_name not in SERIES_DTYPES:
            raise ValueError(
                f"{where}.dtype: got {_describe(dtype_name)}; accepted: one of "
                f"{list(SERIES_DTYPES)}."
            )
        if "values" not in column:
            raise ValueError(f"{where}: missing 'values'; accepted: dtype, shape and values.")
        values = decode_floats(column["values"], np.dtype(dtype_name), field=f"{where}.values")
        shape = column.get("shape", list(values.shape))
        if _is_shape(shape) and values.size == 0 and math.prod(shape) == 0:
            values = values.reshape(shape)  # an emptied series keeps its columns
        if not _is_shape(shape) or tuple(shape) != values.shape:
            raise ValueError(
                f"{where}.shape: got {_describe(shape)}; accepted: the shape of its values "
                f"{list(values.shape)}."
            )
        if values.ndim == 0:
            raise ValueError(f"{where}.values: got a single number; accepted: a list.")
        chunk[name] = values
    lengths = {len(values) for values in chunk.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"{field}.series: series of different lengths {sorted(lengths)}; accepted: one "
            "length for all."
        )
    present = lengths.pop() if lengths else 0
    length = _count(data.get("length", present), f"{field}.length")
    if length != present:
        raise ValueError(
            f"{field}.length: got {_describe(length)} but the series hold {present} entries; "
            "accepted: their length."
        )
    history = History(first_step=first_step, capacity=max(1, present))
    history.extend(chunk)
    evaluations = dict(_mapping(data.get("evaluations", {}), f"{field}.evaluations"))
    steps = evaluations.pop("step", [])
    if not isinstance(steps, list):
        raise ValueError(
            f"{field}.evaluations.step: got {_describe(steps)}; accepted: a list of steps."
        )
    steps = [_count(step, f"{field}.evaluations.step[{i}]") for i, step in enumerate(steps)]
    columns = {}
    for name, values in evaluations.items():
        where = f"{field}.evaluations.{name}"
        columns[name] = decode_floats(values, field=where)
        if columns[name].shape != (len(steps),):
            raise ValueError(
                f"{where}: got {columns[name].size} values for {len(steps)} steps; accepted: "
                "one number per step."
            )
    for row, step in enumerate(steps):
        history.add_evaluation(step, {name: column[row] for name, column in columns.items()})
    return history


def copy_history(history: History) -> History:
    """An independent copy of ``history`` (series, dtypes and evaluations).

    >>> history = History()
    >>> history.extend({"loss": np.array([1.0, 2.0])})
    >>> copy = copy_history(history)
    >>> history.extend({"loss": np.array([3.0])})
    >>> len(copy), len(history)
    (2, 3)
    """
    copy = History(first_step=history.first_step, capacity=max(1, len(history)))
    copy.extend({name: np.array(history[name]) for name in history.names})
    evaluations = history.evaluations
    names = [name for name in evaluations if name != "step"]
    for row, step in enumerate(evaluations["step"]):
        copy.add_evaluation(int(step), {name: evaluations[name][row] for name in names})
    return copy
