"""Runs one page's Python blocks (JSON on stdin) as a reader would, in this process.

Each block runs in a namespace of its own unless it is marked as continuing the one
before; top-level ``await`` runs on one event loop kept for the whole page, so objects made
by one block can be used by the blocks that continue it. ``REDIS_URL`` (a throwaway
server) replaces ``redis://localhost:6379`` in the code. A block that defines
``async def main()`` without calling it has it run (``main(pool)`` gets a ``RedisPool``).
Prints one line per block.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

URL = os.environ["REDIS_URL"].rstrip("/").removesuffix("/0")


async def run_main(entry: Any) -> None:
    """A block's ``async def main()`` is what it runs; ``main(pool)`` is given a pool."""
    if "pool" not in inspect.signature(entry).parameters:
        await entry()
        return
    from aioredpat import RedisPool

    async with RedisPool.from_url(URL) as pool:
        await entry(pool)


def run_as_tests(block: dict[str, Any]) -> int:
    """A block of pytest tests runs under pytest, in pytest-asyncio's default strict mode,
    with aioredpat's plugin as a user's project has it; 1 when it fails."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "test_doc_block.py"
        path.write_text(block["code"])
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-o", "asyncio_mode=strict", str(path)],
            capture_output=True, text=True, cwd=directory, timeout=300,
        )  # fmt: skip
    if done.returncode != 0:
        print(f"FAILED {block['where']}\n{done.stdout}{done.stderr}", flush=True)
        return 1
    print(f"ok {block['where']}", flush=True)
    return 0


def main() -> int:
    blocks = json.load(sys.stdin)
    loop = asyncio.new_event_loop()
    namespace: dict[str, object] = {}
    failed = 0
    for block in blocks:
        if re.search(r"^(async )?def test_", block["code"], re.M):
            failed += run_as_tests(block)
            continue
        if not block["continued"]:
            namespace = {"__name__": "__doc_example__"}
        source = block["code"].replace("redis://localhost:6379", URL)  # "/0" stays
        try:
            code = compile(
                source, f"{block['where']}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
            )
            if code.co_flags & inspect.CO_COROUTINE:
                loop.run_until_complete(eval(code, namespace))
            else:
                exec(code, namespace)
            entry = namespace.get("main")
            _, defines, after = source.partition("def main(")
            if defines and inspect.iscoroutinefunction(entry) and "main(" not in after:
                loop.run_until_complete(run_main(entry))
        except BaseException:
            failed += 1
            print(f"FAILED {block['where']}\n{traceback.format_exc()}", flush=True)
        else:
            print(f"ok {block['where']}", flush=True)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
