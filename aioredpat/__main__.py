"""``aioredpat`` on the command line (or ``python -m aioredpat``).

``demo`` and ``bench`` run the project's showcase; ``doctor``, ``inspect``, ``dlq`` and
``dashboard`` look at a live server (``--url``, default ``REDIS_URL``). Tables and colours
come from rich (``aioredpat[cli]``); ``--json`` prints machine-readable output without it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import RedisError

from . import __version__

EXIT_FAIL, EXIT_UNREACHABLE = 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aioredpat", description="aioredpat's command line")
    parser.add_argument("--version", action="version", version=f"aioredpat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="run a small shop service on every pattern and report what it measured",
        description="Runs against REDIS_URL when set, else a throwaway local server.",
    )
    bench = commands.add_parser(
        "bench", help="run the benchmarks side by side with their peers (source checkout)"
    )
    bench.add_argument("--quick", action="store_true", help="fewer operations and rounds")

    def live(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--url", help="the server (default: REDIS_URL)")
        return sub

    doctor = live("doctor", "check a server against the production checklist (read only)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument("--sample", type=int, default=1000, help="keys sampled per primary")

    inspect = live("inspect", "show one lock, limiter, stream or queue")
    inspect.add_argument("--json", action="store_true")
    inspect.add_argument("--namespace", help="the pattern's namespace, if not the default")
    inspect.add_argument("kind", choices=["lock", "limiter", "stream", "queue"])
    inspect.add_argument("target", nargs="+", help="NAME | NAMESPACE ID | STREAM | NAME")
    inspect.add_argument("--group", help="for a stream: only this consumer group")

    dlq = live("dlq", "list, replay or purge a dead-letter stream, or a queue's dead jobs")
    dlq.add_argument("action", choices=["list", "replay", "purge"])
    dlq.add_argument("target", help="a dead-letter stream, or queue:NAME for a job queue")
    dlq.add_argument("--namespace", default="queue", help="a job queue's namespace")
    dlq.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    dlq.add_argument("--json", action="store_true")

    dashboard = live("dashboard", "serve a live web page of the server's patterns")
    dashboard.add_argument("--port", type=int, default=8765)
    dashboard.add_argument("--host", default="127.0.0.1")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    if args.command == "bench":
        return _bench(args.quick)
    if args.command == "dashboard":
        return _dashboard(args)
    run: dict[str, Callable[[Any, argparse.Namespace], Awaitable[int]]] = {
        "doctor": _doctor, "inspect": _inspect, "dlq": _dlq,
    }  # fmt: skip
    return asyncio.run(_with_client(args, run[args.command]))


async def _with_client(
    args: argparse.Namespace, command: Callable[[Any, argparse.Namespace], Awaitable[int]]
) -> int:
    from .ops._client import connect, url_or_env

    url = url_or_env(args.url)
    try:
        client = await connect(url)
    except (RedisError, OSError) as error:
        _print_error(args, f"cannot connect to {url}: {error}")
        return EXIT_UNREACHABLE
    try:
        return await command(client, args)
    finally:
        await client.aclose()


def _print_error(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    else:
        print(f"aioredpat {args.command}: {message}", file=sys.stderr)


def _console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
    """Print a rich table; False when rich is not installed (the caller prints JSON)."""
    console = _console()
    if console is None:
        print("(pip install 'aioredpat[cli]' for tables; JSON follows)", file=sys.stderr)
        return False
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    console.print(table)
    return True


STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]"}


async def _doctor(client: Any, args: argparse.Namespace) -> int:
    from .ops import doctor

    checks = await doctor(client, sample=args.sample)
    failed = any(check.status == "fail" for check in checks)
    report = {"checks": [check.as_dict() for check in checks]}
    rows = [(check.name, STYLE[check.status], check.detail) for check in checks]
    if args.json or not _table("aioredpat doctor", ("check", "status", "detail"), rows):
        print(json.dumps(report, indent=None if args.json else 2))
    return EXIT_FAIL if failed else 0


async def _inspect(client: Any, args: argparse.Namespace) -> int:
    from .ops import inspect_limiter, inspect_lock, inspect_queue, inspect_stream

    target, kind = args.target, args.kind
    if (kind == "limiter" and len(target) != 2) or (kind != "limiter" and len(target) != 1):
        _print_error(
            args, f"inspect {kind} takes {'NAMESPACE ID' if kind == 'limiter' else 'NAME'}"
        )
        return EXIT_UNREACHABLE
    namespace = args.namespace
    try:
        if kind == "lock":
            found = await inspect_lock(client, target[0], namespace=namespace or "lock")
        elif kind == "limiter":
            found = await inspect_limiter(client, target[0], target[1])
        elif kind == "stream":
            found = await inspect_stream(client, target[0], group=args.group)
        else:
            found = await inspect_queue(client, target[0], namespace=namespace or "queue")
    except RedisError as error:
        _print_error(args, f"{kind} {' '.join(target)}: {error}")
        return EXIT_FAIL
    if args.json:
        print(json.dumps(found, default=str))
        return 0
    rows = [(key, json.dumps(value, default=str) if isinstance(value, list | dict) else value)
            for key, value in found.items()]  # fmt: skip
    if not _table(f"{kind} {' '.join(target)}", ("field", "value"), rows):
        print(json.dumps(found, default=str, indent=2))
    return 0


async def _dlq(client: Any, args: argparse.Namespace) -> int:
    from .ops import dlq_list, dlq_purge, dlq_replay

    if args.action == "list":
        entries = await dlq_list(client, args.target, namespace=args.namespace)
        if args.json:
            print(json.dumps(entries))
            return 0
        columns = sorted({key for entry in entries for key in entry}, key=_column_order)
        rows = [[entry.get(column) for column in columns] for entry in entries]
        if not _table(f"dead letters of {args.target}", columns or ["(none)"], rows):
            print(json.dumps(entries, indent=2))
        return 0
    act = dlq_replay if args.action == "replay" else dlq_purge
    outcome = await act(client, args.target, namespace=args.namespace, dry_run=args.dry_run)
    print(json.dumps(outcome) if args.json else _sentence(args.action, outcome))
    return 0


def _column_order(name: str) -> tuple[int, str]:
    first = ["id", "stream", "group", "consumer", "deliveries", "attempts", "error", "data"]
    return (first.index(name) if name in first else len(first), name)


def _sentence(action: str, outcome: dict[str, Any]) -> str:
    if outcome.get("dry_run"):
        count = outcome.get("would_replay", outcome.get("purged"))
        return f"dry run: {action} would touch {count if count is not None else 'every'} entries"
    count = outcome.get("replayed", outcome.get("purged", 0))
    where = outcome.get("to")
    return f"{action}: {count} entries" + (f" to {where}" if where else "")


def _dashboard(args: argparse.Namespace) -> int:
    from .ops import dashboard_app
    from .ops._client import url_or_env

    try:
        import uvicorn
    except ImportError:
        print("aioredpat dashboard needs uvicorn: pip install 'aioredpat[cli]'", file=sys.stderr)
        return EXIT_UNREACHABLE
    app = dashboard_app(url_or_env(args.url))
    print(f"aioredpat dashboard on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _bench(quick: bool) -> int:
    try:
        report = importlib.import_module("benchmarks.report")
    except ImportError:
        print("aioredpat bench runs from a source checkout: uv run --group bench aioredpat bench")
        return EXIT_UNREACHABLE
    missing = report.missing_requirements()
    if missing:
        print(
            f"aioredpat bench compares against peers that are not installed here "
            f"({', '.join(missing)}): run it as `uv run --group bench aioredpat bench`, "
            "or `uv sync --group bench` first",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    return int(report.main(quick=quick))


if __name__ == "__main__":
    sys.exit(main())
