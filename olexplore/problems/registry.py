"""Problems by name: ``get_problem("rosenbrock")``, ``problem_names()``.

The built-in problems are registered by the registry itself, on first use, always first and
in the same order, so the registry does not depend on which module was imported first; a
user's problem registered with :func:`register` comes after them and cannot take a name that
is already registered to another class.
"""

from __future__ import annotations

from typing import Any

from olexplore.engine.validation import describe
from olexplore.problems.base import Problem

_REGISTRY: dict[str, type[Problem]] = {}


def _registry() -> dict[str, type[Problem]]:
    if not _REGISTRY:
        # Imported here: these modules import this one. CustomProblem is not registered: it
        # needs the user's own objects.
        from olexplore.problems.real import REAL  # noqa: PLC0415
        from olexplore.problems.surfaces import SURFACES  # noqa: PLC0415
        from olexplore.problems.toys import TOYS  # noqa: PLC0415

        for problem in (*SURFACES, *TOYS, *REAL):
            _REGISTRY[problem.name] = problem
    return _REGISTRY


def register(problem: type[Problem]) -> type[Problem]:
    """Add a problem class to the registry under its ``name`` (usable as a decorator).

    Registering the same class again changes nothing; another class under a taken name is
    refused.

    >>> from olexplore.problems.surfaces import Rosenbrock
    >>> register(Rosenbrock) is Rosenbrock
    True
    """
    if not (isinstance(problem, type) and issubclass(problem, Problem)):
        raise ValueError(
            f"problem: got {describe(problem)}; accepted: a subclass of olexplore.problems.Problem."
        )
    name = getattr(problem, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"problem: {problem.__name__}.name is {describe(name)}; accepted: a non-empty str."
        )
    registry = _registry()
    taken = registry.get(name)
    if taken is not None and taken is not problem:
        raise ValueError(
            f"problem: {problem.__name__}.name {name!r} is already registered to "
            f"{taken.__module__}.{taken.__qualname__}; accepted: a name not in "
            f"{', '.join(registry)}."
        )
    registry[name] = problem
    return problem


def problem_names() -> list[str]:
    """Names of all registered problems: the built-in ones first, then in registration order.

    >>> problem_names()[:2]
    ['quadratic', 'rosenbrock']
    """
    return list(_registry())


def problem_class(name: str) -> type[Problem]:
    """The class registered under ``name``.

    >>> problem_class("saddle").__name__
    'Saddle'
    """
    registry = _registry()
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"problem: got {describe(name)}; accepted: one of {', '.join(registry)}.")
    return registry[name]


def get_problem(name: str, **params: Any) -> Problem:
    """An instance of the problem registered under ``name``, built with ``params``.

    >>> get_problem("quadratic", condition_number=4).condition_number
    4.0
    """
    cls = problem_class(name)
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(
            f"problem_params: {describe(params)} do not fit {name!r}: {error}"
        ) from None
