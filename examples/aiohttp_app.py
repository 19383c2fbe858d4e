"""An aiohttp service on aioredpat: a token bucket per client and a cached endpoint.

REDIS_URL=redis://localhost:6379/0 python -m examples.aiohttp_app
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from aioredpat import RedisPool, TokenBucket, cached

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(redis_url: str) -> web.Application:
    pool = RedisPool.from_url(redis_url)
    limiter = TokenBucket(pool, namespace="weather:api", capacity=10, refill_rate=2.0)
    lookups = {"count": 0}

    @cached(pool, namespace="weather:forecast", ttl=30)
    async def forecast(city: str) -> dict[str, object]:
        lookups["count"] += 1
        await asyncio.sleep(0.01)  # a slow upstream API
        return {"city": city, "high": 21, "low": 12}

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        result = await limiter.hit(request.remote or "unknown")
        if not result.allowed:
            raise web.HTTPTooManyRequests(headers={"Retry-After": f"{result.retry_after:.0f}"})
        return await handler(request)

    async def get_forecast(request: web.Request) -> web.Response:
        return web.json_response(await forecast(request.match_info["city"]))

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"upstream_lookups": lookups["count"]})

    async def close_pool(app: web.Application) -> AsyncIterator[None]:
        async with pool:
            yield

    app = web.Application(middlewares=[rate_limit])
    app.router.add_get("/forecast/{city}", get_forecast)
    app.router.add_get("/stats", stats)
    app.cleanup_ctx.append(close_pool)
    return app


if __name__ == "__main__":
    web.run_app(create_app(os.environ.get("REDIS_URL", "redis://localhost:6379/0")))
