"""What to train: 2-D surfaces, stochastic and pathological toys, real models, your own model."""

from olexplore.problems.base import Problem, Setup, Surface
from olexplore.problems.custom import CustomProblem
from olexplore.problems.real import REAL, DatasetFallbackWarning
from olexplore.problems.registry import get_problem, problem_class, problem_names, register
from olexplore.problems.surfaces import SURFACES
from olexplore.problems.toys import TOYS

# CustomProblem is not registered: it needs the user's own objects.
for _problem in (*SURFACES, *TOYS, *REAL):
    register(_problem)

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
