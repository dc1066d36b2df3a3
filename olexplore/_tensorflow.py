"""The one place that imports TensorFlow, so a missing install gets a helpful message."""

from __future__ import annotations

INSTALL_HINT = (
    "olexplore needs TensorFlow 2.21, which is an optional extra so you can pick the build: "
    "install it with `pip install 'olexplore[cpu]'` (tensorflow-cpu) or "
    "`pip install 'olexplore[gpu]'` (tensorflow[and-cuda])."
)

try:
    import tensorflow as tf
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(f"{INSTALL_HINT} (importing tensorflow failed: {error})") from error

__all__ = ["tf", "INSTALL_HINT"]
