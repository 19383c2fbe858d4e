"""``FaultProxy``: a TCP proxy in front of a server that injects network faults on demand.

It runs its own event loop in a thread of its own, so a test's event loop can stall (or be
the thing under test) while the proxy keeps its faults exact. Point a client at
``proxy.url`` instead of the server's; then, from any thread or coroutine:

- ``pause()`` / ``resume()``: connections are still accepted, but nothing is forwarded in
  either direction until ``resume()`` (a server that accepts and never answers, as a
  ``SIGSTOP``ped one does); held bytes are delivered on resume, in order;
- ``delay(seconds)``: every chunk is held that long before it is forwarded;
- ``drop()`` / ``undrop()``: bytes from clients are thrown away (a black hole: requests
  vanish, no reply ever comes);
- ``cut()``: every open connection is reset now (the server itself stays up);
- ``refuse()`` / ``accept()``: new connections are closed as soon as they arrive.

``proxy.connections`` counts the connections open right now, ``proxy.accepted`` every
connection accepted so far, ``proxy.sent`` the bytes clients sent (forwarded or not).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ("FaultProxy",)

T = TypeVar("T")

CHUNK = 64 * 1024


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target`` (``(host, port)``); see the module."""

    def __init__(self, target: tuple[str, int], *, port: int = 0) -> None:
        self.target = target
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._delay = 0.0
        self._dropping = False
        self._refusing = False
        self.port = 0
        self.accepted = 0
        self.sent = 0

    # -- life ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._call(self._shutdown)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> FaultProxy:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def connections(self) -> int:
        return len(self._pairs)

    # -- faults -------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold every byte, both ways, until ``resume()``; new connections still open."""
        self._call(self._set_flowing, False)

    def resume(self) -> None:
        self._call(self._set_flowing, True)

    def delay(self, seconds: float) -> None:
        """Hold each chunk ``seconds`` before forwarding it (0 turns the delay off)."""
        self._delay = max(0.0, float(seconds))

    def drop(self) -> None:
        """Throw away what clients send, from now until ``undrop()``."""
        self._dropping = True

    def undrop(self) -> None:
        self._dropping = False

    def cut(self) -> None:
        """Reset every open connection (both sides) now."""
        self._call(self._cut_all)

    def refuse(self) -> None:
        """Close new connections as soon as they are accepted, until ``accept()``."""
        self._refusing = True

    def accept(self) -> None:
        self._refusing = False

    # -- inside the proxy's thread -------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the proxy is not running: call start() first")

        async def run() -> None:
            result = fn(*args)
            if isinstance(result, Awaitable):
                await result

        asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=10)

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._open())
        except BaseException as error:
            ready.set_exception(error)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _open(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _set_flowing(self, flowing: bool) -> None:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    def _cut_all(self) -> None:
        for client, upstream in list(self._pairs):
            for writer in (client, upstream):
                writer.transport.abort()
        self._pairs.clear()

    async def _shutdown(self) -> None:
        self._cut_all()
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, upstream=True),
                self._pump(up_reader, writer, upstream=False),
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # cancelled: the proxy is stopping (and asyncio's server logs a raise)
        finally:
            self._pairs.discard(pair)
            for side in pair:
                side.transport.abort()

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        assert self._flowing is not None
        while data := await source.read(CHUNK):
            if upstream:
                self.sent += len(data)
            if self._delay:
                await asyncio.sleep(self._delay)
            await self._flowing.wait()
            if upstream and self._dropping:
                continue
            sink.write(data)
            await sink.drain()
        sink.transport.abort()  # one side closed: close the other, as a cut would
