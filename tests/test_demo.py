from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aioredpat import demo

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_runs_every_pattern_and_passes(aioredpat_redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": aioredpat_redis_url}
    done = subprocess.run(
        [sys.executable, "-m", "aioredpat", "demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 check(s) failed" in done.stdout
    assert "FAIL" not in done.stdout
    for measured in (
        "cache hit ratio",
        "orders dead-lettered",
        "rows written to SQLite",
        "session ids stored in Redis",
        "receipts sent / dead",
        "top spenders",
    ):
        assert measured in done.stdout


def test_without_a_server_the_demo_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(demo, "find_redis_server", lambda: None)
    said: list[str] = []
    assert demo.main(out=said.append) == 2
    assert "no redis-server found" in said[0] and "REDIS_URL" in said[0]
