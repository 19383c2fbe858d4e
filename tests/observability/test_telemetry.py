"""Metrics and spans through the real OpenTelemetry SDK (in-memory reader and exporter)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pydantic
import pytest
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.test.globals_test import reset_trace_globals

from aioredpat import (
    CacheAside,
    Job,
    JobQueue,
    Lock,
    LockLost,
    NearCache,
    RedisPool,
    SlidingWindow,
    StreamConsumer,
    StreamMessage,
    StreamProducer,
    WriteBehind,
)
from tests._wait import eventually

READER = InMemoryMetricReader()
_set = False


class Order(pydantic.BaseModel):
    id: int


@pytest.fixture(scope="module", autouse=True)
def meter_provider() -> Iterator[None]:
    """The SDK's meter provider, set once for the process (OpenTelemetry allows one):
    aioredpat's instruments, made at import from the API's proxies, follow it."""
    global _set
    if not _set:
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
        _set = True
    yield


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    reset_trace_globals()  # the tests after these run without tracing


def points(name: str) -> Counter[tuple[tuple[str, str], ...]]:
    """Each data point's value (a sum's total, a histogram's count) by its attributes."""
    found: Counter[tuple[tuple[str, str], ...]] = Counter()
    data = READER.get_metrics_data()
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count
                    found[tuple(sorted(point.attributes.items()))] += value
    return found


def delta(before: Counter, after: Counter) -> dict:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def attrs(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


async def test_cache_requests_by_result_and_load_duration(aioredpat_conn: RedisPool) -> None:
    calls = 0

    async def load(key: str) -> Order:
        nonlocal calls
        calls += 1
        return Order(id=int(key))

    cache = CacheAside(aioredpat_conn, namespace="otel-c", ttl=0.2, stale_ttl=60, model=Order,
                       loader=load)  # fmt: skip
    requests, loads = points("aioredpat.cache.requests"), points("aioredpat.cache.load.duration")
    await cache.get(1)  # miss
    await cache.get(1)  # hit
    await eventually(lambda: _stale_served(cache))  # past ttl: stale, refreshed behind
    found = delta(requests, points("aioredpat.cache.requests"))
    assert found[attrs(namespace="otel-c", result="miss")] == 1
    assert found[attrs(namespace="otel-c", result="hit")] >= 1
    assert found[attrs(namespace="otel-c", result="stale")] >= 1
    assert delta(loads, points("aioredpat.cache.load.duration"))[attrs(namespace="otel-c")] >= 1


async def _stale_served(cache: CacheAside) -> bool:
    before = points("aioredpat.cache.requests")[attrs(namespace="otel-c", result="stale")]
    await cache.get(1)
    return points("aioredpat.cache.requests")[attrs(namespace="otel-c", result="stale")] > before


async def test_cache_error_is_counted(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url, socket_timeout=0.5, retries=0) as pool:
        cache = CacheAside(pool, namespace="otel-e", ttl=60, fail_open=True)
        await cache.set(1, 1)
        before = points("aioredpat.cache.requests")
        server.kill()
        assert await cache.get(1) is None  # failing open, no loader
        found = delta(before, points("aioredpat.cache.requests"))
        assert found == {attrs(namespace="otel-e", result="error"): 1}


async def test_near_cache_counters(aioredpat_conn: RedisPool) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="otel-n", ttl=60, near_cache=near)
    await cache.set(1, 1)
    await cache.get(1)
    await eventually(lambda: near.ready)
    before = points("aioredpat.cache.near.requests")
    await cache.get(1)  # remembered
    await cache.get(1)  # from memory
    found = delta(before, points("aioredpat.cache.near.requests"))
    assert found[attrs(namespace="otel-n", result="hit")] == 1
    assert found[attrs(namespace="otel-n", result="miss")] == 1
    invalidated = points("aioredpat.cache.near.invalidations")
    await aioredpat_conn.client.delete("otel-n:{1}:v")
    await eventually(lambda: len(near) == 0)
    assert delta(invalidated, points("aioredpat.cache.near.invalidations")) == {
        attrs(namespace="otel-n"): 1
    }


async def test_rate_limit_decisions(aioredpat_conn: RedisPool) -> None:
    limiter = SlidingWindow(aioredpat_conn, namespace="otel-r", limit=2, window=60)
    before = points("aioredpat.ratelimit.decisions")
    for _ in range(3):
        await limiter.hit("user")
    await limiter.peek("user")  # not a decision
    assert delta(before, points("aioredpat.ratelimit.decisions")) == {
        attrs(namespace="otel-r", allowed="true"): 2,
        attrs(namespace="otel-r", allowed="false"): 1,
    }


