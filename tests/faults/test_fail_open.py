"""Fail-open answers after the socket timeout, and at once while Redis is known down."""

from __future__ import annotations

import httpx
import pytest
from redis.exceptions import RedisError

from aioredpat import CacheAside, RedisPool, TokenBucket
from aioredpat.ratelimit.asgi import RateLimitMiddleware

SOCKET_TIMEOUT = 2.0  # generous: the healthy calls before the fault must not time out


async def test_a_fail_open_cache_skips_redis_while_it_is_down(
    aioredpat_server_factory, aioredpat_proxy_factory
) -> None:
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    loads = 0

    async def load(key: str) -> str:
        nonlocal loads
        loads += 1
        return f"value of {key}"

    async with RedisPool.from_url(proxy.url, socket_timeout=SOCKET_TIMEOUT) as pool:
        cache = CacheAside(pool, namespace="c", ttl=60, loader=load, fail_open=True)
        assert await cache.get("a") == "value of a"  # stored
        proxy.pause()
        before = proxy.accepted
        assert await cache.get("b") == "value of b"  # its GET timed out: from the loader
        assert proxy.accepted == before  # given up at the deadline, not retried
        sent = proxy.sent
        for key in "cdef":
            assert await cache.get(key) == f"value of {key}"
        assert proxy.sent == sent  # known down: nothing more was sent to Redis
        assert loads == 6
        proxy.resume()


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("fail_open", [True, False])
async def test_the_middleware_fails_open_only_when_asked(
    aioredpat_server_factory, aioredpat_proxy_factory, fail_open
) -> None:
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with RedisPool.from_url(proxy.url, socket_timeout=SOCKET_TIMEOUT) as pool:
        limiter = TokenBucket(pool, namespace="api", capacity=100, refill_rate=1)
        app = RateLimitMiddleware(_ok, limiter=limiter, fail_open=fail_open)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert "ratelimit" in (await http.get("/")).headers
            proxy.pause()
            if not fail_open:
                with pytest.raises(RedisError):
                    await http.get("/")
                return
            sent = None
            for _ in range(5):
                response = await http.get("/")
                assert response.status_code == 200 and "ratelimit" not in response.headers
                sent = proxy.sent if sent is None else sent
            assert proxy.sent == sent  # after the first, nothing was sent to Redis
        proxy.resume()
