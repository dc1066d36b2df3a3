"""Checks for problem parameters: numbers and counts within bounds, named in every error.

Every parameter a problem takes is bounded: a typo such as ``depth=10**6`` must fail at once,
naming the parameter, the value and what is accepted, rather than allocate gigabytes or trace
for an hour.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np

from olexplore.engine.validation import describe, is_real_number

#: Largest batch accepted (Config's bound too).
MAX_BATCH_SIZE = 1_000_000
#: Largest magnitude accepted for a problem's coordinates, scales and constants.
MAX_MAGNITUDE = 1e6


def number(
    value: Any,
    argument: str,
    *,
    minimum: float = -MAX_MAGNITUDE,
    maximum: float = MAX_MAGNITUDE,
    strict: bool = False,
) -> float:
    """``value`` as a float within ``[minimum, maximum]`` (``minimum`` excluded if ``strict``).

    >>> number(2, "noise", minimum=0.0)
    2.0
    >>> number(1e9, "noise", minimum=0.0)
    Traceback (most recent call last):
    ...
    ValueError: noise: got 1000000000.0 (float); accepted: a finite number >= 0 and <= 1e+06.
    """
    ok = is_real_number(value) and bool(np.isfinite(value))
    ok = ok and (value > minimum if strict else value >= minimum) and value <= maximum
    if not ok:
        low = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(
            f"{argument}: got {describe(value)}; accepted: a finite number {low} and "
            f"<= {maximum:g}."
        )
    return float(value)


def count(value: Any, argument: str, minimum: int, maximum: int) -> int:
    """``value`` as an int within ``[minimum, maximum]``.

    >>> count(20, "depth", 1, 1000)
    20
    >>> count(10**6, "depth", 1, 1000)
    Traceback (most recent call last):
    ...
    ValueError: depth: got 1000000 (int); accepted: an int >= 1 and <= 1000.
    """
    if (
        not isinstance(value, (int, np.integer))
        or isinstance(value, (bool, np.bool_))
        or not minimum <= value <= maximum
    ):
        raise ValueError(
            f"{argument}: got {describe(value)}; accepted: an int >= {minimum} and <= {maximum}."
        )
    return int(value)


@overload
def point(value: Any, argument: str, size: Literal[2] = 2) -> tuple[float, float]: ...
@overload
def point(value: Any, argument: str, size: int) -> tuple[float, ...]: ...
def point(value: Any, argument: str, size: int = 2) -> tuple[float, ...]:
    """``size`` finite numbers of magnitude at most :data:`MAX_MAGNITUDE`.

    >>> point((-1.5, 2), "start")
    (-1.5, 2.0)
    >>> point("ab", "start")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: start: got 'ab' (str); accepted: two numbers (x, y), i.e. 2 finite numbers ...
    """
    accepted = f"{size} finite numbers of magnitude <= {MAX_MAGNITUDE:g}"
    if size == 2:
        accepted = f"two numbers (x, y), i.e. {accepted}, e.g. (-1.5, 2.0)"
    accepted = f"accepted: {accepted}"
    try:
        values = tuple(v for v in value) if not isinstance(value, (str, bytes)) else ()
    except TypeError:
        values = ()
    if len(values) != size or not all(is_real_number(v) for v in values):
        raise ValueError(f"{argument}: got {describe(value)}; {accepted}.")
    if not all(np.isfinite(v) and abs(v) <= MAX_MAGNITUDE for v in values):
        raise ValueError(f"{argument}: got {describe(value)}; {accepted}.")
    return tuple(float(v) for v in values)
