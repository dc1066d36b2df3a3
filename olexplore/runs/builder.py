"""From a :class:`~olexplore.runs.config.Config` to a built problem and its train op.

Everything random is seeded from ``config.seed``: Python, NumPy and TensorFlow (so the problem's
initial values and data order) before the problem is built, and the gradient noise through its
own seed derived from ``config.seed`` (the engine draws it statelessly from that seed and the step
number). The same Config and seed therefore reproduce the same history bit for bit on one machine.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.adaptive_clipping import adaptive_clipping_fn
from olexplore.engine.learning_rate import decay_function
from olexplore.engine.optimize_loss import optimize_loss
from olexplore.engine.train_op import TrainOp
from olexplore.problems.base import Problem, Setup
from olexplore.problems.registry import get_problem
from olexplore.runs.config import Config

# Mixed with the seed so the noise stream differs from the initialisation stream of one seed.
_NOISE_STREAM = 0x6E6F697365  # "noise"


def noise_seed(seed: int) -> int:
    """The gradient-noise seed of a run with ``seed``: fixed, distinct per seed, below 2**32.

    >>> noise_seed(0) == noise_seed(0) != noise_seed(1)
    True
    """
    return int(np.random.SeedSequence([int(seed), _NOISE_STREAM]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and TensorFlow (``keras.utils.set_random_seed``)."""
    keras.utils.set_random_seed(int(seed))


def problem_of(config: Config, problem: Problem | None = None) -> Problem:
    """``problem`` when given (e.g. a user's own), else the registered ``config.problem``.

    >>> type(problem_of(Config(problem="quadratic"))).__name__
    'Quadratic'
    """
    if problem is None:
        return get_problem(config.problem, **dict(config.problem_params))
    if not isinstance(problem, Problem):
        raise ValueError(
            f"problem: got {problem!r} ({type(problem).__name__}); accepted: None (use "
            "config.problem) or an instance of olexplore.problems.Problem."
        )
    return problem


def build_setup(config: Config, problem: Problem | None = None) -> Setup:
    """Seed everything from ``config.seed``, then build the problem's variables, loss and data."""
    problem = problem_of(config, problem)
    seed_everything(config.seed)
    return problem.build(seed=config.seed, batch_size=config.batch_size)


def _clip_gradients(config: Config, global_step: tf.Variable) -> Any:
    clipping = config.clipping
    if clipping.kind == "global_norm":
        return clipping.norm
    if clipping.kind == "adaptive":
        return adaptive_clipping_fn(
            std_factor=clipping.std_factor,
            decay=clipping.decay,
            static_max_norm=clipping.static_max_norm,
            global_step=global_step,
        )
    return None


def build_train_op(config: Config, setup: Setup, *, variable_norms: bool = False) -> TrainOp:
    """``optimize_loss`` in TF 2 mode with every setting of ``config``, on ``setup``.

    The noise scale is always built (``0.0`` draws nothing), so it can be switched on later
    without a rebuild; a ``"global_norm"`` clip value is likewise a variable. The train op gets
    a global step made here, which adaptive clipping reads too. ``variable_norms`` adds the
    per-variable gradient norms (``gradient_norm/<name>``) to every step's metrics.

    >>> config = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1)
    >>> setup = build_setup(config)
    >>> train_op = build_train_op(config, setup)
    >>> train_op.metric_names, train_op.learning_rate, train_op.gradient_noise_scale
    (['loss', 'learning_rate', 'global_norm'], 0.10000000149011612, 0.0)
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: got {config!r} ({type(config).__name__}); accepted: a Config.")
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    decay = config.decay
    return optimize_loss(
        setup.loss,
        global_step,
        config.learning_rate,
        config.optimizer,
        gradient_noise_scale=config.noise_scale,
        gradient_multipliers=dict(config.multipliers) or None,
        clip_gradients=_clip_gradients(config, global_step),
        learning_rate_decay_fn=(
            None if decay.name == "none" else decay_function(decay.name, **dict(decay.params))
        ),
        variables=setup.variables,
        summaries=["gradient_norm"] if variable_norms else [],
        gradient_noise_seed=noise_seed(config.seed),
    )
