"""Stochastic and pathological toys: gradient noise, exploding gradients, a kink at the minimum.

* :class:`NoisyQuadratic` -- a quadratic bowl whose gradients carry noise of a chosen size,
  drawn from a seeded ``tf.data`` stream (what mini-batch noise does to SGD, without a model).
* :class:`ExplodingGradients` -- a deep linear chain started with layer gains above one: plain
  SGD overflows within a few steps, the same run clipped to a global norm of 1.0 converges.
* :class:`AbsLinear` -- the seeds' ``|var * x|``: a constant-size gradient that never shrinks,
  so a constant learning rate ends up hopping around the minimum.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.problems.base import Problem, Setup, Surface
from olexplore.problems.params import MAX_BATCH_SIZE, count, number, point

#: Bounds of the toys' sizes: a typo must not allocate gigabytes or trace for an hour.
MAX_DIM = 10_000
MAX_DEPTH = 1_000
MAX_WIDTH = 1_024
MAX_CHAIN_WEIGHTS = 10_000_000


def _normal_batches(seed: int, shape: list[int]) -> tf.data.Dataset:
    """Endless standard-normal tensors of ``shape``; batch ``i`` uses the seed ``(seed, i)``."""
    first = tf.constant(seed, tf.int64)
    return tf.data.Dataset.counter().map(
        lambda i: tf.random.stateless_normal(shape, seed=tf.stack([first, i]))
    )


class NoisyQuadratic(Problem):
    """``sum_i h_i w_i^2 / 2`` plus gradient noise of standard deviation ``noise / sqrt(batch)``.

    Each batch is ``z``, a ``[batch_size, dim]`` array of standard-normal draws, and the loss is
    ``sum_i (h_i w_i^2 / 2 + noise * mean_b(z_bi) * w_i)``: its gradient is the clean one,
    ``h * w``, plus ``noise`` times the batch mean of ``z``. The expected loss is the clean
    bowl, so ``noise`` sets the gradient-noise size alone, and ``batch_size`` divides it by
    ``sqrt(batch_size)`` as averaging a mini-batch does. Curvatures ``h`` are spaced
    geometrically from 1 to ``condition_number``. With ``dim=2`` (the default) the variables are
    scalars ``x`` and ``y`` and the problem has a contour surface; otherwise one vector ``w``.
    ``evaluate()`` reports the noise-free loss and the distance to the minimum (the origin).

    >>> setup = NoisyQuadratic(noise=0.0).build(seed=0, batch_size=4)
    >>> setup.variable_names, round(float(setup.loss(tf.zeros([4, 2]))), 4)
    (['x', 'y'], 8.82)
    """

    name = "noisy-quadratic"
    title = "Noisy quadratic"
    description = (
        "A quadratic bowl with gradient noise of adjustable size: constant-rate SGD hovers at a "
        "noise floor, decay or larger batches lower it."
    )
    kind = "toy"
    suggested: ClassVar[dict[str, Any]] = {
        "optimizer": "SGD",
        "learning_rate": 0.1,
        "steps": 200,
        "batch_size": 8,
    }

    def __init__(
        self,
        noise: float = 1.0,
        condition_number: float = 10.0,
        dim: int = 2,
        start: Any = None,
    ) -> None:
        self.noise = number(noise, "noise", minimum=0.0)
        self.condition_number = number(condition_number, "condition_number", minimum=1.0)
        self.dim = count(dim, "dim", 1, MAX_DIM)
        self.curvatures = np.geomspace(1.0, self.condition_number, self.dim).astype(np.float32)
        default = (-1.8, 1.2) if self.dim == 2 else (1.0,) * self.dim
        self.start = point(default if start is None else start, "start", self.dim)

    def expected_loss(self, w: Any) -> Any:
        """The noise-free loss ``sum_i h_i w_i^2 / 2`` (NumPy or TF, ``w`` in the last axis)."""
        if isinstance(w, np.ndarray):
            return 0.5 * np.sum(self.curvatures * w * w, axis=-1)
        return 0.5 * tf.reduce_sum(self.curvatures * w * w, axis=-1)

    def surface(self) -> Surface | None:
        """The contour of the expected loss (``dim == 2`` only)."""
        if self.dim != 2:
            return None
        h = self.curvatures.astype(np.float64)
        c = max(2.0, 1.1 * max(abs(v) for v in self.start))
        return Surface(
            lambda x, y: 0.5 * (h[0] * np.asarray(x) ** 2 + h[1] * np.asarray(y) ** 2),
            (-c, c),
            (-c, c),
            minima=((0.0, 0.0),),
            start=(self.start[0], self.start[1]),
        )

    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Fresh variables at ``start``; ``data`` yields seeded ``[batch_size, dim]`` noise."""
        batch_size = count(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        if self.dim == 2:
            # typeshed's tf.Variable takes only Tensors as initial_value; TF converts numbers.
            variables = [
                tf.Variable(self.start[0], dtype=tf.float32, name="x"),  # pyright: ignore[reportArgumentType]
                tf.Variable(self.start[1], dtype=tf.float32, name="y"),  # pyright: ignore[reportArgumentType]
            ]

            def parameters() -> tf.Tensor:
                return tf.stack(variables)

            def record() -> dict[str, tf.Tensor]:
                return {"position": parameters()}

        else:
            start = np.asarray(self.start, dtype=np.float32)  # tf.Variable's stub: as above
            variables = [tf.Variable(start, name="w")]  # pyright: ignore[reportArgumentType]

            def parameters() -> tf.Tensor:
                return variables[0].read_value()

            def record() -> dict[str, tf.Tensor]:
                return {"distance": tf.norm(parameters())}

        noise = tf.constant(self.noise, tf.float32)

        def loss(z: tf.Tensor) -> tf.Tensor:
            w = parameters()
            return self.expected_loss(w) + noise * tf.reduce_sum(tf.reduce_mean(z, 0) * w)

        def evaluate() -> dict[str, float]:
            w = parameters()
            return {
                "val_loss": float(self.expected_loss(w)),
                "distance_to_minimum": float(tf.norm(w)),
            }

        return Setup(
            variables=variables,
            loss=loss,
            data=_normal_batches(seed, [batch_size, self.dim]),
            evaluate=evaluate,
            record=record,
            surface=self.surface(),
            extras={"curvatures": self.curvatures.tolist(), "noise": self.noise},
        )


class ExplodingGradients(Problem):
    """A deep linear chain ``x W_1 ... W_depth`` started ``gain ** depth`` times too large.

    Each ``W_l`` starts as ``gain`` times a random rotation ``R_l``; the target map is the
    product of the rotations, ``R_1 ... R_depth``, so the chain first computes the right map
    ``gain ** depth`` times too large (about 16 with the defaults) and the gradient of every
    layer is a product of ``depth - 1`` matrices of gain ``gain``. Data are seeded
    standard-normal batches ``x`` and the loss is ``mean_b ||chain(x) - target(x)||^2 / 2``.
    With the suggested settings (SGD, learning rate 0.03) the first step overshoots and the
    loss overflows to ``inf``/``nan`` within a few steps; the same run with
    global-norm clipping at 1.0 (``clipping.norm``) walks down and converges. Variables are named
    ``chain/layer_00/kernel`` ... so multipliers can target layers.

    >>> setup = ExplodingGradients(depth=3, width=2).build(seed=0, batch_size=4)
    >>> setup.variable_names
    ['chain/layer_00/kernel', 'chain/layer_01/kernel', 'chain/layer_02/kernel']
    """

    name = "exploding-gradients"
    title = "Exploding gradients"
    description = (
        "A 20-layer linear chain whose layers start with gain 1.15: without clipping SGD "
        "diverges to inf/NaN in a few steps, with global-norm clipping at 1.0 it converges."
    )
    kind = "toy"
    suggested: ClassVar[dict[str, Any]] = {
        "optimizer": "SGD",
        "learning_rate": 0.03,
        "clipping.kind": "global_norm",
        "clipping.norm": 1.0,
        "steps": 200,
        "batch_size": 32,
    }

    def __init__(self, depth: int = 20, width: int = 8, gain: float = 1.15) -> None:
        self.depth = count(depth, "depth", 1, MAX_DEPTH)
        self.width = count(width, "width", 1, MAX_WIDTH)
        self.gain = number(gain, "gain", minimum=0.0, maximum=10.0, strict=True)
        if self.depth * self.width**2 > MAX_CHAIN_WEIGHTS:
            raise ValueError(
                f"depth, width: got depth={self.depth} and width={self.width}, "
                f"{self.depth * self.width**2:,} weights; accepted: depth * width**2 <= "
                f"{MAX_CHAIN_WEIGHTS:,}."
            )

    def rotations(self, seed: int) -> list[np.ndarray]:
        """The ``depth`` random rotations (uniform over rotation matrices) drawn from ``seed``."""
        rng = np.random.default_rng(seed)
        rotations = []
        for _ in range(self.depth):
            q, r = np.linalg.qr(rng.standard_normal((self.width, self.width)))
            q = q * np.sign(np.diag(r))  # uniform over orthogonal matrices ...
            if np.linalg.det(q) < 0:  # ... and over rotations once the sign is fixed
                q[:, 0] = -q[:, 0]
            rotations.append(q)
        return rotations

    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Fresh kernels from ``seed``; ``data`` yields seeded ``[batch_size, width]`` inputs."""
        batch_size = count(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        rotations = self.rotations(seed)
        values = ((self.gain * q).astype(np.float32) for q in rotations)
        # typeshed's tf.Variable takes only Tensors as initial_value; TF converts arrays too.
        kernels = [
            tf.Variable(value, name=f"chain/layer_{i:02d}/kernel")  # pyright: ignore[reportArgumentType]
            for i, value in enumerate(values)
        ]
        target = tf.constant(np.linalg.multi_dot([np.eye(self.width), *rotations]), tf.float32)

        def loss(x: tf.Tensor) -> tf.Tensor:
            h = x
            for kernel in kernels:
                h = tf.matmul(h, kernel)
            return 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(h - x @ target), axis=-1))

        return Setup(
            variables=kernels,
            loss=loss,
            data=_normal_batches(seed, [batch_size, self.width]),
            extras={"initial_gain": self.gain**self.depth, "target": target.numpy()},
        )


class AbsLinear(Problem):
    """The seeds' example ``|var * x|``: ``var`` starts at 10 and ``x`` is fed as data.

    The gradient is ``x * sign(var)`` whatever the distance to the minimum, so SGD with a
    constant learning rate moves by exactly ``learning_rate * |x|`` per step and, unless the
    start is a whole number of steps away, ends up hopping across ``var = 0``; a decaying
    learning rate settles. ``record()`` keeps ``var`` at every step.

    >>> setup = AbsLinear().build()
    >>> setup.variable_names, float(setup.loss(tf.constant(5.0)))
    (['var'], 50.0)
    """

    name = "abs-linear"
    title = "|var * x|"
    description = (
        "The seeds' |var * x| with var = 10: constant-size gradients, so constant-rate SGD "
        "hops across the kink at 0 unless the learning rate decays."
    )
    kind = "toy"
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "SGD", "learning_rate": 0.1, "steps": 50}

    def __init__(self, x: float = 5.0, start: float = 10.0) -> None:
        self.x = number(x, "x")
        self.start = number(start, "start")

    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """A fresh ``var``; ``data`` repeats the scalar ``x`` (``seed``, ``batch_size`` unused)."""
        # typeshed's tf.Variable takes only Tensors as initial_value; TF converts numbers too.
        var = tf.Variable(self.start, dtype=tf.float32, name="var")  # pyright: ignore[reportArgumentType]
        return Setup(
            variables=[var],
            loss=lambda x: tf.abs(var * x),
            data=tf.data.Dataset.from_tensors(tf.constant(self.x, tf.float32)).repeat(),
            record=lambda: {"var": var.read_value()},
            extras={"x": self.x},
        )


TOYS: tuple[type[Problem], ...] = (NoisyQuadratic, ExplodingGradients, AbsLinear)
