"""Argument checks shared by every pattern's constructor: bad configuration fails there,
with a message naming the argument and what was wrong."""

from __future__ import annotations

import datetime
import functools
import inspect
import math

from .errors import ConfigurationError

__all__ = (
    "MAX_SECONDS", "check_async", "check_count", "check_name", "check_rate", "check_seconds"
)  # fmt: skip

MAX_SECONDS = 10 * 365 * 86400.0


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_seconds(
    name: str,
    value: object,
    *,
    allow_zero: bool = False,
    minimum: float = 1e-6,
) -> float:
    """A duration as float seconds, from a number or a ``datetime.timedelta``. ``inf``,
    NaN, negatives, values below ``minimum`` (a microsecond; Redis counts milliseconds at
    best) and values past 10 years are refused with a ``ConfigurationError`` naming
    ``name``: they would otherwise surface later as an ``OverflowError``, a script error
    or a wait that never ends."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"{name} must be a number of seconds or a timedelta, got {value!r}"
        )
    if math.isnan(value) or math.isinf(value):
        raise ConfigurationError(f"{name} must be a finite number of seconds, got {value!r}")
    if value == 0 and allow_zero:
        return 0.0
    if not minimum <= value <= MAX_SECONDS:
        low = f"{minimum * 1000:g} ms" if minimum >= 0.001 else f"{minimum * 1e6:g} microsecond"
        raise ConfigurationError(f"{name} must be between {low} and 10 years, got {value!r}")
    return float(value)


def check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} must be a number > 0 (per second), got {value!r}")
    if not 1 / MAX_SECONDS <= value <= 1e6:
        raise ConfigurationError(f"{name} must be between one per 10 years and 1e6 per second")
    return float(value)


def check_name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty str, got {value!r}")
    return value


def _is_async(fn: object) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)  # an object with an async __call__


def check_async(name: str, fn: object, *, optional: bool = False) -> object:
    """``fn`` if it is an ``async def`` function (or an object with an async ``__call__``);
    else ``ConfigurationError`` at once: a sync one would fail late, on first use."""
    if fn is None and optional:
        return None
    if not callable(fn):
        raise ConfigurationError(f"{name} must be an async function, got {fn!r}")
    if not _is_async(fn):
        what = getattr(fn, "__qualname__", None) or repr(fn)
        raise ConfigurationError(
            f"{name} must be an async function (async def), got the sync function {what}"
        )
    return fn


class OneRun:
    """An ``async with`` object runs once: entering it while it runs, or again after it
    ended, raises ``RuntimeError`` (its background state is not made to start over)."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = "new"

    @property
    def running(self) -> bool:
        return self.state == "running"

    def enter(self, owner: object) -> None:
        if self.state == "running":
            raise RuntimeError(f"{owner!r} is already running")
        if self.state == "ended":
            raise RuntimeError(f"{owner!r} already ran and ended: make a new one to run again")
        self.state = "running"

    def exit(self) -> None:
        self.state = "ended"
