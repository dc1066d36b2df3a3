"""Runs: a Config trained in fused chunks into a History; sessions, comparisons and sweeps;
the learning-rate range test and the planned schedule."""

from olexplore.runs.builder import build_train_op
from olexplore.runs.config import Clipping, Config, Decay
from olexplore.runs.fields import FIELDS, Field
from olexplore.runs.history import History
from olexplore.runs.lr_range import LRRangeResult, lr_range_test
from olexplore.runs.run import ResetRequired, Run
from olexplore.runs.schedule import schedule
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
    "LRRangeResult",
    "ResetRequired",
    "Run",
    "Session",
    "SweepResult",
    "build_train_op",
    "lr_range_test",
    "schedule",
    "sweep",
]
