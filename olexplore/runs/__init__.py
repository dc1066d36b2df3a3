"""Runs: a Config trained in fused chunks into a History; sessions, comparisons and sweeps."""

from olexplore.runs.builder import build_train_op
from olexplore.runs.config import Clipping, Config, Decay
from olexplore.runs.fields import FIELDS, Field
from olexplore.runs.history import History
from olexplore.runs.run import ResetRequired, Run
from olexplore.runs.session import Edit, Session
from olexplore.runs.sweep import SweepResult, sweep

__all__ = [
    "Clipping",
    "Config",
    "Decay",
    "Edit",
    "FIELDS",
    "Field",
    "History",
    "ResetRequired",
    "Run",
    "Session",
    "SweepResult",
    "build_train_op",
    "sweep",
]
