"""Runs: a Config trained in fused chunks into a History; comparisons and sweeps over seeds."""

from olexplore.runs.builder import build_train_op
from olexplore.runs.config import Clipping, Config, Decay
from olexplore.runs.history import History
from olexplore.runs.run import ResetRequired, Run
from olexplore.runs.sweep import SweepResult, sweep

__all__ = [
    "Clipping",
    "Config",
    "Decay",
    "History",
    "ResetRequired",
    "Run",
    "SweepResult",
    "build_train_op",
    "sweep",
]
