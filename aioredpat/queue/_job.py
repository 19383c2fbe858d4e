"""What a handler is given, and what ``JobQueue.stats`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ("Job", "QueueStats")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job(Generic[T]):
    """One job: its ``id`` (the one ``enqueue`` returned), its ``data`` (a ``T``),
    ``attempt`` (1 on the first run) and ``error``, why the last run failed (``None``
    before any failure)."""

    id: str
    data: T
    attempt: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs are waiting for a worker, delayed (or waiting out a retry's backoff),
    running (leased to a worker) and dead."""

    waiting: int
    delayed: int
    running: int
    dead: int
