"""Shared helpers for the benchmarks: a server to run against, medians and ratios."""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator
from pathlib import Path

from aioredpat._launcher import RedisServer

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """``REDIS_URL`` when set, otherwise a throwaway server started for the run."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with RedisServer() as server:
        yield server.url


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
