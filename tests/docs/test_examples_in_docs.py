"""Every Python block of README.md and docs/ runs, against a real server.

A block is complete, or continues the block before it on its page when the line above
it is ``<!-- continued -->``; a block that cannot run here (it needs a service this machine
lacks) says so with ``<!-- not run: why -->`` and is counted, never silently left out.
Each page runs in a process of its own (OpenTelemetry's providers, signal handlers and
event loops stay per page), with ``redis://localhost:6379`` pointed at a throwaway server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:^(?P<mark><!--[^\n]*-->)\n)?^```python\n(?P<code>.*?)^```", re.M | re.S)


def blocks(page: Path) -> list[dict[str, object]]:
    found = []
    text = page.read_text()
    for match in BLOCK.finditer(text):
        mark = match["mark"] or ""
        line = text.count("\n", 0, match.start("code")) + 1
        found.append({
            "where": f"{page.relative_to(ROOT)}:{line}",
            "code": match["code"],
            "continued": "continued" in mark,
            "skip": mark.removeprefix("<!-- not run:").removesuffix("-->").strip()
            if mark.startswith("<!-- not run:") else None,
        })  # fmt: skip
    return found


RUN = [page for page in PAGES if blocks(page)]


@pytest.mark.parametrize("page", RUN, ids=lambda p: p.name)
def test_every_block_of_the_page_runs(page: Path, aioredpat_redis_url: str) -> None:
    found = [block for block in blocks(page) if block["skip"] is None]
    env = {**os.environ, "REDIS_URL": aioredpat_redis_url}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_run_blocks.py"))],
        input=json.dumps(found), capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("\nok ") + done.stdout.startswith("ok ") == len(found)


def test_blocks_not_run_say_why() -> None:
    skipped = [block for page in PAGES for block in blocks(page) if block["skip"] is not None]
    assert all(block["skip"] for block in skipped)
    assert len(skipped) <= 3, [block["where"] for block in skipped]  # keep it rare
