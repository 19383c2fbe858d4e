from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aioredpat import MultiLimit, RedisPool, SlidingWindow, TokenBucket
from aioredpat.ratelimit.asgi import RateLimitMiddleware

calls: list[str] = []


async def plain_app(scope, receive, send) -> None:
    calls.append(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def starlette_app() -> Starlette:
    async def hello(request):
        calls.append(request.url.path)
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/hello", hello)])


def client_for(app, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


async def test_allowed_requests_carry_ratelimit_headers(aioredpat_conn: RedisPool) -> None:
    limiter = SlidingWindow(aioredpat_conn, namespace="http", limit=3, window=60.0)
    async with client_for(RateLimitMiddleware(plain_app, limiter=limiter)) as client:
        response = await client.get("/a")
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["x-app"] == "1"
    assert response.headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert response.headers["ratelimit"] == '"default";r=2;t=60'


async def test_denied_requests_get_429_and_never_reach_the_app(aioredpat_conn: RedisPool) -> None:
    limiter = TokenBucket(aioredpat_conn, namespace="http", capacity=2, refill_rate=0.5)
    async with client_for(RateLimitMiddleware(starlette_app(), limiter=limiter)) as client:
        responses = [await client.get("/hello") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429]
    assert calls == ["/hello", "/hello"]
    denied = responses[2]
    assert denied.headers["retry-after"] == "2"  # one token at 0.5/s
    assert denied.headers["ratelimit"].startswith('"default";r=0;')
    assert denied.text == "Too Many Requests"


async def test_clients_are_limited_separately_and_exempt_ones_pass(aioredpat_conn: RedisPool):
    limiter = SlidingWindow(aioredpat_conn, namespace="http", limit=1, window=60.0)

    def identify(scope):
        return None if scope["path"] == "/health" else scope["client"][0]

    app = RateLimitMiddleware(plain_app, limiter=limiter, identify=identify)
    async with client_for(app, "198.51.100.1") as first, client_for(app, "198.51.100.2") as second:
        assert (await first.get("/x")).status_code == 200
        assert (await first.get("/x")).status_code == 429
        assert (await second.get("/x")).status_code == 200
        health = [await first.get("/health") for _ in range(5)]
    assert {r.status_code for r in health} == {200}
    assert "ratelimit" not in health[0].headers


async def test_async_identify_and_cost_per_route(aioredpat_conn: RedisPool) -> None:
    limiter = SlidingWindow(aioredpat_conn, namespace="http", limit=5, window=60.0)

    async def identify(scope):
        return dict(scope["headers"]).get(b"x-api-key", b"anonymous").decode()

    app = RateLimitMiddleware(
        plain_app,
        limiter=limiter,
        identify=identify,
        cost=lambda scope: 3 if scope["path"].startswith("/search") else 1,
    )
    async with client_for(app) as client:
        headers = {"x-api-key": "key-1"}
        assert (
            (await client.get("/search", headers=headers))
            .headers["ratelimit"]
            .startswith('"default";r=2;')
        )
        assert (await client.get("/search", headers=headers)).status_code == 429
        assert (await client.get("/item", headers=headers)).status_code == 200
        assert (await client.get("/search", headers={"x-api-key": "key-2"})).status_code == 200


async def test_multi_limit_policies_are_listed(aioredpat_conn: RedisPool) -> None:
    limiter = MultiLimit(aioredpat_conn, namespace="http", limits=[(10, 1.0), (1000, 3600.0)])
    app = RateLimitMiddleware(plain_app, limiter=limiter, policy_name="api")
    async with client_for(app) as client:
        response = await client.get("/")
    assert response.headers["ratelimit-policy"] == '"api";q=10;w=1, "api-1";q=1000;w=3600'


async def test_lifespan_and_websocket_scopes_pass_through(aioredpat_pool: RedisPool) -> None:
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    limiter = SlidingWindow(aioredpat_pool, namespace="http", limit=1, window=60.0)
    middleware = RateLimitMiddleware(app, limiter=limiter)
    for kind in ("lifespan", "websocket", "websocket"):
        await middleware({"type": kind, "client": ("1.2.3.4", 1)}, None, None)
    assert seen == ["lifespan", "websocket", "websocket"]
