"""Run a Lua script through EVALSHA from however aioredpat is installed (used by ``nox -s wheel``).

``python tests/wheel_check.py installed|source|editable`` checks that the scripts are
found where that kind of install puts them, then runs one on a throwaway server, after
SCRIPT FLUSH too.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aioredpat
from aioredpat._executor import executor_for
from aioredpat._launcher import RedisServer
from aioredpat._scripts import LuaScript, lua_dir

EXPECTED_DIR = {"installed": "_lua", "source": "lua", "editable": "lua"}


PACKAGE = Path(aioredpat.__file__).resolve().parent
REPO = Path(__file__).resolve().parent.parent


def smallest_example(kind: str) -> None:
    """The README's smallest complete example, as a user's project runs it on this install."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## The smallest complete example", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    with RedisServer() as server:
        url = server.url.removesuffix("/0")
        exec(compile(code.replace("redis://localhost:6379", url), "README.md", "exec"), {})
    print(f"{kind}: the README's smallest example ran")


async def main(kind: str) -> None:
    package, repo = PACKAGE, REPO
    assert (package.parent == repo) == (kind != "installed"), f"imported {package} for {kind}"
    assert lua_dir().name == EXPECTED_DIR[kind], f"scripts found in {lua_dir()} for {kind}"
    script = LuaScript("core_delete_if_equals")
    with RedisServer() as server:
        async with aioredpat.RedisPool.from_url(server.url) as pool:
            executor = executor_for(pool)
            for _ in range(2):
                await pool.client.set("k", "v")
                assert await executor.run_script(script, ["k"], ["v"]) == 1
                await pool.client.script_flush()
            calls = (await pool.client.info("commandstats"))["cmdstat_evalsha"]["calls"]
            assert calls == 4, calls  # each call met NOSCRIPT (new server, then flushed): retried
    from aioredpat.ops._dashboard import PAGE  # a data file of the package, not a module

    assert "aioredpat dashboard" in PAGE
    print(f"{kind}: aioredpat from {package}, scripts from {lua_dir()}: EVALSHA ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
    smallest_example(sys.argv[1])
