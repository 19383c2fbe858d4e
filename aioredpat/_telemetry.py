"""OpenTelemetry metrics and spans for every pattern, through this one module.

With ``opentelemetry-api`` installed (``aioredpat[otel]``), instruments come from the global
meter provider: proxies until the application sets an SDK provider, which they then follow,
so patterns made before the SDK is configured still report. Without the package every
call here is a no-op: one global lookup and a branch.

Spans (``aioredpat.cache.get``, ``aioredpat.lock.acquire``...) are made only while an SDK
tracer provider is set: with the API alone, a span would cost a context switch per call and
record nothing. A pattern's span is current while its Redis commands are sent, so
OpenTelemetry's redis instrumentation parents its command spans under it.

Attributes stay low-cardinality: namespaces, stream, group and queue names; a lock's name
only when the lock was made with ``name_in_metrics=True``.

Counters are counted here and handed to OpenTelemetry as observable counters, read when the
SDK collects: a pattern call adds to a dict entry (tens of nanoseconds) instead of going
through the SDK's ``Counter.add``, which validates and hashes the attributes on every call
(microseconds: a tenth of a cache hit). The values are the same cumulative sums.
Histograms (load and lock-wait durations) are recorded directly: they are not per hit.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

__all__ = ("INSTRUMENTS", "Instruments", "attributes", "clock", "span")

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # the extra is not installed
    _metrics = _trace = None  # type: ignore[assignment]


class AttributeSet(dict[str, str]):
    """A pattern's attributes, made once per pattern instance: ``key`` identifies the set by
    its content, so counts of equal sets from different instances add up."""

    __slots__ = ("key",)

    def __init__(self, **values: str) -> None:
        super().__init__(values)
        self.key = tuple(sorted(values.items()))


Attributes = AttributeSet


class CountedCounter:
    """A counter whose sums are kept here and observed by the SDK at collection."""

    __slots__ = ("_sums",)

    def __init__(self, meter: Any, name: str, unit: str, description: str) -> None:
        self._sums: dict[tuple[tuple[str, str], ...], list[Any]] = {}
        meter.create_observable_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )

    def add(self, amount: int, attributes: AttributeSet) -> None:
        entry = self._sums.get(attributes.key)
        if entry is None:
            self._sums[attributes.key] = [amount, attributes]
        else:
            entry[0] += amount

    def _observe(self, options: Any) -> Iterator[Any]:
        for total, attributes in list(self._sums.values()):
            yield _metrics.Observation(total, dict(attributes))


clock = time.perf_counter


# (attribute, kind, instrument name, unit, description): every instrument aioredpat records
INSTRUMENT_TABLE = (
    ("cache_requests", "counter", "aioredpat.cache.requests", "{request}",
     "Cache reads by result: hit, miss, stale (served while refreshed), error"),
    ("cache_load", "histogram", "aioredpat.cache.load.duration", "s",
     "Loader calls on a miss"),
    ("near_requests", "counter", "aioredpat.cache.near.requests", "{request}",
     "Near-cache lookups by result: hit (no round trip) or miss"),
    ("near_invalidations", "counter", "aioredpat.cache.near.invalidations", "{entry}",
     "Near-cache copies dropped because Redis said the key changed"),
    ("ratelimit_decisions", "counter", "aioredpat.ratelimit.decisions", "{request}",
     "Rate-limit hits by outcome: allowed true or false"),
    ("lock_wait", "histogram", "aioredpat.lock.wait.duration", "s",
     "Time from asking for a lock to holding it (acquired) or giving up"),
    ("lock_lost", "counter", "aioredpat.lock.lost", "{lease}",
     "Leases lost while their block ran (LockLost raised)"),
    ("stream_messages", "counter", "aioredpat.stream.messages", "{message}",
     "Stream entries handled by outcome: processed, failed, dead_lettered"),
    ("queue_jobs", "counter", "aioredpat.queue.jobs", "{job}",
     "Jobs run by outcome: completed, failed, dead"),
    ("queue_enqueued", "counter", "aioredpat.queue.enqueued", "{job}", "Jobs enqueued"),
    ("writebehind_flushed", "counter", "aioredpat.writebehind.flushed", "{change}",
     "Write-behind changes handed to the writer, by outcome: written, failed"),
)  # fmt: skip


class Instruments:
    """Every instrument of ``INSTRUMENT_TABLE``, made once from the global meter provider."""

    cache_requests: Any
    cache_load: Any
    near_requests: Any
    near_invalidations: Any
    ratelimit_decisions: Any
    lock_wait: Any
    lock_lost: Any
    stream_messages: Any
    queue_jobs: Any
    queue_enqueued: Any
    writebehind_flushed: Any

    def __init__(self, meter: Any) -> None:
        for attribute, kind, name, unit, description in INSTRUMENT_TABLE:
            if kind == "counter":
                instrument: Any = CountedCounter(meter, name, unit, description)
            else:
                instrument = meter.create_histogram(name, unit=unit, description=description)
            setattr(self, attribute, instrument)


def _make() -> Instruments | None:
    if _metrics is None:
        return None
    return Instruments(_metrics.get_meter("aioredpat"))


INSTRUMENTS: Instruments | None = _make()


def attributes(**values: str) -> AttributeSet:
    """An attribute set, made once per pattern instance and reused on every call."""
    return AttributeSet(**values)


_UNKNOWN = object()
# a provider named by the environment is loaded by OpenTelemetry on first ask
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
_last: tuple[object, Any] = (None, None)  # (the provider last seen, its tracer or None)


def _tracing() -> Any:
    """The tracer when an SDK tracer provider is set, else ``None``. Asked on every pattern
    call, so it reads the API's global directly where it can (``get_tracer_provider()``
    looks up ``os.environ`` each time) and keeps the tracer of the provider it last saw."""
    global _last
    if _trace is None:
        return None
    provider: Any = getattr(_trace, "_TRACER_PROVIDER", _UNKNOWN)
    if provider is None and not _PROVIDER_FROM_ENV:
        return None  # none set: the common case, in two lookups
    if provider is None or provider is _UNKNOWN:
        provider = _trace.get_tracer_provider()
    if provider is _last[0]:
        return _last[1]
    no_sdk = isinstance(provider, _trace.ProxyTracerProvider | _trace.NoOpTracerProvider)
    tracer = None if no_sdk else provider.get_tracer("aioredpat")
    _last = (provider, tracer)
    return tracer


@contextlib.contextmanager
def _no_span() -> Iterator[None]:
    yield


def span(name: str, attrs: Attributes) -> contextlib.AbstractContextManager[Any]:
    """A span named ``name`` made current for the ``with`` block, or a no-op."""
    tracer = _tracing()
    if tracer is None:
        return _no_span()
    return tracer.start_as_current_span(name, attributes=attrs)  # type: ignore[no-any-return]


def tracing() -> bool:
    """Whether spans are recorded now (an SDK tracer provider is set)."""
    return _tracing() is not None
