"""The plugin's fixture names: prefixed, with the old names as deprecated aliases."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aioredpat import RedisPool


async def test_an_old_name_still_works_and_says_what_replaces_it(
    recwarn: pytest.WarningsRecorder, redis_pool: RedisPool
) -> None:
    await redis_pool.client.set("k", "v")
    assert await redis_pool.client.get("k") == b"v"
    [warning] = [w for w in recwarn.list if issubclass(w.category, DeprecationWarning)]
    assert "redis_pool fixture is now aioredpat_pool" in str(warning.message)


def test_the_server_helpers_import_without_pytest() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "from aioredpat.testing import RedisServer, command_counts, FaultProxy\n"
        "with RedisServer() as server:\n"
        "    assert server.ping()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_bench_says_what_is_missing_before_running(monkeypatch, capsys) -> None:
    report = pytest.importorskip("benchmarks.report")
    monkeypatch.setattr(report, "REQUIRES", (*report.REQUIRES, "a_peer_not_installed"))
    from aioredpat.__main__ import main

    assert main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "a_peer_not_installed" in err and "uv run --group bench" in err