async def test_lock_wait_and_lost_with_the_name_only_when_asked(aioredpat_conn: RedisPool) -> None:
    before = points("aioredpat.lock.wait.duration")
    async with Lock(aioredpat_conn, "invoice-17", ttl=5):
        pass
    async with Lock(aioredpat_conn, "invoice-18", ttl=5, name_in_metrics=True):
        pass
    found = delta(before, points("aioredpat.lock.wait.duration"))
    assert found == {attrs(namespace="lock"): 1, attrs(namespace="lock", name="invoice-18"): 1}

    lost = points("aioredpat.lock.lost")
    with pytest.raises(LockLost):
        async with Lock(aioredpat_conn, "job", ttl=0.3, auto_extend=True):
            await aioredpat_conn.client.delete("lock:{job}:held")  # taken from under it
            await asyncio.sleep(1.0)  # the watchdog's next extension finds it gone
    assert delta(lost, points("aioredpat.lock.lost")) == {attrs(namespace="lock"): 1}


async def test_stream_messages_by_outcome(aioredpat_conn: RedisPool) -> None:
    await StreamProducer(aioredpat_conn, "otel-orders", model=Order).publish_many(
        [Order(id=i) for i in range(4)]
    )
    before = points("aioredpat.stream.messages")

    async def handle(message: StreamMessage[Order]) -> None:
        if message.data.id == 3:
            raise ValueError("bad order")

    async with StreamConsumer(
        aioredpat_conn, "otel-orders", group="g", consumer="c", handler=handle, model=Order,
        max_deliveries=1, dead_letter="otel-orders:dead",
    ):  # fmt: skip
        await eventually(lambda: _outcomes(before) == {"processed": 3, "failed": 1,
                                                       "dead_lettered": 1})  # fmt: skip


def _outcomes(before: Counter) -> dict[str, int]:
    found = delta(before, points("aioredpat.stream.messages"))
    return {dict(key)["outcome"]: n for key, n in found.items()}


async def test_queue_jobs_by_outcome(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "otel-q", model=int, max_attempts=1)
    enqueued, jobs = points("aioredpat.queue.enqueued"), points("aioredpat.queue.jobs")
    for i in range(3):
        await queue.enqueue(i)

    async def run(job: Job[int]) -> None:
        if job.data == 2:
            raise RuntimeError("no")

    async with queue.worker(run):
        await eventually(lambda: sum(delta(jobs, points("aioredpat.queue.jobs")).values()) == 4)
    assert delta(enqueued, points("aioredpat.queue.enqueued")) == {
        attrs(queue="otel-q", namespace="queue"): 3
    }
    assert delta(jobs, points("aioredpat.queue.jobs")) == {
        attrs(queue="otel-q", namespace="queue", outcome="completed"): 2,
        attrs(queue="otel-q", namespace="queue", outcome="failed"): 1,
        attrs(queue="otel-q", namespace="queue", outcome="dead"): 1,
    }


async def test_write_behind_flushes(aioredpat_conn: RedisPool) -> None:
    written: list[tuple[str, object]] = []

    async def write(batch: list[tuple[str, object]]) -> None:
        written.extend(batch)

    before = points("aioredpat.writebehind.flushed")
    async with WriteBehind(
        aioredpat_conn, namespace="otel-wb", ttl=60, writer=write, model=int
    ) as wb:
        await wb.set("a", 1)
        await wb.flush()
    assert delta(before, points("aioredpat.writebehind.flushed")) == {
        attrs(namespace="otel-wb", outcome="written"): 1
    }


async def test_spans_parent_the_redis_command_spans(aioredpat_conn: RedisPool, spans) -> None:
    RedisInstrumentor().instrument()
    try:
        cache = CacheAside(aioredpat_conn, namespace="otel-s", ttl=60, model=Order)
        await cache.set(1, Order(id=1))
        spans.clear()
        assert await cache.get(1) == Order(id=1)
        limiter = SlidingWindow(aioredpat_conn, namespace="otel-s", limit=5, window=60)
        await limiter.hit("user")
        async with Lock(aioredpat_conn, "otel-s", ttl=5):
            pass
    finally:
        RedisInstrumentor().uninstrument()
    finished = spans.get_finished_spans()
    by_name = {span.name: span for span in finished}
    get = by_name["aioredpat.cache.get"]
    assert dict(get.attributes) == {"namespace": "otel-s"}
    children = [
        s for s in finished if s.parent is not None and s.parent.span_id == get.context.span_id
    ]
    assert [s.name for s in children] == ["GET"]
    assert "aioredpat.ratelimit.hit" in by_name and "aioredpat.lock.acquire" in by_name
    hit = by_name["aioredpat.ratelimit.hit"]
    assert any(s.parent is not None and s.parent.span_id == hit.context.span_id for s in finished)


async def test_no_spans_without_a_tracer_provider(aioredpat_conn: RedisPool) -> None:
    from aioredpat._telemetry import tracing

    assert not tracing()  # the API alone: patterns make no span at all
    cache = CacheAside(aioredpat_conn, namespace="otel-x", ttl=60)
    await cache.set(1, 1)
    assert await cache.get(1) == 1


def test_the_docs_list_every_instrument() -> None:
    from pathlib import Path

    from aioredpat._telemetry import INSTRUMENT_TABLE

    page = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    assert [name for _, _, name, _, _ in INSTRUMENT_TABLE if f"`{name}`" not in page] == []
