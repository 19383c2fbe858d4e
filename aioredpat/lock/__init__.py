"""Locks: ``Lock`` (one Redis), ``Redlock`` (a majority of masters), ``Semaphore`` (N holders)."""

from ._lock import Lock as Lock
from ._lock import LockLease as LockLease
from ._redlock import Redlock as Redlock
from ._semaphore import Semaphore as Semaphore

__all__ = ("Lock", "LockLease", "Redlock", "Semaphore")
