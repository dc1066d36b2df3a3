"""Problems by name: ``get_problem("rosenbrock")``, ``problem_names()``."""

from __future__ import annotations

from typing import Any

from olexplore.engine.validation import describe
from olexplore.problems.base import Problem

_REGISTRY: dict[str, type[Problem]] = {}


def register(problem: type[Problem]) -> type[Problem]:
    """Add a problem class to the registry under its ``name`` (usable as a decorator).

    >>> from olexplore.problems.surfaces import Rosenbrock
    >>> register(Rosenbrock) is Rosenbrock
    True
    """
    _REGISTRY[problem.name] = problem
    return problem


def problem_names() -> list[str]:
    """Names of all registered problems, in registration order."""
    return list(_REGISTRY)


def problem_class(name: str) -> type[Problem]:
    """The class registered under ``name``."""
    if name not in _REGISTRY:
        raise ValueError(
            f"problem: got {describe(name)}; accepted: one of {', '.join(problem_names())}."
        )
    return _REGISTRY[name]


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
