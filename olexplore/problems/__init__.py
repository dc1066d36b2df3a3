"""What to train: 2-D surfaces, stochastic and pathological toys, real models, your own model."""

from olexplore.problems.base import Problem, Setup, Surface
from olexplore.problems.custom import CustomProblem
from olexplore.problems.real import DatasetFallbackWarning
from olexplore.problems.registry import get_problem, problem_class, problem_names, register

__all__ = [
    "CustomProblem",
    "DatasetFallbackWarning",
    "Problem",
    "Setup",
    "Surface",
    "get_problem",
    "problem_class",
    "problem_names",
    "register",
]
