"""A FastAPI service on aioredpat: rate-limited, a cached endpoint, a lock-protected one.

REDIS_URL=redis://localhost:6379/0 uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pydantic
from fastapi import FastAPI, HTTPException

from aioredpat import CacheAside, Lock, LockNotAcquired, RedisPool, TokenBucket
from aioredpat.ratelimit.asgi import RateLimitMiddleware


class Product(pydantic.BaseModel):
    sku: str
    name: str
    price: int


# stands in for the database: a slow lookup
CATALOGUE = {
    f"sku-{i}": Product(sku=f"sku-{i}", name=f"Product {i}", price=100 * i) for i in range(10)
}
INVOICES: dict[str, int] = {}  # invoice id -> fencing token of the payment that settled it


def create_app(redis_url: str) -> FastAPI:
    pool = RedisPool.from_url(redis_url)
    database_reads = 0

    async def load_product(sku: str) -> Product | None:
        nonlocal database_reads
        database_reads += 1
        await asyncio.sleep(0.01)
        return CATALOGUE.get(sku)

    products = CacheAside(pool, namespace="shop:products", ttl=60, model=Product,
                          loader=load_product, negative_ttl=10)  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with pool:
            yield

    app = FastAPI(lifespan=lifespan)
    limiter = TokenBucket(pool, namespace="shop:api", capacity=20, refill_rate=5.0)
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    @app.get("/products/{sku}")
    async def product(sku: str) -> Product:
        found = await products.get(sku)
        if found is None:
            raise HTTPException(404, "no such product")
        return found

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return {"database_reads": database_reads}

    @app.post("/invoices/{invoice_id}/pay")
    async def pay(invoice_id: str) -> dict[str, object]:
        try:
            async with Lock(pool, f"invoice:{invoice_id}", ttl=10.0, blocking_timeout=5.0) as lease:
                if invoice_id in INVOICES:
                    return {"paid": False, "reason": "already paid"}
                await asyncio.sleep(0.02)  # the payment provider
                INVOICES[invoice_id] = lease.fencing_token
                return {"paid": True, "fencing_token": lease.fencing_token}
        except LockNotAcquired:
            raise HTTPException(409, "the invoice is being paid elsewhere") from None

    return app


app = create_app(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
