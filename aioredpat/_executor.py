"""The one path every pattern's Redis call takes.

``Executor`` wraps a ``redis.asyncio.Redis`` or ``RedisCluster``. Patterns never call the
client directly: they call ``execute`` (one command), ``run_script`` (EVALSHA with the
NOSCRIPT fallback) or ``batch()`` (a pipeline that may hold scripts). Batching, metrics
and retries therefore have one place to live.

Where the underlying client cannot wait for a free connection by itself (cluster and
sentinel clients fail at once with "Too many connections"), the executor holds a gate: a
semaphore of ``max_connections`` that callers wait on, up to ``pool_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from ._scripts import LuaScript
from .errors import ConfigurationError, ScriptError

__all__ = ("Batch", "Client", "Executor", "Gate")

Client: TypeAlias = "Redis | RedisCluster"
Arg: TypeAlias = "str | bytes | int | float"


class Gate:
    """Bounds concurrent calls; a caller past the bound waits up to ``timeout`` seconds."""

    __slots__ = ("_semaphore", "timeout")

    def __init__(self, limit: int, timeout: float | None) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self.timeout = timeout

    async def __aenter__(self) -> None:
        if self._semaphore.locked():
            try:
                await asyncio.wait_for(self._semaphore.acquire(), self.timeout)
            except TimeoutError:
                from redis.exceptions import ConnectionError as RedisConnectionError

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
    """Runs commands and scripts for the patterns sharing one client."""

    __slots__ = ("__weakref__", "client", "gate", "is_cluster")

    def __init__(self, client: Client, *, gate: Gate | None = None) -> None:
        self.client = client
        self.gate = gate
        self.is_cluster = isinstance(client, RedisCluster)

    async def execute(self, *args: Arg, **options: Any) -> Any:
        """One command, one round trip."""
        if self.gate is None:
            return await self.client.execute_command(*args, **options)
        async with self.gate:
            return await self.client.execute_command(*args, **options)

    async def run_script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """EVALSHA ``script``: one round trip, or three the first time a server sees it."""
        if self.gate is None:
            return await self._run_script(script, keys, args)
        async with self.gate:
            return await self._run_script(script, keys, args)

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

    A script that meets NOSCRIPT inside the pipeline is loaded and run again on its own
    right after the pipeline, so its effect lands after the rest of the batch. The first
    error of the batch is raised once every command has run (a script's as ``ScriptError``).
    """

    __slots__ = ("_executor", "_pipe", "_scripts")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._pipe = executor.client.pipeline(transaction=False)
        self._scripts: dict[int, tuple[LuaScript, Sequence[str], Sequence[Arg]]] = {}

    def __len__(self) -> int:
        return len(self._pipe)

    def command(self, *args: Arg, **options: Any) -> None:
        self._pipe.execute_command(*args, **options)

    def script(self, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]) -> None:
        self._scripts[len(self._pipe)] = (script, keys, args)
        # execute_command, not .evalsha(): redis-py's cluster pipeline blocks the method
        self._pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    async def execute(self) -> list[Any]:
        gate = self._executor.gate
        if gate is None:
            replies = await self._pipe.execute(raise_on_error=False)
        else:
            async with gate:
                replies = await self._pipe.execute(raise_on_error=False)
        for index, (script, keys, args) in self._scripts.items():
            reply = replies[index]
            if isinstance(reply, NoScriptError):
                replies[index] = await self._executor.run_script(script, keys, args)
            elif isinstance(reply, ResponseError):
                replies[index] = _script_error(script, reply)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return list(replies)


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
