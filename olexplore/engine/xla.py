"""When the TF 2 train op compiles its steps with XLA, and why it does not when it does not.

``optimize_loss(..., jit_compile=...)`` and ``TrainOp.run_steps(..., jit_compile=...)`` take
``True`` (always XLA: ``tf.function(jit_compile=True)``), ``False`` (the plain ``tf.function``)
or ``"auto"``: XLA unless something known not to compile is in the way (summary writes, a
``tf.data`` iterator, a ``tf.distribute`` strategy, a call from inside another ``tf.function``)
or the first compilation fails (an op without an XLA kernel, such as a ``tf.py_function`` in
the loss); the train op then runs the plain path and :class:`CompileInfo` says why. A failed
compilation runs nothing, so no step is lost or applied twice.

XLA needs arrays of fixed size, so a fused call of ``n`` steps records into arrays of a fixed
number of rows and the loop stops at ``n``: the smallest size already compiled that holds ``n``
rows, else :func:`bucket` ``(n)`` (the next power of two, at least ``MIN_BUCKET``). Chunk
sizes that vary, as an explorer's do while it ramps its chunks up, therefore share one compiled
function up to ``MIN_BUCKET`` steps, compile at most one more per power of two above, and none
once the largest has been compiled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe

#: What ``jit_compile`` may be.
JitCompile = bool | Literal["auto"]

#: A fused XLA call records at most this many steps; longer calls run as several of them.
MAX_BUCKET = 2**16
#: The fewest rows a fused XLA call records into (a few KiB of metrics; each size compiles
#: once, about 0.7 s for a 2-D problem here).
MIN_BUCKET = 256


@dataclass(frozen=True)
class CompileInfo:
    """How the latest call of a train op ran: ``xla`` is whether it was XLA-compiled, and
    ``reason`` says why not (``None`` when it was).

    >>> CompileInfo(xla=False, reason="summaries are written")
    CompileInfo(xla=False, reason='summaries are written')
    """

    xla: bool
    reason: str | None = None


def check_jit_compile(value: Any) -> JitCompile:
    """Validate ``jit_compile``: ``True``, ``False`` or ``"auto"``.

    >>> check_jit_compile("auto"), check_jit_compile(False)
    ('auto', False)
    """
    if value is True or value is False:
        return value
    if isinstance(value, str) and value == "auto":
        return "auto"
    raise ValueError(f"jit_compile: got {describe(value)}; accepted: True, False or 'auto'.")


def check_jit_override(value: Any) -> JitCompile | None:
    """Validate a per-call ``jit_compile``: ``None`` (the train op's own setting) or as above.

    >>> check_jit_override(None), check_jit_override(True)
    (None, True)
    """
    if value is None:
        return None
    try:
        return check_jit_compile(value)
    except ValueError:
        raise ValueError(
            f"jit_compile: got {describe(value)}; accepted: True, False or 'auto' (None: the "
            "train op's own setting)."
        ) from None


def bucket(steps: int) -> int:
    """The rows XLA records ``steps`` steps into: the next power of two, at least ``MIN_BUCKET``.

    >>> [bucket(n) for n in (0, 1, 256, 257, 1000)]
    [256, 256, 256, 512, 1024]
    """
    return max(MIN_BUCKET, 1 << max(0, int(steps) - 1).bit_length())


def known_obstacle(*, writer: Any, with_data: bool, strategy: Any) -> str | None:
    """Why XLA cannot compile this call, when that is known before trying (else ``None``).

    >>> known_obstacle(writer=None, with_data=True, strategy=None)
    'the data comes from a tf.data iterator (XLA cannot compile iterator ops)'
    """
    if writer is not None:
        return "summaries are written to a tf.summary writer (XLA cannot compile summary ops)"
    if with_data:
        return "the data comes from a tf.data iterator (XLA cannot compile iterator ops)"
    if strategy is not None:
        return f"the step runs under {type(strategy).__name__} (the plain path aggregates replicas)"
    if tf.inside_function():
        return "called inside a tf.function (the outer function decides how it is compiled)"
    return None


_NO_KERNEL = re.compile(r"No registered '([A-Za-z0-9_]+)' OpKernel for XLA")
_HINTS = {
    "EagerPyFunc": "a tf.py_function in the loss",
    "PyFunc": "a tf.numpy_function in the loss",
    "PyFuncStateless": "a tf.numpy_function in the loss",
}


def compile_failure(error: BaseException) -> str | None:
    """The reason an XLA compilation failed, or ``None`` if ``error`` is not such a failure.

    >>> compile_failure(ValueError("x")) is None
    True
    """
    if not isinstance(
        error,
        (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError),
    ):
        return None
    message = str(error)
    if "XLA" not in message and "compil" not in message:
        return None
    missing = _NO_KERNEL.search(message)
    if missing:
        op = missing.group(1)
        hint = _HINTS.get(op)
        return f"the step uses {op}, which has no XLA kernel" + (f" ({hint})" if hint else "")
    first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return f"XLA could not compile the step: {first_line[:200]}"
