"""Argument checks shared by every pattern's constructor: bad configuration fails there,
with a message naming the argument and what was wrong."""

from __future__ import annotations

import math

from .errors import ConfigurationError

__all__ = ("MAX_SECONDS", "check_count", "check_name", "check_rate", "check_seconds")

MAX_SECONDS = 10 * 365 * 86400.0


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if not (1e-6 <= value <= MAX_SECONDS) or math.isnan(value):
        raise ConfigurationError(
            f"{name} must be between 1 microsecond and 10 years, got {value!r}"
        )
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
