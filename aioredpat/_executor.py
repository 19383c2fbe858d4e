"""The one path every pattern's Redis call takes.

``Executor`` wraps a ``redis.asyncio.Redis`` or ``RedisCluster``. Patterns never call the
client directly: they call ``execute`` (one command), ``run_script`` (EVALSHA with the
NOSCRIPT fallback) or ``batch()`` (a pipeline that may hold scripts). Batching, metrics
and retries therefore have one place to live.

Where the underlying client cannot wait for a free connection by itself (redis-py's cluster
client fails at once with "Too many connections" and has no pool class to swap), the
executor holds a gate: a semaphore of ``max_connections`` that callers wait on, up to
``pool_timeout`` seconds. Standalone and Sentinel pools wait by themselves (``_pools``).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._cluster import node_pipelines
from ._notify import Notifier
from ._pools import deadline_after
from ._scripts import LuaScript
from ._telemetry import tracing
from .errors import ConfigurationError, ScriptError, ValueTooLarge

__all__ = ("Batch", "Client", "Executor", "Gate", "as_text", "executor_for")

Client: TypeAlias = "Redis | RedisCluster"

MAX_VALUE_SIZE = 16 * 1024 * 1024  # bytes; Redis takes up to 512 MB, far past sane
Arg: TypeAlias = "str | bytes | int | float"


def as_text(reply: bytes | str) -> str:
    """A bytes reply (an id, a channel name, a token) as text."""
    return reply.decode() if isinstance(reply, bytes) else reply


def _pack(commands: Sequence[tuple[Arg, ...]]) -> bytes:
    """Commands in RESP, as one buffer: ``str`` as UTF-8, ``int`` in decimal, ``float`` as
    its ``repr`` (as redis-py sends them), ``bytes`` as they are.

    redis-py's packer does the same with more generality (memoryviews, chunking of large
    values); here it costs a third of the time, which matters on the hottest paths."""
    parts: list[bytes] = []
    for command in commands:
        parts.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            elif isinstance(arg, int):
                data = b"%d" % arg
            elif isinstance(arg, float):
                data = repr(arg).encode()
            else:
                data = bytes(arg)
            parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class Gate:
    """Bounds concurrent calls; a caller past the bound waits up to ``timeout`` seconds."""

    __slots__ = ("_semaphore", "timeout")

    def __init__(self, limit: int, timeout: float | None) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self.timeout = timeout

    async def __aenter__(self) -> None:
        if self._semaphore.locked():
            try:
                async with deadline_after(self.timeout):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise RedisConnectionError(
                    f"no free connection within pool_timeout={self.timeout}s"
                ) from None
        else:
            await self._semaphore.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._semaphore.release()


def _script_error(script: LuaScript, exc: ResponseError) -> ScriptError:
    return ScriptError(f"Lua script {script.name!r} failed: {exc}", script=script.name)


class Executor:
    """Runs commands and scripts for the patterns sharing one client.

    Script calls and reads (``get``, ``mget``, ``read``) are coalesced (``coalesce``, on by
    default): a call made while nothing is in flight is sent at once, from the caller's own
    task; calls made while others are on the wire queue up and leave together, as one
    pipeline per server (per node on a cluster), at the next loop iteration. Each call is
    still its own command with its own reply or error, but a burst of concurrent calls
    shares writes, reads and wake-ups: the Python client, not Redis, is what limits a
    busy service. A queued call cancelled before its batch leaves is dropped, never sent.
    """

    __slots__ = (
        "__weakref__", "_closers", "_coalescer", "_loop", "_notifier", "call_timeout", "client",
        "closed_by", "gate", "is_cluster", "max_value_size",
    )  # fmt: skip

    def __init__(
        self,
        client: Client,
        *,
        gate: Gate | None = None,
        coalesce: bool = True,
        max_value_size: int = MAX_VALUE_SIZE,
    ) -> None:
        self.client = client
        self.max_value_size = max_value_size
        self.gate = gate
        self.is_cluster = isinstance(client, RedisCluster)
        self._coalescer = _Coalescer(self) if coalesce else None
        self._notifier: Notifier | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []  # other background work
        self.closed_by: str | None = None  # the pool that closed this client, once it did
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None  # of the first call
        # one deadline per call, retries included: twice the socket timeout
        socket_timeout = client.get_connection_kwargs().get("socket_timeout")
        self.call_timeout: float | None = 2 * socket_timeout if socket_timeout else None

    @property
    def notifier(self) -> Notifier:
        """The shared pub/sub subscriber of this client, made on first use."""
        if self._notifier is None:
            self._notifier = Notifier(self.client)
        return self._notifier

    async def aclose(self, *, closed_by: str | None = None) -> None:
        """Stop what this executor runs in the background (the subscriber); with
        ``closed_by``, every later call raises ``RuntimeError`` naming that pool."""
        if closed_by is not None:
            self.closed_by = closed_by
        if self._notifier is not None:
            await self._notifier.aclose()
        for close in self._closers:
            await close()

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Have ``aclose`` also await ``close()``: for background work made on this client."""
        self._closers.append(close)

    def _check_usable(self) -> None:
        """Raise when the pool was closed, or when this call runs on another event loop than
        the first one (redis-py's connections belong to one loop)."""
        if self.closed_by is not None:
            self._refuse_closed()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = weakref.ref(loop)
        elif self._loop() is not loop:
            raise RuntimeError(
                f"{self.client!r} was first used on another event loop, and its connections "
                "belong to that one (a pool made at import time, used by two asyncio.run() "
                "calls?): make the pool in the loop that uses it, e.g. in your app's lifespan"
            )

    def sized(self, data: bytes) -> bytes:
        """``data`` if it fits ``max_value_size``, else ``ValueTooLarge`` (nothing is sent)."""
        if len(data) > self.max_value_size:
            raise ValueTooLarge(
                f"the encoded value is {len(data):,} bytes, past the pool's max_value_size of "
                f"{self.max_value_size:,} (pass max_value_size= to RedisPool to change it)",
                size=len(data),
                limit=self.max_value_size,
            )
        return data

    def _refuse_closed(self) -> None:
        raise RuntimeError(
            f"{self.closed_by} is closed: a pattern made on it cannot be used after "
            "pool.aclose() (or the end of its async with block)"
        )

    async def execute(self, *args: Arg, **options: Any) -> Any:
        """One command, one round trip; bounded by ``call_timeout``, retries included."""
        self._check_usable()
        async with self.deadline():
            if self.gate is None:
                return await self.client.execute_command(*args, **options)
            async with self.gate:
                return await self.client.execute_command(*args, **options)

    @contextlib.asynccontextmanager
    async def deadline(self) -> AsyncIterator[None]:
        """Bound what runs inside by ``call_timeout`` (twice the socket timeout): a server
        that accepts connections but never answers fails the call with redis-py's
        ``TimeoutError`` then, however many retries the client would still make."""
        timeout = self.call_timeout
        if timeout is None:
            yield
            return
        try:
            async with deadline_after(timeout):
                yield
        except TimeoutError:
            raise RedisTimeoutError(
                f"no reply from Redis within {timeout:g}s (twice socket_timeout), retries included"
            ) from None

    async def get(self, key: str) -> bytes | None:
        """GET ``key``: at once when nothing else is on the wire, else batched (``read``)."""
        self._check_usable()
        coalescer = self._coalescer
        if coalescer is None:
            return await self._get_now(key)
        if coalescer.idle:
            coalescer.in_flight += 1
            try:
                return await self._get_now(key)
            finally:
                coalescer.in_flight -= 1
        return await coalescer.submit(None, (), ("GET", key))  # type: ignore[no-any-return]

    async def read(self, *args: Arg) -> Any:
        """A read-only command, auto-batched like ``get``: sent at once from the caller's
        task when nothing is in flight; otherwise queued, and sent with the other calls of
        this loop iteration as one pipeline per server (per node on a cluster, where a
        failing node fails only its own calls). Its keys must share a slot."""
        self._check_usable()
        coalescer = self._coalescer
        if coalescer is None:
            return await self.execute(*args)
        if coalescer.idle:
            coalescer.in_flight += 1
            try:
                return await self.execute(*args)
            finally:
                coalescer.in_flight -= 1
        return await coalescer.submit(None, (), args)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        """MGET of any keys: one command on a standalone server; on a cluster, one per
        slot, all in one batch. Each goes the ``read`` way."""
        if not self.is_cluster:
            return list(await self.read("MGET", *keys))
        slots: dict[int, list[int]] = {}
        for index, key in enumerate(keys):
            slots.setdefault(key_slot(key.encode()), []).append(index)
        replies = await asyncio.gather(
            *(self.read("MGET", *[keys[i] for i in indexes]) for indexes in slots.values())
        )
        found: list[bytes | None] = [None] * len(keys)
        for indexes, reply in zip(slots.values(), replies, strict=True):
            for index, data in zip(indexes, reply, strict=True):
                found[index] = data
        return found

    async def _get_now(self, key: str) -> bytes | None:
        """GET ``key`` at once (``_reads_now``)."""
        reply = (await self._reads_now((("GET", key),)))[0]
        if isinstance(reply, Exception):
            raise reply
        return reply  # type: ignore[no-any-return]

    async def _reads_now(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        """Commands whose replies need no parsing (reads, EVALSHA) in one round trip on a
        pooled connection of their own; each reply, or its error (a ``ResponseError``),
        in order.

        The hottest calls of all (every cache hit, every script call) go straight to a
        connection of a standalone or Sentinel client, skipping redis-py's per-command
        wrapper and its pipeline object (retry closures, response callbacks, event
        dispatch: about a quarter of a hit's client time), and, on a ``RedisPool``, its
        checkout (see ``take_idle``). A closed connection falls back to the full path, with
        its retries, as redis-py itself retries on a connection error; a timeout is raised
        as it is (a retry would double the wait).
        """
        client = self.client
        if (
            self.gate is not None
            or not isinstance(client, Redis)
            or client.connection
            or tracing()  # redis-py's own path, where its OpenTelemetry instrumentation sees it
        ):
            return await self._reads_pipelined(commands)
        pool: Any = client.connection_pool
        take_idle = getattr(pool, "take_idle", None)
        connection = take_idle() if take_idle is not None else None
        taken = connection is not None
        if connection is None:
            connection = await pool.get_connection()
        try:
            await connection.send_packed_command(_pack(commands))
            read_many = getattr(connection, "read_responses", None)
            if read_many is not None:
                replies: list[Any] = await read_many(len(commands))
            else:  # a user's own connection class
                replies = []
                for _ in commands:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as error:
                        replies.append(error)
        except (RedisConnectionError, OSError):
            # the server closed this idle connection meanwhile (a restart): once more on the
            # full path, with its retries. A timeout is not retried (it would double the wait)
            pass
        else:
            return replies
        finally:
            if taken:
                pool.put_back(connection)
            else:
                await pool.release(connection)
        return await self._reads_pipelined(commands)

    async def _reads_pipelined(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        if len(commands) == 1:
            try:
                return [await self.execute(*commands[0])]
            except ResponseError as error:
                return [error]
        batch = self.batch()
        for args in commands:
            batch.command(*args)
        return await batch.execute(raise_on_error=False)

    async def run_script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """EVALSHA ``script``: one round trip, or three the first time a server sees it."""
        self._check_usable()
        coalescer = self._coalescer
        if coalescer is None:
            return await self.run_script_now(script, keys, args)
        if coalescer.idle:
            coalescer.in_flight += 1
            try:
                return await self.run_script_now(script, keys, args)
            finally:
                coalescer.in_flight -= 1
        return await coalescer.submit(script, keys, args)

    async def run_script_now(
        self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        """``run_script`` on its own connection, never coalesced with other calls."""
        async with self.deadline():
            if self.gate is None:
                return await self._run_script_direct(script, keys, args)
            async with self.gate:
                return await self._run_script(script, keys, args)

    async def _run_script_direct(
        self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        """EVALSHA the way a cache GET goes (``_reads_now``): straight to a connection of
        a standalone or Sentinel client. A connection the server closed meanwhile is
        retried on the full path, as redis-py's own retries would."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        reply = (await self._reads_now((command,)))[0]
        if isinstance(reply, NoScriptError):
            await self.load(script)
            return await self._run_script(script, keys, args)
        if isinstance(reply, ResponseError):
            raise _script_error(script, reply) from reply
        return reply

    async def _run_script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        client = self.client
        try:
            return await client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            pass
        except ResponseError as exc:
            raise _script_error(script, exc) from exc
        await self.load(script)
        try:
            return await client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            raise _script_error(script, exc) from exc

    async def load(self, script: LuaScript) -> None:
        """SCRIPT LOAD on the server (every primary of a cluster)."""
        await self.client.script_load(script.source)

    def batch(self) -> Batch:
        """A non-transactional pipeline: one round trip per node for everything queued."""
        return Batch(self)


class Batch:
    """Commands and scripts sent together; ``await batch.execute()`` returns their replies.

    On a standalone server: one pipeline. On a cluster: one pipeline per node, all at once,
    where a node that fails fails only its own commands (see ``_cluster``). A script that
    meets NOSCRIPT is loaded and run again on its own right after the batch, so its effect
    lands after the rest. The first error of the batch is raised once every command has
    run (a script's as ``ScriptError``).
    """

    __slots__ = ("_commands", "_executor", "_scripts")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._commands: list[tuple[tuple[Arg, ...], dict[str, Any]]] = []
        self._scripts: dict[int, tuple[LuaScript, Sequence[str], Sequence[Arg]]] = {}

    def __len__(self) -> int:
        return len(self._commands)

    def command(self, *args: Arg, **options: Any) -> None:
        self._commands.append((args, options))

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> None:
        self._scripts[len(self._commands)] = (script, keys, args)
        self._commands.append((("EVALSHA", script.sha, len(keys), *keys, *args), {}))

    async def _send(self) -> list[Any]:
        client = self._executor.client
        if isinstance(client, RedisCluster):
            return await node_pipelines(client, self._commands)
        pipe = client.pipeline(transaction=False)
        for args, options in self._commands:
            pipe.execute_command(*args, **options)
        return list(await pipe.execute(raise_on_error=False))

    async def execute(self, *, raise_on_error: bool = True) -> list[Any]:
        """Send everything queued; with ``raise_on_error=False`` errors come back as replies."""
        self._executor._check_usable()
        if not self._commands:
            return []
        gate = self._executor.gate
        async with self._executor.deadline():
            if gate is None:
                replies = await self._send()
            else:
                async with gate:
                    replies = await self._send()
        for index, (script, keys, args) in self._scripts.items():
            reply = replies[index]
            if isinstance(reply, NoScriptError):
                try:
                    replies[index] = await self._executor.run_script_now(script, keys, args)
                except ScriptError as error:
                    replies[index] = error
            elif isinstance(reply, ResponseError):
                replies[index] = _script_error(script, reply)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies


# (script, keys, args, future); with no script, ``args`` is a whole read command
Call: TypeAlias = "tuple[LuaScript | None, Sequence[str], Sequence[Arg], asyncio.Future[Any]]"


class _Coalescer:
    """Collects the script calls and reads of one loop iteration and sends them as one
    pipeline (one per node on a cluster)."""

    __slots__ = ("_executor", "_pending", "_scheduled", "_tasks", "in_flight")

    MAX_BATCH = 256

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._pending: list[Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0  # calls and batches on the wire

    @property
    def idle(self) -> bool:
        return not self.in_flight and not self._pending

    def submit(
        self, script: LuaScript | None, keys: Sequence[str], args: Sequence[Arg]
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((script, keys, args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        calls = [call for call in self._pending if not call[3].done()]  # cancelled: dropped
        self._pending = []
        for start in range(0, len(calls), self.MAX_BATCH):
            # every outcome lands in the callers' futures; the task set keeps it referenced
            task = loop.create_task(self._send(calls[start : start + self.MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, calls: list[Call]) -> None:
        self.in_flight += 1
        try:
            if len(calls) == 1:
                replies = [await self._send_one(*calls[0][:3])]
            elif all(script is None for script, *_ in calls):
                replies = await self._reads(calls)
            else:
                batch = self._executor.batch()
                for script, keys, args, _ in calls:
                    if script is None:
                        batch.command(*args)
                    else:
                        batch.script(script, keys, args)
                replies = await batch.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for *_, future in calls:
                future.cancel()
            raise
        except BaseException as error:
            replies = [error] * len(calls)
        finally:
            self.in_flight -= 1
        for (*_, future), reply in zip(calls, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _reads(self, calls: list[Call]) -> list[Any]:
        commands = [tuple(args) for _, _, args, _ in calls]
        executor = self._executor
        if executor.is_cluster:
            return await executor._reads_pipelined(commands)
        async with executor.deadline():
            return await executor._reads_now(commands)

    async def _send_one(
        self, script: LuaScript | None, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        executor = self._executor
        if script is not None:
            return await executor.run_script_now(script, keys, args)
        if args[0] == "GET":
            return await executor._get_now(str(args[1]))
        return await executor.execute(*args)


_executors: weakref.WeakKeyDictionary[Any, Executor] = weakref.WeakKeyDictionary()


def executor_for(conn: object) -> Executor:
    """The executor for a pattern's first argument: a ``RedisPool`` or a user's own client.

    A user's client keeps its own pool settings; its executor is made once and shared, so
    patterns built on one client share everything built on top (subscribers, gates).
    """
    executor = getattr(conn, "_executor", None)
    if isinstance(executor, Executor):
        return executor
    if isinstance(conn, Redis | RedisCluster):
        if conn.get_connection_kwargs().get("decode_responses"):
            raise ConfigurationError(
                "the client was made with decode_responses=True; aioredpat stores bytes, "
                "so pass a client without it (or a RedisPool)"
            )
        found = _executors.get(conn)
        if found is None:
            found = _executors[conn] = Executor(conn)
        return found
    raise ConfigurationError(
        "conn must be a RedisPool, redis.asyncio.Redis or redis.asyncio.RedisCluster, "
        f"got {type(conn).__module__}.{type(conn).__qualname__}"
    )
