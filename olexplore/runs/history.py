"""``History``: what a run recorded, step by step, in preallocated, growable NumPy arrays.

Per-step series (loss, learning rate, global norms, per-variable norms, the 2-D position, wall
time) share one step axis and grow by doubling, so appending a chunk is a copy into free space.
Steps are contiguous from ``first_step``, so the step numbers are not stored. Evaluations that
happen every k steps (validation loss and accuracy) live in a second, sparse table.
"""

from __future__ import annotations

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
