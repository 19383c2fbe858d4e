"""``StreamConsumer`` and ``BatchStreamConsumer``: a consumer group read by background tasks.

One reader task fetches entries with XREADGROUP into a bounded hand (at most ``batch_size``
unfinished entries, or ``concurrency`` when that is larger) and refills it only once three
quarters have finished, so a busy consumer reads in large batches; ``concurrency`` worker
tasks run the handler. Finished entries are acknowledged together: their XACK travels in the
same pipeline as the next read, or, when the reader is waiting on an empty stream, on its
own after ``ACK_DELAY``. Entries that fail stay pending and come back through claiming.

Claiming runs every ``claim_idle / 2`` seconds: one script (``stream_claim.lua``) finds the
group's entries idle for ``claim_idle`` seconds on any consumer (this one included, which is
how a failed entry gets its next try) and claims them with their delivery counts. While a
handler runs, a keeper task resets its entries' idle time every ``claim_idle / 3`` seconds,
so that no other consumer takes over a slow handler's entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import anyio
from redis.exceptions import ResponseError

from .._backoff import FAILURES, Backoff
from .._checks import OneRun, check_async, check_count, check_name, check_seconds
from .._executor import as_text, executor_for
from .._groups import claim, create_group
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes, span, tracing
from .._types import Connection, ConsumerOptions, Duration
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer
from ._message import DATA_FIELD, StreamMessage, dead_letter_fields

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("BatchStreamConsumer", "StreamConsumer")

log = logging.getLogger("aioredpat")

T = TypeVar("T")

KEEP = LuaScript("stream_keep")

ACK_DELAY = 0.05  # finished entries wait this long for a read to carry their XACK
_DATA = DATA_FIELD.encode()


class _GroupConsumer(Generic[T]):
    """The machinery both consumers share; subclasses say how the handler is called."""

    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        concurrency: int = 1,
        batch_size: int = 200,
        claim_idle: Duration = 30.0,
        max_deliveries: int = 5,
        dead_letter: str | None = None,
        start: Literal["backlog", "new"] = "backlog",
        block: Duration = 2.0,
        stop_timeout: Duration = 10.0,
    ) -> None:
        self.stream = check_name("stream", stream)
        self.group = check_name("group", group)
        self.consumer = check_name("consumer", consumer)
        self.concurrency = check_count("concurrency", concurrency)
        self.batch_size = check_count("batch_size", batch_size)
        self.claim_idle = check_seconds("claim_idle", claim_idle)
        self.max_deliveries = check_count("max_deliveries", max_deliveries)
        self.stop_timeout = check_seconds("stop_timeout", stop_timeout)
        if dead_letter is not None and check_name("dead_letter", dead_letter) == stream:
            raise ConfigurationError("dead_letter must be another stream than the one consumed")
        self.dead_letter = dead_letter
        if start not in ("backlog", "new"):
            raise ConfigurationError(f'start must be "backlog" or "new", got {start!r}')
        self._start_id = "0" if start == "backlog" else "$"
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._block_ms = int(self._checked_block(check_seconds("block", block)) * 1000)
        self._capacity = max(self.batch_size, self.concurrency)
        self._refill_at = self._capacity // 4
        self.processed = 0  # entries handled and acknowledged, over this object's life
        self.failures = 0  # handler calls that raised
        self.dead_lettered = 0
        self._span_attrs = attributes(stream=self.stream, group=self.group)
        self._outcomes = {
            outcome: attributes(stream=self.stream, group=self.group, outcome=outcome)
            for outcome in ("processed", "failed", "dead_lettered")
        }
        self._run = OneRun()

    def _checked_block(self, block: float) -> float:
        """A blocking read must end well within the connection's socket timeout."""
        timeout = self._executor.client.get_connection_kwargs().get("socket_timeout")
        if timeout is not None and block > timeout / 2:
            return max(float(timeout) / 2, 0.001)
        return block

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.stream!r}, group={self.group!r}, "
            f"consumer={self.consumer!r}, concurrency={self.concurrency})"
        )

    # -- running ------------------------------------------------------------------------

    async def __aenter__(self) -> _GroupConsumer[T]:
        self._run.enter(self)
        self._held: dict[str, float] = {}  # unfinished entries -> when they were (re)claimed
        self._raw: dict[str, bytes] = {}  # their data as read, for the dead-letter stream
        self._acks: list[str] = []
        self._ack_wanted = asyncio.Event()
        self._room = asyncio.Event()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._own_cursor: str | None = "-"  # this consumer's own pending entries come first
        self._claim_cursor = "-"
        self._reader_scope = anyio.CancelScope()
        self._worker_scopes = [anyio.CancelScope() for _ in range(self.concurrency)]
        self._workers_left = self.concurrency
        self._workers_done = asyncio.Event()
        self._group_ready = False
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._read_loop)
        for scope in self._worker_scopes:
            self._tasks.start_soon(self._work, scope)
        self._ack_scope = anyio.CancelScope()
        self._ack_loop_done = asyncio.Event()
        self._tasks.start_soon(self._ack_loop)
        self._tasks.start_soon(self._keep_loop)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            with anyio.CancelScope(shield=True):
                await self._drain()
        finally:
            self._tasks.cancel_scope.cancel()
            self._run.exit()
        return await self._tasks.__aexit__(*exc_info)

    async def run(self) -> None:
        """Run until cancelled; then stop as leaving ``async with`` does."""
        async with self:
            await anyio.sleep_forever()

    async def _drain(self) -> None:
        """Stop reading, let the handlers in flight finish (up to ``stop_timeout``), ack."""
        self._reader_scope.cancel()
        while not self._queue.empty():  # not started: they stay pending for a later run
            for message in self._messages_of(self._queue.get_nowait()):
                self._held.pop(message.id, None)
                self._raw.pop(message.id, None)
        for _ in self._worker_scopes:
            self._queue.put_nowait(None)
        with anyio.move_on_after(self.stop_timeout):
            await self._workers_done.wait()
        for scope in self._worker_scopes:
            scope.cancel()  # a handler still running is cancelled; its entry stays pending
        # an XACK the ack loop has on the wire comes back to ``_acks`` when it is stopped
        # (sent twice at worst, which is harmless), so the loop below sends every one
        self._ack_scope.cancel()
        await self._ack_loop_done.wait()
        with anyio.move_on_after(self.stop_timeout):
            while self._acks:
                try:
                    await self._send_acks()
                except FAILURES as error:
                    log.warning("%r: final XACK failed (%r); retrying", self, error)
                    await anyio.sleep(0.1)

    # -- reading ------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff()
        next_claim = 0.0
        with self._reader_scope:
            while True:
                await self._wait_for_room()
                room = self._capacity - len(self._held)
                try:
                    if not self._group_ready:
                        await self._create_group()
                    if self._own_cursor is not None:
                        self._own_cursor = await self._claim(room, self._own_cursor, own=True)
                    elif loop.time() >= next_claim:
                        cursor = await self._claim(room, self._claim_cursor)
                        self._claim_cursor = cursor or "-"
                        more = cursor not in (None, "-")
                        next_claim = loop.time() + (0 if more else self.claim_idle / 2)
                    else:
                        await self._read(min(room, self.batch_size))
                    backoff.reset()
                except ResponseError as error:
                    if "NOGROUP" not in str(error):
                        raise
                    log.warning("%r: the group is gone; creating it again", self)
                    self._group_ready = False
                except FAILURES as error:
                    log.warning("%r: reading failed (%r); retrying", self, error)
                    await backoff.sleep()

    async def _wait_for_room(self) -> None:
        while len(self._held) > self._refill_at:
            self._room.clear()
            await self._room.wait()

    async def _create_group(self) -> None:
        await create_group(self._executor, self.stream, self.group, self._start_id)
        self._group_ready = True

    async def _read(self, count: int) -> None:
        acks, self._acks = self._acks, []
        batch = self._executor.batch()
        if acks:
            batch.command("XACK", self.stream, self.group, *acks)
        batch.command(
            "XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count,
            "BLOCK", self._block_ms, "STREAMS", self.stream, ">",
        )  # fmt: skip
        try:
            replies = await batch.execute(raise_on_error=False)
        except BaseException:
            self._acks.extend(acks)  # maybe not acknowledged: a second XACK is harmless
            raise
        if acks and isinstance(replies[0], Exception):
            self._acks.extend(acks)
        reply = replies[-1]
        if isinstance(reply, Exception):
            raise reply
        entries = [] if not reply else reply[0][1]
        await self._accept([(as_text(entry_id), fields, 1) for entry_id, fields in entries])

    async def _claim(self, room: int, cursor: str, *, own: bool = False) -> str | None:
        """Claim up to ``room`` idle entries from ``cursor`` on; returns the next cursor
        (``None`` for this consumer's own entries once all are taken, else ``"-"``)."""
        following, entries = await claim(
            self._executor, self.stream, self.group, self.consumer,
            min_idle_ms=0 if own else int(self.claim_idle * 1000), cursor=cursor, count=room,
            owner=self.consumer if own else "",
        )  # fmt: skip
        await self._accept(entries)
        if not following:
            return None if own else "-"
        return following

    async def _accept(self, entries: list[tuple[str, dict[bytes, bytes], int]]) -> None:
        """Decode and hand out entries; dead-letter those that cannot or must not run."""
        now = asyncio.get_running_loop().time()
        messages: list[StreamMessage[T]] = []
        rejected: list[tuple[str, bytes | None, int, str]] = []
        for entry_id, fields, deliveries in entries:
            data = fields.get(_DATA)
            if deliveries > self.max_deliveries:
                error = f"delivered {deliveries} times without being acknowledged"
                rejected.append((entry_id, data, deliveries, error))
                continue
            try:
                if data is None:
                    raise ValueError(f"the entry has no {DATA_FIELD!r} field")
                value = self._serializer.loads(data)
            except Exception as error:
                rejected.append((entry_id, data, deliveries, f"undecodable: {error!r}"))
                continue
            self._held[entry_id] = now
            self._raw[entry_id] = data
            messages.append(StreamMessage(entry_id, value, deliveries, self.stream))
        if messages:
            self._submit(messages)
        if rejected:
            await self._dead_letter(rejected)

    async def _dead_letter(self, rejected: list[tuple[str, bytes | None, int, str]]) -> None:
        """Copy entries to the dead-letter stream (when there is one), then acknowledge them.

        On a cluster the two streams may live on different nodes, so this is not atomic: a
        crash in between leaves the entry pending, and it is dead-lettered again later.
        """
        batch = self._executor.batch()
        for entry_id, data, deliveries, error in rejected:
            if self.dead_letter is None:
                log.error(
                    "%r: dropping entry %s after %d deliveries (no dead_letter "
                    "stream): %s", self, entry_id, deliveries, error,
                )  # fmt: skip
                continue
            log.warning(
                "%r: moving entry %s to %r after %d deliveries: %s",
                self, entry_id, self.dead_letter, deliveries, error,
            )  # fmt: skip
            fields = dead_letter_fields(
                stream=self.stream, entry_id=entry_id, group=self.group,
                consumer=self.consumer, deliveries=deliveries, error=error, data=data,
            )  # fmt: skip
            batch.command("XADD", self.dead_letter, "*", *[x for kv in fields.items() for x in kv])
        batch.command("XACK", self.stream, self.group, *[entry[0] for entry in rejected])
        try:
            await batch.execute()
        except FAILURES as error:
            log.warning("%r: dead-lettering failed (%r); retried later", self, error)
            return
        self.dead_lettered += len(rejected)
        if INSTRUMENTS is not None:
            INSTRUMENTS.stream_messages.add(len(rejected), self._outcomes["dead_lettered"])

    # -- handling -----------------------------------------------------------------------

    def _submit(self, messages: list[StreamMessage[T]]) -> None:
        raise NotImplementedError

    def _messages_of(self, item: Any) -> Sequence[StreamMessage[T]]:
        raise NotImplementedError

    async def _call_handler(self, item: Any) -> None:
        raise NotImplementedError

    async def _work(self, scope: anyio.CancelScope) -> None:
        try:
            with scope:
                while (item := await self._queue.get()) is not None:
                    messages = self._messages_of(item)
                    try:
                        if tracing():
                            with span("aioredpat.stream.process", self._span_attrs):
                                await self._call_handler(item)
                        else:
                            await self._call_handler(item)
                    except Exception as error:
                        self._failed(messages, error)
                    else:
                        self._finished(messages)
        finally:
            self._workers_left -= 1
            if not self._workers_left:
                self._workers_done.set()

    def _finished(self, messages: Sequence[StreamMessage[T]]) -> None:
        for message in messages:
            self._held.pop(message.id, None)
            self._raw.pop(message.id, None)
            self._acks.append(message.id)
        self.processed += len(messages)
        if INSTRUMENTS is not None:
            INSTRUMENTS.stream_messages.add(len(messages), self._outcomes["processed"])
        self._ack_wanted.set()
        if len(self._held) <= self._refill_at:
            self._room.set()

    def _failed(self, messages: Sequence[StreamMessage[T]], error: Exception) -> None:
        """Leave the entries pending for another try, or dead-letter those out of tries."""
        self.failures += 1
        if INSTRUMENTS is not None:
            INSTRUMENTS.stream_messages.add(len(messages), self._outcomes["failed"])
        last_tries = []
        for message in messages:
            self._held.pop(message.id, None)
            data = self._raw.pop(message.id, b"")
            if message.deliveries >= self.max_deliveries:
                last_tries.append((message.id, data, message.deliveries))
        log.warning(
            "%r: handler failed on %s (delivery %d of %d): %r",
            self, messages[0].id, messages[0].deliveries, self.max_deliveries, error,
        )  # fmt: skip
        if last_tries:
            self._tasks.start_soon(self._dead_letter_failed, last_tries, error)
        if len(self._held) <= self._refill_at:
            self._room.set()

    async def _dead_letter_failed(
        self, tries: list[tuple[str, bytes, int]], error: Exception
    ) -> None:
        await self._dead_letter([(entry_id, data, n, f"{error!r}") for entry_id, data, n in tries])

    # -- acknowledging and keeping ----------------------------------------------------------

    async def _ack_loop(self) -> None:
        try:
            with self._ack_scope:
                while True:
                    await self._ack_wanted.wait()
                    await anyio.sleep(ACK_DELAY)
                    self._ack_wanted.clear()
                    try:
                        await self._send_acks()
                    except FAILURES as error:
                        log.warning("%r: XACK failed (%r); retrying", self, error)
                        self._ack_wanted.set()
        finally:
            self._ack_loop_done.set()

    async def _send_acks(self) -> None:
        acks, self._acks = self._acks, []
        if not acks:
            return
        try:
            await self._executor.execute("XACK", self.stream, self.group, *acks)
        except BaseException:
            self._acks.extend(acks)
            raise

    async def _keep_loop(self) -> None:
        every = self.claim_idle / 3
        loop = asyncio.get_running_loop()
        while True:
            await anyio.sleep(every)
            now = loop.time()
            due = [entry_id for entry_id, since in self._held.items() if now - since >= every]
            if not due:
                continue
            try:
                await self._executor.run_script(
                    KEEP, [self.stream], [self.group, self.consumer, *due]
                )
            except FAILURES as error:
                log.warning("%r: keeping entries failed (%r)", self, error)
                continue
            for entry_id in due:
                if entry_id in self._held:
                    self._held[entry_id] = now


