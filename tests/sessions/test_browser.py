"""The example sessions app in a real browser: headless Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aioredpat import RedisPool, SessionStore
from tests._serve import serving

playwright = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (.ci/run installs Debian's)"
)


@pytest.fixture
async def site(aioredpat_redis_url: str) -> AsyncIterator[str]:
    """The example app under uvicorn, on a free port of localhost."""

    def command(port: int) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "examples.sessions_app:app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        ]  # fmt: skip

    async with serving(command, {"REDIS_URL": aioredpat_redis_url}) as port:
        yield f"http://localhost:{port}"


async def test_login_rotation_and_logout_everywhere(site: str, aioredpat_pool: RedisPool) -> None:
    store = SessionStore(aioredpat_pool)
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            laptop = await browser.new_context()
            page = await laptop.new_page()
            await page.goto(site)
            assert await page.text_content("#user") == "anonymous"
            for _ in range(2):
                await page.click("#more")
                await page.wait_for_load_state()
            assert await page.text_content("#count") == "2"

            (cookie,) = [c for c in await laptop.cookies() if c["name"] == "session"]
            assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
            assert cookie["expires"] > 0  # Max-Age: a persistent cookie, not a browser one
            before = cookie["value"]
            assert await store.get(before) == {"count": 2}

            await page.fill("#name", "ann")
            await page.click("#login")
            await page.wait_for_load_state()
            assert await page.text_content("#user") == "ann"
            assert await page.text_content("#count") == "2"  # the data moved with the session
            (cookie,) = [c for c in await laptop.cookies() if c["name"] == "session"]
            assert cookie["value"] != before
            assert await store.get(before) is None  # the pre-login id is dead

            phone = await browser.new_context()
            other = await phone.new_page()
            await other.goto(site)
            await other.fill("#name", "ann")
            await other.click("#login")
            await other.wait_for_load_state()
            assert await other.text_content("#user") == "ann"
            await other.click("#everywhere")
            await other.wait_for_load_state()
            assert await other.text_content("#user") == "anonymous"

            await page.reload()
            assert await page.text_content("#user") == "anonymous"  # ended everywhere
            assert await page.text_content("#count") == "0"
        finally:
            await browser.close()
