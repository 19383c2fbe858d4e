"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioredpat import JobQueue, Lock, RedisPool, StreamProducer
from tests._serve import serving

playwright = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = ROOT / "docs" / "assets" / "dashboard.png"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (.ci/run installs Debian's)"
)


@pytest.fixture
async def dashboard(aioredpat_redis_url: str) -> AsyncIterator[str]:
    """``aioredpat dashboard`` as a user starts it, on a free port of localhost."""

    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "aioredpat", "dashboard", "--url", aioredpat_redis_url,
            "--port", str(port),
        ]  # fmt: skip

    async with serving(command) as port:
        yield f"http://127.0.0.1:{port}/"


async def test_the_page_shows_pending_entries_and_a_held_lock(
    dashboard: str, aioredpat_pool: RedisPool
) -> None:
    client = aioredpat_pool.client
    await StreamProducer(aioredpat_pool, "orders").publish_many([{"id": i} for i in range(5)])
    await client.xgroup_create("orders", "billing", "0")
    read = await client.xreadgroup("billing", "worker-1", {"orders": ">"}, count=2)
    queue = JobQueue(aioredpat_pool, "emails", model=int)
    for i in range(3):
        await queue.enqueue(i)
    async with (
        Lock(aioredpat_pool, "invoice-run", ttl=60) as lease,
        playwright.async_playwright() as driver,
    ):
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.goto(dashboard)
            row = page.locator('#streams tr[data-stream="orders"]')
            await row.wait_for(timeout=30_000)
            assert await row.locator("td.pending").text_content() == "2"
            assert "worker-1 (2)" in (await row.text_content() or "")
            lock = page.locator('#locks tr[data-lock="invoice-run"]')
            await lock.wait_for(timeout=30_000)
            assert await lock.locator("td.held").text_content() == "yes"
            assert await lock.locator("td.fence").text_content() == str(lease.fencing_token)
            jobs = page.locator('#queues tr[data-queue="emails"]')
            await jobs.wait_for(timeout=30_000)
            assert (await jobs.text_content() or "").startswith("emails3")
            # live: an acknowledgement shows on the page without a reload
            entry_id = read[0][1][0][0]
            await client.xack("orders", "billing", entry_id)
            await page.wait_for_function(
                """() => document.querySelector('#streams tr[data-stream="orders"] td.pending')
                   .textContent === '1'""",
                timeout=30_000,
            )
            await page.wait_for_function(
                "() => document.querySelectorAll('#lag-chart polyline').length > 0",
                timeout=30_000,
            )
            if os.environ.get("AIOREDPAT_DOCS_SCREENSHOTS"):
                await page.wait_for_timeout(3000)  # a few points on the charts
                await page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            await browser.close()
