"""2-D test functions with known minima: the parameters are two scalar variables ``x`` and ``y``.

Each function is written once with operators that work on NumPy arrays and TF tensors alike
(``math`` is ``numpy`` or ``tf.math``), so the contour drawn and the loss trained are the same.
"""

from __future__ import annotations

import math as _math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.problems.base import Problem, Setup, Surface
from olexplore.problems.params import number, point


class SurfaceProblem(Problem):
    """Base of the 2-D problems; subclasses define :meth:`formula` and the class attributes."""

    kind = "surface"
    x_range: ClassVar[tuple[float, float]]
    y_range: ClassVar[tuple[float, float]]
    minima: ClassVar[tuple[tuple[float, float], ...]]
    default_start: ClassVar[tuple[float, float]]
    log_scale: ClassVar[bool] = False

    def __init__(self, start: Any = None) -> None:
        self.start = self.default_start if start is None else point(start, "start")

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        """The function of ``x`` and ``y``; ``math`` provides ``cos`` (NumPy or ``tf.math``)."""
        raise NotImplementedError

    def numpy_function(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The function on NumPy arrays (for contours and for checking the TF loss)."""
        return lambda x, y: self.formula(np.asarray(x), np.asarray(y), np)

    def surface(self) -> Surface:
        """The contour description of this problem."""
        return Surface(
            self.numpy_function(),
            self.x_range,
            self.y_range,
            self.minima,
            self.start,
            self.log_scale,
        )

    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Two scalar variables at ``start``; the loss takes no arguments (no data)."""
        # typeshed's tf.Variable takes only Tensors as initial_value; TF converts numbers too.
        x = tf.Variable(self.start[0], dtype=tf.float32, name="x")  # pyright: ignore[reportArgumentType]
        y = tf.Variable(self.start[1], dtype=tf.float32, name="y")  # pyright: ignore[reportArgumentType]
        return Setup(
            variables=[x, y],
            loss=lambda: self.formula(x, y, tf.math),
            record=lambda: {"position": tf.stack([x, y])},
            surface=self.surface(),
        )


class Quadratic(SurfaceProblem):
    """``(x^2 + c y^2) / 2``: a bowl whose condition number ``c`` sets how elongated it is.

    >>> Quadratic(condition_number=10).numpy_function()(1.0, 1.0)
    np.float64(5.5)
    """

    name = "quadratic"
    title = "Quadratic bowl"
    description = "Convex bowl; the condition number sets how narrow the valley is."
    x_range = (-2.0, 2.0)
    y_range = (-2.0, 2.0)
    minima = ((0.0, 0.0),)
    default_start = (-1.8, 1.2)
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "SGD", "learning_rate": 0.1, "steps": 100}

    def __init__(self, condition_number: float = 10.0, start: Any = None) -> None:
        self.condition_number = number(condition_number, "condition_number", minimum=1.0)
        super().__init__(start)

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        return 0.5 * (x * x + self.condition_number * y * y)


class Rosenbrock(SurfaceProblem):
    """``(1 - x)^2 + 100 (y - x^2)^2``: a curved, flat-bottomed valley; minimum at (1, 1).

    >>> Rosenbrock().numpy_function()(1.0, 1.0)
    np.float64(0.0)
    """

    name = "rosenbrock"
    title = "Rosenbrock"
    description = "Banana-shaped valley: easy to reach, slow to follow to the minimum at (1, 1)."
    x_range = (-2.0, 2.0)
    y_range = (-1.0, 3.0)
    minima = ((1.0, 1.0),)
    default_start = (-1.5, 2.0)
    log_scale = True
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "Adam", "learning_rate": 0.05, "steps": 500}

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


class Beale(SurfaceProblem):
    """Beale's function: sharp ridges and flat plateaus; minimum at (3, 0.5).

    >>> Beale().numpy_function()(3.0, 0.5)
    np.float64(0.0)
    """

    name = "beale"
    title = "Beale"
    description = "Flat plateaus and steep walls; the minimum sits at (3, 0.5)."
    x_range = (-4.5, 4.5)
    y_range = (-4.5, 4.5)
    minima = ((3.0, 0.5),)
    default_start = (1.0, 1.4)
    log_scale = True
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "Adam", "learning_rate": 0.05, "steps": 500}

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        return (
            (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2
        )


class Himmelblau(SurfaceProblem):
    """Himmelblau's function: four minima of value 0; which one you reach depends on the path.

    >>> Himmelblau().numpy_function()(3.0, 2.0)
    np.float64(0.0)
    """

    name = "himmelblau"
    title = "Himmelblau"
    description = "Four equal minima: the optimizer's path decides which one it finds."
    x_range = (-5.0, 5.0)
    y_range = (-5.0, 5.0)
    minima = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
    default_start = (0.0, 0.0)
    log_scale = True
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "SGD", "learning_rate": 0.01, "steps": 300}

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


class Rastrigin(SurfaceProblem):
    """Rastrigin's function: a bowl covered in local minima; global minimum at (0, 0).

    >>> Rastrigin().numpy_function()(0.0, 0.0)
    np.float64(0.0)
    """

    name = "rastrigin"
    title = "Rastrigin"
    description = "Many local minima on a bowl: gradient noise or momentum can hop between them."
    x_range = (-5.12, 5.12)
    y_range = (-5.12, 5.12)
    minima = ((0.0, 0.0),)
    default_start = (-2.3, 2.1)
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "SGD", "learning_rate": 0.005, "steps": 300}

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        two_pi = 2.0 * _math.pi
        return 20.0 + x * x - 10.0 * math.cos(two_pi * x) + y * y - 10.0 * math.cos(two_pi * y)


class Saddle(SurfaceProblem):
    """``x^2 + y^4 / 4 - y^2``: a saddle at the origin between minima at (0, +-sqrt(2)).

    Started on the ridge (``y = 0``) plain gradient descent never leaves it: the gradient along
    ``y`` is exactly zero there. Gradient noise breaks the symmetry.

    >>> round(float(Saddle().numpy_function()(0.0, 2 ** 0.5)), 6)
    -1.0
    """

    name = "saddle"
    title = "Saddle"
    description = "A saddle point between two minima: noise escapes it, plain descent stalls."
    x_range = (-2.0, 2.0)
    y_range = (-2.0, 2.0)
    minima = ((0.0, 2**0.5), (0.0, -(2**0.5)))
    default_start = (1.5, 0.0)
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "SGD", "learning_rate": 0.05, "steps": 200}

    def formula(self, x: Any, y: Any, math: Any) -> Any:
        return x * x + 0.25 * y**4 - y * y


SURFACES: tuple[type[SurfaceProblem], ...] = (
    Quadratic,
    Rosenbrock,
    Beale,
    Himmelblau,
    Rastrigin,
    Saddle,
)
