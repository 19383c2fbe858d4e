"""Argument checks and conversions shared by the data-structure patterns."""

from __future__ import annotations

import math

from .._checks import check_seconds
from .._types import Duration
from ..errors import ConfigurationError

__all__ = ("decode_member", "encode_member", "finite", "ttl_ms")


def encode_member(member: object) -> bytes:
    """A member as Redis stores it: any ``str`` (lone surrogates included), exactly."""
    if not isinstance(member, str):
        raise ConfigurationError(f"members are str, got {type(member).__name__}: {member!r}")
    return member.encode("utf-8", "surrogatepass")


def decode_member(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def finite(name: str, value: object) -> float:
    """A score or an increment: a finite number (Redis would refuse NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def ttl_ms(ttl: Duration | None) -> int:
    """A structure's optional time to live in whole ms; 0 for none."""
    if ttl is None:
        return 0
    return max(1, math.ceil(check_seconds("ttl", ttl, minimum=0.001) * 1000))
