"""Summary tags of ``optimize_loss`` (TF 1's names) and how each mode writes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from olexplore._compat import default_summary_writer
from olexplore._tensorflow import tf

GLOBAL_NORM_TAG = "global_norm/gradient_norm"
CLIPPED_GLOBAL_NORM_TAG = "global_norm/clipped_gradient_norm"
ADAPTIVE_MAX_NORM_TAG = "global_norm/adaptive_max_gradient_norm"


def summary_variable_name(variable: Any) -> str:
    """TF 1's per-variable tag suffix: the variable's name with ``:`` replaced by ``_``.

    >>> summary_variable_name(tf.Variable(1.0, name="dense/kernel"))
    'dense/kernel_0'
    """
    return variable.name.replace(":", "_")


def default_writer() -> Any:
    """The ``tf.summary`` writer set as default in this thread, or ``None``.

    >>> default_writer() is None
    True
    """
    return default_summary_writer()


def write_scalars(prefix: str, scalars: Mapping[str, Any], step: Any) -> None:
    """Write ``{tag: value}`` as TF 2 scalar summaries named ``prefix/tag`` at ``step``.

    The tags are absolute (no ``while/`` prefix inside loops), so graph-mode and TF 2 runs of
    the same model line up in TensorBoard.
    """
    with tf.compat.v1.name_scope(None):
        for tag, value in scalars.items():
            tf.summary.scalar(f"{prefix}/{tag}", value, step=step)


def write_histograms(prefix: str, histograms: Mapping[str, Any], step: Any) -> None:
    """Write ``{tag: values}`` as TF 2 histogram summaries named ``prefix/tag`` at ``step``."""
    with tf.compat.v1.name_scope(None):
        for tag, value in histograms.items():
            tf.summary.histogram(f"{prefix}/{tag}", value, step=step)
