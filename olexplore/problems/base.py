"""What a problem is: something that builds fresh variables, a loss and (maybe) data.

A :class:`Problem` describes what to train; :meth:`Problem.build` makes a :class:`Setup` from a
seed and a batch size: new variables, a loss callable for ``optimize_loss`` (TF 2 mode), an
optional endless ``tf.data`` stream of batches, an optional evaluation on held-out data, an
optional function of the parameters to record at every step and, for 2-D problems, the
:class:`Surface` to draw. Problems know nothing about runs or widgets.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.variables import variable_name


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface for contour plots: ``function(x, y)`` on NumPy arrays.

    >>> bowl = Surface(lambda x, y: x**2 + y**2, (-1, 1), (-1, 1), minima=((0.0, 0.0),),
    ...                start=(0.5, 0.5))
    >>> x, y, z = bowl.grid(3)
    >>> z.tolist()
    [[2.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 2.0]]
    """

    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    log_scale: bool = False  # colour levels on a log scale (Rosenbrock, Beale)

    def grid(self, resolution: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` meshes over the ranges, for ``contour``."""
        xs = np.linspace(*self.x_range, resolution)
        ys = np.linspace(*self.y_range, resolution)
        x, y = np.meshgrid(xs, ys)
        return x, y, np.asarray(self.function(x, y), dtype=np.float64)


@dataclass
class Setup:
    """A built problem, ready for ``optimize_loss(setup.loss, ...)``.

    ``loss`` takes the elements of ``data`` (a tuple is spread as arguments) or nothing when
    ``data`` is ``None``. ``evaluate()`` returns held-out metrics such as ``val_loss`` and
    ``val_accuracy``; ``record()`` returns tensors to keep at every step (for 2-D problems
    ``{"position": [x, y]}``).
    """

    variables: list[tf.Variable]
    loss: Callable[..., Any]
    data: tf.data.Dataset | None = None
    evaluate: Callable[[], dict[str, float]] | None = None
    record: Callable[[], dict[str, Any]] | None = None
    surface: Surface | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def variable_names(self) -> list[str]:
        """Names of the variables (without ``:0``), stable across builds of the same problem."""
        return [variable_name(v) for v in self.variables]


class Problem(abc.ABC):
    """Something to train. Subclasses set the class attributes and implement :meth:`build`."""

    #: Set by each subclass; :class:`~olexplore.problems.custom.CustomProblem` sets it per
    #: instance (the registry reads it from the class).
    name: str
    title: ClassVar[str]
    description: ClassVar[str]
    kind: ClassVar[str]  # "surface", "toy", "real" or "custom"
    #: Settings that show the problem well, used by presets and as CLI defaults. Keys are
    #: Config field names, dotted for nested ones (``"clipping.norm"``); a suggested clip
    #: norm comes with ``"clipping.kind": "global_norm"``.
    suggested: ClassVar[dict[str, Any]] = {}

    @abc.abstractmethod
    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Create fresh variables (initialised from ``seed``), the loss and the data.

        Everything random is drawn from ``seed`` through explicit generators (a NumPy
        ``Generator``, seeded Keras initialisers, stateless TensorFlow ops), never from or
        into global state (``random``, ``np.random``, TensorFlow's global seed): runs
        reproduce bit for bit and leave the user's generators alone.
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
