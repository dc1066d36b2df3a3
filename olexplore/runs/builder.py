r"""From a :class:`~olexplore.runs.config.Config` to a built problem and its train op.

Everything random comes from ``config.seed`` through explicit generators, never from global
state: the problem draws its initial values and data order from the seed it is built with (NumPy
``Generator``\s, seeded Keras initialisers, stateless TensorFlow ops), and the gradient noise
from its own seed derived from ``config.seed`` (the engine draws it statelessly from that seed and
the step number). Building a run therefore leaves Python's ``random``, NumPy's global state and
TensorFlow's global seed as they were, and the same Config and seed reproduce the same history
bit for bit, in one process or in two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

from olexplore._tensorflow import tf
from olexplore.engine.optimize_loss import optimize_loss
from olexplore.engine.train_op import TrainOp
from olexplore.engine.variables import as_tf_variable, setting_variable
from olexplore.problems.base import Problem, Setup
from olexplore.problems.registry import get_problem
from olexplore.runs.arguments import engine_arguments, materialize
from olexplore.runs.config import Config


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
    """The problem's variables, loss and data, built from ``config.seed`` and ``batch_size``.

    No global random state is read or changed: the seed reaches the problem as an argument.

    >>> build_setup(Config(problem="quadratic")).variable_names
    ['x', 'y']
    """
    problem = problem_of(config, problem)
    return problem.build(seed=config.seed, batch_size=config.batch_size)


def build_train_op(config: Config, setup: Setup, *, variable_norms: bool = False) -> TrainOp:
    """``optimize_loss`` in TF 2 mode with every setting of ``config``, on ``setup``.

    The arguments come from :func:`~olexplore.runs.arguments.engine_arguments` (what
    ``as_code`` writes too). The noise scale is always built (``0.0`` draws nothing), so it can
    be switched on later without a rebuild; a ``"global_norm"`` clip value is likewise a
    variable. The train op gets
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
    global_step = setting_variable(0, "global_step", tf.int64)
    arguments = {
        name: materialize(value, global_step) for name, value in engine_arguments(config).items()
    }
    return optimize_loss(
        setup.loss,
        global_step,
        variables=setup.variables,
        summaries=["gradient_norm"] if variable_norms else [],
        **arguments,
    )


@contextlib.contextmanager
def collecting_variables() -> Iterator[list[tf.Variable]]:
    """Collect every ``tf.Variable`` created inside the block (Keras variables' included).

    >>> with collecting_variables() as created:
    ...     _ = tf.Variable(1.0, name="a"), tf.Variable(2.0, name="b")
    >>> [v.name for v in created]
    ['a:0', 'b:0']
    """
    created: list[tf.Variable] = []

    def creator(next_creator: Any, **kwargs: Any) -> Any:
        variable = next_creator(**kwargs)
        created.append(variable)
        return variable

    with tf.variable_creator_scope(creator):
        yield created


class Snapshot(NamedTuple):
    """The values of a run's training variables at history step ``step``."""

    step: int
    values: list[tf.Tensor]


class TrainState:
    """Every variable a run's training changes: snapshot (cheap, every chunk) and restore.

    ``variables`` are all the variables made while the run was built (the problem's, the
    optimizer's slots, the step counters, adaptive clipping's statistics, ...) plus those the
    problem brought (a user's model). A snapshot is one compiled call reading them all (copy
    on write: later updates leave it unchanged). The data iterator's position is not part of
    it (saving a ``tf.data`` position costs several milliseconds per chunk): after a restore
    the next steps take the next batches.

    >>> w = tf.Variable(1.0)
    >>> state = TrainState([w])
    >>> snapshot = state.snapshot(step=0)
    >>> _ = w.assign(5.0)
    >>> state.restore(snapshot)
    >>> float(w.numpy())
    1.0
    """

    def __init__(self, variables: list[Any]) -> None:
        unique: dict[int, tf.Variable] = {}
        for variable in variables:
            variable = as_tf_variable(variable)
            unique.setdefault(id(variable), variable)
        self.variables = list(unique.values())
        self._read = tf.function(lambda: [v.read_value() for v in self.variables])

    def snapshot(self, step: int) -> Snapshot:
        """The current values as of history step ``step``."""
        return Snapshot(int(step), list(self._read()) if self.variables else [])

    def restore(self, snapshot: Snapshot) -> None:
        """Put every variable back to ``snapshot``."""
        for variable, value in zip(self.variables, snapshot.values, strict=True):
            variable.assign(value)
