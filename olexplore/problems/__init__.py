"""What to train: 2-D surfaces, stochastic and pathological toys, real models, your own model."""

from olexplore.problems.base import Problem, Setup, Surface
from olexplore.problems.registry import get_problem, problem_class, problem_names, register
from olexplore.problems.surfaces import SURFACES

for _surface in SURFACES:
    register(_surface)

__all__ = [
    "Problem",
    "Setup",
    "Surface",
    "get_problem",
    "problem_class",
    "problem_names",
    "register",
]
