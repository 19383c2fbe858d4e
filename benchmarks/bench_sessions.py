"""Session middleware side by side: aioredpat's against starsessions' Redis store.

The same Starlette app behind each middleware, on one Redis, driven in-process through
httpx's ASGI transport (no sockets, so the middleware and the store are what is
measured): a request that reads the session and one that changes it, 1 and 20 clients
(each with its own cookie) at once, alternating rounds, medians.

Bar: requests/s >= 1.0x starsessions.

    uv run --group bench python -m benchmarks.bench_sessions [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starsessions import SessionAutoloadMiddleware
from starsessions import SessionMiddleware as StarSessionMiddleware
from starsessions.stores.redis import RedisStore

from aioredpat import RedisPool, SessionMiddleware, SessionStore
from benchmarks._common import median, redis_url, table


def starlette_app() -> Starlette:
    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.session.get("n", 0)))

    async def change(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    return Starlette(routes=[Route("/read", read), Route("/change", change)])


def contenders(url: str, pool: RedisPool) -> dict[str, Any]:
    ours = SessionMiddleware(starlette_app(), SessionStore(pool, ttl=3600))
    store = RedisStore(connection=redis.Redis.from_url(url, max_connections=64))
    theirs = StarSessionMiddleware(
        SessionAutoloadMiddleware(starlette_app()), store=store, lifetime=3600, rolling=True
    )
    return {"aioredpat SessionMiddleware": ours, "starsessions RedisStore": theirs}


async def rate(app: Any, path: str, requests: int, clients: int) -> float:
    async def client(count: int) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://bench") as http:
            await http.get("/change")  # the session exists and the cookie is set
            for _ in range(count):
                answer = await http.get(path)
                assert answer.status_code == 200

    started = time.perf_counter()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return requests / (time.perf_counter() - started)


async def measure(url: str, requests: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, list[float]]] = {}
    async with RedisPool.from_url(url) as pool:
        apps = contenders(url, pool)
        for path in ("/read", "/change"):
            for clients in (1, 20):
                label = f"{path.strip('/')} the session, {clients} client(s)"
                runs: dict[str, list[float]] = {name: [] for name in apps}
                for r in range(rounds):
                    order: list[tuple[str, Callable[..., Any]]] = list(apps.items())
                    for name, app in order if r % 2 == 0 else reversed(order):
                        runs[name].append(await rate(app, path, requests, clients))
                results[label] = runs
    return {label: {n: median(v) for n, v in by.items()} for label, by in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        results = asyncio.run(measure(url, args.requests, args.rounds))
    ours, theirs = "aioredpat SessionMiddleware", "starsessions RedisStore"
    for label, rates in results.items():
        print(f"\n{label}, medians of {args.rounds} rounds\n")
        rows = [("middleware", "requests/s", "aioredpat vs this")]
        rows += [(n, f"{v:,.0f}", f"{rates[ours] / v:.2f}x") for n, v in rates.items()]
        print(table(rows))
        met = rates[ours] / rates[theirs] >= 1.0
        print(f"{'met' if met else 'MISSED'}: >= 1.0x starsessions")


if __name__ == "__main__":
    main()
