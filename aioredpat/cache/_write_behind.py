"""``WriteBehind``: values written to Redis now, and to the database by background flushers.

Keys are spread over ``shards`` (1 on a standalone server, 16 on a cluster by default); shard
``i`` holds, in one hash slot, the values (``<ns>:{s<i>}:v:<key>``) and the queue: a stream
``<ns>:{s<i>}:q`` read by the consumer group ``flushers``. A write is one script that sets
the value and appends ``k``/``o``/``v`` (key, "set" or "del", value) to the queue.

Each shard is flushed by one flusher at a time, which holds the shard's lease
(``<ns>:{s<i>}:owner``, renewed every ``claim_idle / 3`` seconds): so batches of one shard
reach the writer one after another and writes of one key stay in order. A flusher that dies
stops renewing; once the lease has lapsed (``claim_idle`` seconds) another flusher takes the
shard and, first, every entry still pending in it.

The lease fences the writer: a shard's loop confirms its lease in Redis (and renews it)
right before every writer call, and counts it valid locally only until the lease would have
lapsed since the last confirmation was sent. A loop that lost its lease (a restart wiped
it, an outage outlasted it, another flusher took over) stops before it writes again, and a
process runs at most one loop per shard: a shard is taken again only once its old loop has
ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import secrets
import socket
import zlib
from collections.abc import Awaitable, Callable, Sequence
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import anyio
from redis.exceptions import ResponseError

from .._backoff import FAILURES, Backoff
from .._checks import OneRun, check_async, check_count, check_name, check_seconds
from .._executor import Executor, as_text, executor_for
from .._groups import Entry, claim, create_group, next_id
from .._keys import KeyBuilder, escape, identifier
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes
from .._types import Connection, Duration, WriteBehindOptions
from ..errors import SerializationError
from ..serializers import Serializer, resolve_serializer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("WriteBehind",)

log = logging.getLogger("aioredpat")

T = TypeVar("T")
Writer = Callable[[Sequence[tuple[str, Any]]], Awaitable[object]]

WRITE = LuaScript("writebehind_write")
GROUP = "flushers"


class _Change:
    __slots__ = ("attempts", "data", "entry_id", "key", "op")

    def __init__(self, entry_id: str, key: str, op: str, data: bytes) -> None:
        self.entry_id, self.key, self.op, self.data = entry_id, key, op, data
        self.attempts = 0  # failures on its own, while other writes succeeded


class WriteBehind(Generic[T]):
    """A Redis-first store whose changes reach ``writer`` (the database) in the background.

    ``await wb.set(key, value)`` returns once the value is readable (``await wb.get(key)``)
    and its change durably queued: one round trip. ``async with wb:`` runs flushers that
    call ``writer(batch)`` with at most ``batch_size`` ``(key, value)`` pairs at least every
    ``flush_interval`` seconds, each key once with its latest value; a deleted key comes as
    ``(key, None)``. A failing writer is retried with backoff; nothing leaves the queue before
    the writer took it. A batch that keeps failing is split to find the entries that fail on
    their own; one that fails alone ``max_attempts`` times while other writes succeed moves
    to the ``dead_letter`` stream (``<namespace>:dead`` unless given) with the error.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        writer: Writer,
        model: type[T],
        **options: Unpack[WriteBehindOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        writer: Writer,
        serializer: Serializer[T],
        **options: Unpack[WriteBehindOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: WriteBehind[Any],
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        writer: Writer,
        model: UnionType | None = None,
        **options: Unpack[WriteBehindOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        writer: Writer,
        batch_size: int = 100,
        flush_interval: Duration = 1.0,
        claim_idle: Duration = 30.0,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        max_attempts: int = 10,
        dead_letter: str | None = None,
        shards: int | None = None,
        stop_timeout: Duration = 30.0,
        max_backoff: Duration = 30.0,
    ) -> None:
        check_async("writer", writer)
        self.ttl = check_seconds("ttl", ttl)
        self.batch_size = check_count("batch_size", batch_size)
        self.flush_interval = check_seconds("flush_interval", flush_interval)
        self.claim_idle = check_seconds("claim_idle", claim_idle)
        self.max_attempts = check_count("max_attempts", max_attempts)
        self.stop_timeout = check_seconds("stop_timeout", stop_timeout)
        self.max_backoff = check_seconds("max_backoff", max_backoff)
        self._keys = KeyBuilder(namespace)
        self._outcomes = {
            outcome: attributes(namespace=namespace, outcome=outcome)
            for outcome in ("written", "failed")
        }
        self._executor = executor_for(conn)
        default_shards = 16 if self._executor.is_cluster else 1
        self.shards = default_shards if shards is None else check_count("shards", shards)
        self.dead_letter = check_name("dead_letter", dead_letter or f"{namespace}:dead")
        self._writer = writer
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._run = OneRun()
        self._flush_now: list[asyncio.Event] = []  # per shard, while flushers run
        self._lease_ms = max(1, math.ceil(self.claim_idle * 1000))
        self.flushed = 0  # changes the writer took, over this object's life
        self.batches = 0
        self.failures = 0  # writer calls that raised
        self.dead_lettered = 0

    def __repr__(self) -> str:
        return f"WriteBehind(namespace={self._keys.prefix[:-1]!r}, shards={self.shards})"

    # -- keys -----------------------------------------------------------------------------

    def _shard_of(self, key: str) -> int:
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.shards

    def _shard_tag(self, shard: int) -> str:
        return self._keys.tag(f"s{shard}")

    def _value_key(self, key: str) -> str:
        return f"{self._shard_tag(self._shard_of(key))}:v:{escape(key)}"

    def _queue(self, shard: int) -> str:
        return f"{self._shard_tag(shard)}:q"

    # -- the application's side ----------------------------------------------------------

    async def set(self, key: str | int, value: T) -> str:
        """Store ``value`` and queue it for the writer, atomically; returns the queue id.

        ``None`` is refused (``SerializationError``): the writer receives ``(key, None)``
        for a deletion, so a stored ``None`` could not be told apart; use ``delete``."""
        name = identifier(key)
        data = self._executor.sized(
            self._serializer.dumps(value)
        )  # a model that does not admit None refuses it
        if value is None:
            raise SerializationError(
                f"{self!r}.set({name!r}, None): None tells the writer the key was deleted; "
                "call delete() for that"
            )
        return await self._write(name, "set", data)

    async def delete(self, key: str | int) -> str:
        """Remove the value and queue the deletion (the writer gets ``(key, None)``)."""
        return await self._write(identifier(key), "del", b"")

    async def _write(self, name: str, op: str, data: bytes) -> str:
        shard = self._shard_of(name)
        keys = [self._value_key(name), self._queue(shard)]
        ttl_ms = max(1, math.ceil(self.ttl * 1000))
        raw_name = name.encode("utf-8", "surrogatepass")  # the writer gets the key back as given
        return as_text(await self._executor.run_script(WRITE, keys, [raw_name, op, data, ttl_ms]))

    async def get(self, key: str | int) -> T | None:
        """The value last set (one GET), or ``None``; an undecodable value is ``None``."""
        name = identifier(key)
        data = await self._executor.get(self._value_key(name))
        if data is None:
            return None
        try:
            return self._serializer.loads(data)
        except Exception as error:
            log.warning("%r: value of %r cannot be decoded (%r)", self, name, error)
            return None

    async def flush(self) -> None:
        """Wait until every change queued so far (by anyone) has reached the writer.

        Flushers of this object stop waiting for ``flush_interval`` and flush at once; other
        processes' flushers are waited for (bound the wait with ``anyio.fail_after``).
        """
        targets = await self._queue_tails()
        if targets and not self._run.running:
            await self._check_flushers(targets)
        for event in self._flush_now:
            event.set()
        while not await self._all_taken(targets):  # noqa: ASYNC110 - the state is in Redis
            await anyio.sleep(0.02)

    async def _check_flushers(self, targets: dict[int, str]) -> None:
        """Raise rather than wait forever when a shard with queued changes has no flusher
        (none in this process, and no lease held in Redis by any other)."""
        batch = self._executor.batch()
        for shard in targets:
            batch.command("EXISTS", f"{self._shard_tag(shard)}:owner")
        if not all(await batch.execute()):
            raise RuntimeError(
                f"{self!r}.flush(): changes are queued but no flusher runs for them; "
                "run the flushers with `async with wb:` (here or in another process)"
            )

    async def _queue_tails(self) -> dict[int, str]:
        batch = self._executor.batch()
        for shard in range(self.shards):
            batch.command("XREVRANGE", self._queue(shard), "+", "-", "COUNT", 1)
        replies = await batch.execute()
        return {shard: as_text(reply[0][0]) for shard, reply in enumerate(replies) if reply}

    async def _all_taken(self, targets: dict[int, str]) -> bool:
        """Whether each shard's queue has nothing left at or before its target id."""
        if not targets:
            return True
        batch = self._executor.batch()
        for shard, target in targets.items():
            batch.command("XRANGE", self._queue(shard), "-", target, "COUNT", 1)
        replies = await batch.execute()
        return not any(replies)  # flushers trim what the writer took

    # -- running the flushers -------------------------------------------------------------

    async def __aenter__(self) -> WriteBehind[T]:
        self._run.enter(self)
        self._stopping = asyncio.Event()
        self._flush_now = [asyncio.Event() for _ in range(self.shards)]
        self._leases: dict[int, _ShardLease] = {}  # shards whose loop runs here
        self._released = asyncio.Event()  # set whenever no shard loop runs
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        try:
            await self._take_shards()  # before the block runs: leaving it then flushes
        except FAILURES as error:
            log.warning("%r: taking shards failed (%r); retrying", self, error)
        self._tasks.start_soon(self._govern)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.stop_timeout):
                self._stopping.set()
                for event in self._flush_now:
                    event.set()
                if self._leases:  # each shard loop flushes what it holds, then lets go
                    await self._released.wait()
        finally:
            self._tasks.cancel_scope.cancel()
            self._run.exit()
        return await self._tasks.__aexit__(*exc_info)

    async def _govern(self) -> None:
        """Take shards whose lease is free, keep the leases of those held."""
        every = self.claim_idle / 3
        while not self._stopping.is_set():
            with anyio.move_on_after(every):
                await self._stopping.wait()
            if self._stopping.is_set():
                return
            try:
                await self._renew()
                await self._take_shards()
            except FAILURES as error:
                log.warning("%r: renewing shard leases failed (%r)", self, error)

    async def _take_shards(self) -> None:
        """Take the lease of every shard no flusher holds, and start flushing it. A shard
        whose old loop here is still ending is left until it has ended."""
        free = [shard for shard in range(self.shards) if shard not in self._leases]
        if not free:
            return
        batch = self._executor.batch()
        leases = [self._lease(shard) for shard in free]
        for lease in leases:
            batch.command("SET", lease.key, self._consumer, "NX", "PX", self._lease_ms)
        sent = asyncio.get_running_loop().time()
        for lease, taken in zip(leases, await batch.execute(), strict=True):
            if taken:
                lease.confirmed(sent)
                self._leases[lease.shard] = lease
                self._released.clear()
                self._tasks.start_soon(self._run_shard, lease)

    def _lease(self, shard: int) -> _ShardLease:
        return _ShardLease(
            self._executor, shard, f"{self._shard_tag(shard)}:owner", self._consumer,
            self._lease_ms,
        )  # fmt: skip

    async def _renew(self) -> None:
        leases = [lease for lease in self._leases.values() if lease.held]
        if not leases:
            return
        batch = self._executor.batch()
        for lease in leases:
            batch.script(_RENEW, [lease.key], [self._consumer, self._lease_ms])
        sent = asyncio.get_running_loop().time()
        for lease, kept in zip(leases, await batch.execute(), strict=True):
            if kept:
                lease.confirmed(sent)
            else:
                log.warning("%r: lost the lease of shard %d", self, lease.shard)
                lease.held = False  # its loop sees it and stops

    async def _run_shard(self, lease: _ShardLease) -> None:
        flusher = _ShardFlusher(
            lease, self._queue(lease.shard), self._write_batch, self._settings,
            stopping=self._stopping, flush_now=self._flush_now[lease.shard],
        )  # fmt: skip
        try:
            await flusher.run()
        finally:
            # let another flusher take the shard at once (else it lapses after claim_idle)
            shielded = anyio.CancelScope(shield=True)
            with shielded, anyio.move_on_after(2.0), contextlib.suppress(*FAILURES):
                if lease.held:
                    await self._executor.run_script(_RELEASE, [lease.key], [self._consumer])
            del self._leases[lease.shard]  # only now may the shard be taken again
            if not self._leases:
                self._released.set()

    @property
    def _settings(self) -> _FlushSettings:
        return _FlushSettings(
            executor=self._executor, consumer=self._consumer, batch_size=self.batch_size,
            flush_interval=self.flush_interval, max_attempts=self.max_attempts,
            max_backoff=self.max_backoff, dead_letter=self.dead_letter, owner=repr(self),
            count_dead=self._count_dead,
        )  # fmt: skip

    def _count_dead(self, count: int) -> None:
        self.dead_lettered += count

    async def _write_batch(self, batch: Sequence[_Change]) -> None:
        """Decode ``batch`` and hand it to the writer; counts what went through."""
        try:
            await self._writer([(c.key, self._decode(c)) for c in batch])
        except Exception:
            self.failures += 1
            if INSTRUMENTS is not None:
                INSTRUMENTS.writebehind_flushed.add(len(batch), self._outcomes["failed"])
            raise
        self.batches += 1
        self.flushed += len(batch)
        if INSTRUMENTS is not None:
            INSTRUMENTS.writebehind_flushed.add(len(batch), self._outcomes["written"])

    def _decode(self, change: _Change) -> Any:
        return None if change.op == "del" else self._serializer.loads(change.data)


_RENEW = LuaScript("writebehind_renew")
_RELEASE = LuaScript("core_delete_if_equals")


@dataclasses.dataclass(frozen=True, slots=True)
class _FlushSettings:
    """What a shard loop needs to know of its ``WriteBehind``."""

    executor: Executor
    consumer: str  # this flusher's name in the queue's consumer group, and its lease token
    batch_size: int
    flush_interval: float
    max_attempts: int
    max_backoff: float
    dead_letter: str
    owner: str  # for log lines
    count_dead: Callable[[int], None]  # changes moved to the dead-letter stream


class _ShardLease:
    """This flusher's lease on one shard: held while Redis says so, and valid here only
    until it would have lapsed since the last confirmation was sent."""

    __slots__ = ("_executor", "_length_ms", "held", "key", "shard", "token", "valid_until")

    def __init__(
        self, executor: Executor, shard: int, key: str, token: str, length_ms: int
    ) -> None:
        self._executor = executor
        self.shard, self.key, self.token = shard, key, token
        self._length_ms = length_ms
        self.held = True
        self.valid_until = 0.0

    def confirmed(self, sent_at: float) -> None:
        """Redis renewed the lease by a command sent at ``sent_at`` (loop time)."""
        self.valid_until = sent_at + self._length_ms / 1000

    def valid(self) -> bool:
        return self.held and asyncio.get_running_loop().time() < self.valid_until

    async def confirm(self) -> bool:
        """Renew the lease in Redis if it is still ours (one EVALSHA); False once it is not."""
        sent = asyncio.get_running_loop().time()
        if await self._executor.run_script(_RENEW, [self.key], [self.token, self._length_ms]):
            self.confirmed(sent)
        else:
            self.held = False
        return self.held


Write = Callable[[Sequence[_Change]], Awaitable[None]]


class _LeaseLost(Exception):
    """A shard loop found its lease gone before a writer call."""


class _ShardFlusher:
    """Flushes one shard: its pending entries first, then new ones, batch after batch, as
    long as its lease is valid; ``write`` hands a batch to the database."""

    def __init__(
        self,
        lease: _ShardLease,
        queue: str,
        write: Write,
        settings: _FlushSettings,
        *,
        stopping: asyncio.Event,
        flush_now: asyncio.Event,
    ) -> None:
        self.lease = lease
        self.queue = queue
        self.write = write
        self.settings = settings
        self.stopping = stopping
        self.flush_now = flush_now
        self.executor = settings.executor
        self.carry: list[_Change] = []  # changes that failed, for the next batch
        self.backoff = Backoff(first=0.1, cap=settings.max_backoff)
        self.pending_cursor: str | None = "-"  # entries left by earlier owners come first
        self.fail_streak = 0  # flushes in a row where nothing got through
        # the newest entry taken so far: every older one is acknowledged or carried
        self.taken_through = "0-0"
        # written but not yet acknowledged: acknowledged before anything newer is read, so
        # that a later owner never re-delivers them after newer values went through
        self.unacknowledged: tuple[list[str], list[tuple[_Change, Exception]]] | None = None
        self.done: list[_Change] = []
        self.alone: list[tuple[_Change, Exception]] = []  # failed on their own
        self.stuck: list[tuple[_Change, Exception]] = []  # failed with the whole batch

    def __repr__(self) -> str:
        return f"{self.settings.owner} shard {self.lease.shard}"

    async def run(self) -> None:
        await create_group(self.executor, self.queue, GROUP, "0")
        while self.lease.valid():
            stopping = self.stopping.is_set()
            try:
                await self._acknowledge_pending()
                changes = await self._next_batch(final=stopping)
                if changes:
                    await self._flush(changes)
                elif stopping:
                    return
            except _LeaseLost:
                break  # what it took stays pending, for the next owner to take first
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                await create_group(self.executor, self.queue, GROUP, "0")
            except FAILURES as error:
                log.warning("%r: %r; retrying", self, error)
                await self.backoff.sleep()
        if not self.lease.held:
            log.warning("%r: the lease is gone; this loop stops", self)

    async def _next_batch(self, *, final: bool) -> list[_Change]:
        settings = self.settings
        room = settings.batch_size - len(self.carry)
        entries: list[Entry] = []
        if self.pending_cursor is not None and room > 0:
            self.pending_cursor, entries = await claim(
                self.executor, self.queue, GROUP, settings.consumer,
                min_idle_ms=0, cursor=self.pending_cursor, count=room,
            )  # fmt: skip
            self.pending_cursor = self.pending_cursor or None
        if not entries and self.pending_cursor is None and room > 0:
            entries = await self._read(room, block=not final and not self.carry)
            if entries and len(entries) < room and not final:
                # not a full batch: give later changes until flush_interval to join it
                with anyio.move_on_after(settings.flush_interval):
                    await self.flush_now.wait()
                self.flush_now.clear()
                entries += await self._read(room - len(entries), block=False)
        changes = self.carry + [self._change(entry) for entry in entries]
        self.carry = []
        return changes

    async def _read(self, count: int, *, block: bool) -> list[Entry]:
        blocking: tuple[str | int, ...] = ()
        if block:
            blocking = ("BLOCK", max(1, math.ceil(min(self.settings.flush_interval, 2.0) * 1000)))
        reply = await self.executor.execute(
            "XREADGROUP", "GROUP", GROUP, self.settings.consumer, "COUNT", count, *blocking,
            "STREAMS", self.queue, ">",
        )  # fmt: skip
        if not reply:
            return []
        return [(as_text(entry_id), fields, 1) for entry_id, fields in reply[0][1]]

    @staticmethod
    def _change(entry: Entry) -> _Change:
        entry_id, fields, _ = entry
        key = fields.get(b"k", b"").decode("utf-8", "surrogatepass")
        return _Change(entry_id, key, as_text(fields.get(b"o", b"set")), fields.get(b"v", b""))

    async def _flush(self, changes: list[_Change]) -> None:
        """Hand ``changes`` to the writer, latest per key; retry, split or dead-letter.

        A batch that fails is split in halves. If a half goes through, the writer works and
        the failing halves are split down to the changes that fail on their own; each such
        change counts an attempt, and moves to the dead-letter stream at ``max_attempts``.
        If nothing goes through, the database is down rather than a change bad: nothing is
        counted, and the batch waits (backoff) for the next try. Every fourth such flush
        in a row is split all the way, so that poison in both halves is still found.
        """
        latest: dict[str, _Change] = {}
        for change in changes:
            latest[change.key] = change  # changes are in queue order: the last one wins
        superseded = [c.entry_id for c in changes if latest[c.key] is not c]
        newest = max((c.entry_id for c in changes), key=_id_order)
        self.taken_through = max(self.taken_through, newest, key=_id_order)
        self.done, self.alone, self.stuck = [], [], []
        batch = list(latest.values())
        error = await self._write(batch)
        if error is not None:
            if len(batch) == 1:
                self.alone.append((batch[0], error))
            elif self.fail_streak % 4 == 3:
                await self._split(batch, error)
            else:
                halves = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                errors = [await self._write(half) for half in halves]
                if all(errors):
                    self.stuck.extend((c, error) for c in batch)
                else:
                    for half, half_error in zip(halves, errors, strict=True):
                        if half_error is not None:
                            await self._split(half, half_error)
        if self.done:
            for change, _ in self.alone:
                change.attempts += 1  # it failed while other writes went through
        failed = self.alone + self.stuck
        max_attempts = self.settings.max_attempts
        dead = [(c, e) for c, e in failed if c.attempts >= max_attempts]
        self.carry = [c for c, _ in failed if c.attempts < max_attempts]
        finished = [c.entry_id for c in self.done] + superseded
        self.unacknowledged = (finished, dead)
        await self._acknowledge_pending()
        if self.done or not failed:
            self.fail_streak = 0
            self.backoff.reset()
        else:
            self.fail_streak += 1
            await self.backoff.sleep()

    async def _write(self, batch: list[_Change]) -> Exception | None:
        """Hand ``batch`` to the writer, if the lease is still ours (confirmed in Redis
        first: a loop that lost it must never write again); the writer's error, if any."""
        if not self.lease.valid() or not await self.lease.confirm():
            raise _LeaseLost(f"{self!r}: the lease is gone")
        try:
            await self.write(batch)
        except Exception as error:
            log.warning("%r: writer failed on %d change(s): %r", self, len(batch), error)
            return error
        self.done.extend(batch)
        return None

    async def _split(self, batch: list[_Change], error: Exception) -> None:
        """``batch`` failed with ``error``: find the changes that fail on their own."""
        if len(batch) == 1:
            self.alone.append((batch[0], error))
            return
        for half in (batch[: len(batch) // 2], batch[len(batch) // 2 :]):
            half_error = await self._write(half)
            if half_error is not None:
                await self._split(half, half_error)

    async def _acknowledge_pending(self) -> None:
        """Acknowledge what the last flush finished; a failure leaves it to try again."""
        if self.unacknowledged is not None:
            await self._acknowledge(*self.unacknowledged)
            self.unacknowledged = None

    async def _acknowledge(
        self, finished: list[str], dead: list[tuple[_Change, Exception]]
    ) -> None:
        """Dead-letter, acknowledge and trim, in one round trip (one slot but the dead
        letters)."""
        if not finished and not dead:
            return
        dead_letter = self.settings.dead_letter
        batch = self.executor.batch()
        for change, error in dead:
            log.error(
                "%r: change %s of %r failed alone %d times; moved to %r: %r",
                self, change.entry_id, change.key, change.attempts, dead_letter, error,
            )  # fmt: skip
            batch.command(
                "XADD", dead_letter, "*", "stream", self.queue, "id", change.entry_id,
                "k", change.key, "o", change.op, "v", change.data,
                "attempts", change.attempts, "error", repr(error),
            )  # fmt: skip
        ids = finished + [change.entry_id for change, _ in dead]
        batch.command("XACK", self.queue, GROUP, *ids)
        oldest_kept = min((c.entry_id for c in self.carry), key=_id_order, default=None)
        if oldest_kept is None:
            # not the newest id acknowledged now: entries acknowledged by an earlier flush
            # while an older change was carried would stay behind, and flush() wait forever
            batch.command("XTRIM", self.queue, "MINID", next_id(self.taken_through))
        else:
            batch.command("XTRIM", self.queue, "MINID", oldest_kept)
        await batch.execute()
        self.settings.count_dead(len(dead))


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
