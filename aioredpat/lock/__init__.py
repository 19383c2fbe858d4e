"""Locks: ``Lock`` (one Redis), ``Redlock`` (a majority of independent masters)."""

from ._lock import Lock as Lock
from ._lock import LockLease as LockLease
from ._redlock import Redlock as Redlock

__all__ = ("Lock", "LockLease", "Redlock")