H = TypeVar("H")


def _checked_handler(handler: H) -> H:
    check_async("handler", handler)
    return handler


class StreamConsumer(_GroupConsumer[T]):
    """Runs ``handler`` on each entry of ``stream`` as consumer ``consumer`` of ``group``.

    ``async with consumer:`` runs it in the background; ``await consumer.run()`` runs until
    cancelled. Returning from the handler acknowledges the entry (in batches); raising leaves
    it pending, to be claimed again once idle ``claim_idle`` seconds (by this consumer or
    another); after ``max_deliveries`` deliveries it moves to ``dead_letter``.

    ``start="backlog"`` (the default) creates a missing group at the start of the stream,
    ``start="new"`` at its end. ``block`` bounds one blocking read, so an idle consumer sends
    one read per ``block`` seconds. ``stop_timeout`` bounds how long leaving the block waits
    for the handlers in flight; a handler still running then is cancelled, and its entry
    stays pending for another try.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[StreamMessage[T]], Awaitable[object]],
        model: type[T],
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[StreamMessage[T]], Awaitable[object]],
        serializer: Serializer[T],
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: StreamConsumer[Any],
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[StreamMessage[Any]], Awaitable[object]],
        model: UnionType | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[StreamMessage[T]], Awaitable[object]],
        model: Any = None,
        serializer: Serializer[T] | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> None:
        super().__init__(
            conn,
            stream,
            group=group,
            consumer=consumer,
            model=model,
            serializer=serializer,
            **options,
        )
        self._handler = _checked_handler(handler)

    async def __aenter__(self) -> StreamConsumer[T]:
        await super().__aenter__()
        return self

    def _submit(self, messages: list[StreamMessage[T]]) -> None:
        for message in messages:
            self._queue.put_nowait(message)

    def _messages_of(self, item: StreamMessage[T]) -> Sequence[StreamMessage[T]]:
        return (item,)

    async def _call_handler(self, item: StreamMessage[T]) -> None:
        await self._handler(item)


class BatchStreamConsumer(_GroupConsumer[T]):
    """``StreamConsumer`` whose handler takes a list: the messages of one read.

    Returning acknowledges them all; raising leaves them all pending (each message counts
    the delivery), so a handler that can tell which message failed should handle that one
    itself rather than fail the batch. ``concurrency`` is the number of batches handled at
    once.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[list[StreamMessage[T]]], Awaitable[object]],
        model: type[T],
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[list[StreamMessage[T]]], Awaitable[object]],
        serializer: Serializer[T],
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: BatchStreamConsumer[Any],
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[list[StreamMessage[Any]]], Awaitable[object]],
        model: UnionType | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        group: str,
        consumer: str,
        handler: Callable[[list[StreamMessage[T]]], Awaitable[object]],
        model: Any = None,
        serializer: Serializer[T] | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> None:
        super().__init__(
            conn,
            stream,
            group=group,
            consumer=consumer,
            model=model,
            serializer=serializer,
            **options,
        )
        self._handler = _checked_handler(handler)

    async def __aenter__(self) -> BatchStreamConsumer[T]:
        await super().__aenter__()
        return self

    def _submit(self, messages: list[StreamMessage[T]]) -> None:
        self._queue.put_nowait(messages)

    def _messages_of(self, item: list[StreamMessage[T]]) -> Sequence[StreamMessage[T]]:
        return item

    async def _call_handler(self, item: list[StreamMessage[T]]) -> None:
        await self._handler(item)
