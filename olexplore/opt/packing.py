"""How ``ExternalOptimizerInterface`` packs variables into one flat vector, and their bounds.

TF 1's packing (docs/contrib-spec.md §2.1): the variables in ``var_list`` order, each flattened in
C order, in their common dtype; bounds broadcast to each variable's shape, one ``(low, high)``
per element.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.variables import variable_name

__all__ = ["VariablePacking"]


class VariablePacking:
    """Where each variable lives in the flat vector: TF 1's packing, in order and in C order.

    The packed dtype is the variables' common dtype (``float32`` for ``float32`` variables).

    >>> a, b = tf.Variable(1.0), tf.Variable([[2.0, 3.0], [4.0, 5.0]])
    >>> packing = VariablePacking([a, b])
    >>> packing.pack([a, b]).numpy()
    array([1., 2., 3., 4., 5.], dtype=float32)
    >>> [part.shape for part in packing.split(np.arange(5.0))]
    [(), (2, 2)]
    >>> packing.bounds({b.ref(): (0, [10, None])})
    [(-inf, inf), (0.0, 10.0), (0.0, None), (0.0, 10.0), (0.0, None)]
    """

    def __init__(self, variables: Sequence[tf.Variable]) -> None:
        if not variables:
            raise ValueError("var_list: there are no variables to optimize; pass var_list=[...]")
        for variable in variables:
            if not variable.shape.is_fully_defined():
                raise ValueError(
                    f"var_list: {variable_name(variable)!r} has shape {variable.shape}; "
                    "packing into one vector needs fully defined shapes"
                )
        self.variables = list(variables)
        # Fully defined (checked above), so no dimension is None.
        self.shapes = [
            tuple(int(d) for d in v.shape.as_list() if d is not None) for v in self.variables
        ]
        self.sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        ends = np.cumsum(self.sizes).tolist()
        self.slices = [slice(end - size, end) for end, size in zip(ends, self.sizes, strict=True)]
        self.size = ends[-1]
        self.numpy_dtype = np.result_type(*[v.dtype.as_numpy_dtype for v in self.variables])
        self.dtype = tf.as_dtype(self.numpy_dtype)

    def pack(self, tensors: Sequence[Any]) -> tf.Tensor:
        """Flatten ``tensors`` (one per variable) and concatenate them into one vector."""
        flat = [tf.reshape(tf.cast(tf.convert_to_tensor(t), self.dtype), [-1]) for t in tensors]
        return flat[0] if len(flat) == 1 else tf.concat(flat, axis=0)

    def assign(self, flat: tf.Tensor) -> list[Any]:
        """Assign the slices of the packed vector ``flat`` to the variables."""
        parts = tf.split(flat, self.sizes) if len(self.sizes) > 1 else [flat]
        return [
            variable.assign(tf.cast(tf.reshape(part, shape), variable.dtype), read_value=False)
            for variable, part, shape in zip(self.variables, parts, self.shapes, strict=True)
        ]

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Cut a packed NumPy vector into one array per variable, in the variables' shapes."""
        pairs = zip(self.slices, self.shapes, strict=True)
        return [flat[part].reshape(shape) for part, shape in pairs]

    def bounds(self, var_to_bounds: Mapping[Any, Any] | None) -> list[tuple] | None:
        """TF 1's packed bounds: one ``(low, high)`` per element, ``(-inf, inf)`` by default.

        ``var_to_bounds`` is keyed by ``variable.ref()`` here. Each side is broadcast to the
        variable's shape (``np.broadcast_to``); ``None`` means unbounded (SciPy's convention).
        """
        if var_to_bounds is None:
            return None
        lows: list[float | None] = []
        highs: list[float | None] = []
        for variable, shape in zip(self.variables, self.shapes, strict=True):
            pair = var_to_bounds.get(variable.ref(), (-np.inf, np.inf))
            where = f"var_to_bounds[{variable_name(variable)!r}]"
            try:
                low, high = pair
            except (TypeError, ValueError):
                raise ValueError(f"{where}: expected a (low, high) pair, got {pair!r}") from None
            start = len(lows)
            try:
                for side, packed in ((low, lows), (high, highs)):
                    flat = np.broadcast_to(np.asarray(side), shape).flat
                    packed.extend(None if bound is None else float(bound) for bound in flat)
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"{where}: expected numbers or None broadcastable to the variable's shape "
                    f"{shape}, got {pair!r} ({error})"
                ) from error
            _check_bound_order(where, shape, lows[start:], highs[start:])
        return list(zip(lows, highs, strict=True))


def _check_bound_order(
    where: str, shape: tuple[int, ...], lows: list[float | None], highs: list[float | None]
) -> None:
    """No NaN bound, and ``low <= high`` for every element (``None`` is unbounded)."""
    for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
        element = np.unravel_index(index, shape) if shape else ()
        at = f"element {tuple(int(i) for i in element)}" if shape else "the value"
        if (low is not None and np.isnan(low)) or (high is not None and np.isnan(high)):
            raise ValueError(
                f"{where}: a bound of {at} is NaN; accepted: numbers, None or +-np.inf (unbounded)"
            )
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"{where}: the lower bound {low} of {at} is above the upper bound {high}; "
                "accepted: low <= high"
            )
