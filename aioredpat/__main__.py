"""``aioredpat`` on the command line: ``aioredpat demo`` (or ``python -m aioredpat demo``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aioredpat", description="aioredpat's command line")
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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    try:
        report = importlib.import_module("benchmarks.report")
    except ImportError:
        print("aioredpat bench runs from a source checkout: uv run --group bench aioredpat bench")
        return 2
    return int(report.main(quick=args.quick))


if __name__ == "__main__":
    sys.exit(main())
