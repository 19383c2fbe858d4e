"""Job queues: enqueue a burst of no-op jobs, then run them, against arq and saq.

Each library runs as its own process, in its own virtual environment (arq pins redis<6,
saq redis<8; see ``benchmarks/_peers.py``), on the same server, one after another in
each round; the server is flushed between runs. Every side enqueues ``--jobs`` jobs
at once (``asyncio.gather``: concurrent enqueues) and then one worker with
``--concurrency`` slots runs them all. Medians of ``--rounds`` rounds.

Bars: end-to-end jobs/s >= 2x the faster of arq and saq; enqueue >= 10 000 jobs/s.

    uv run --group bench python -m benchmarks.bench_queue [--jobs 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import redis

from benchmarks._common import ROOT, median, redis_url, table
from benchmarks._peers import peer_python

SIDES = ("aioredpat", "arq", "saq")


def run_side(side: str, url: str, jobs: int, concurrency: int) -> dict[str, float]:
    python = sys.executable if side == "aioredpat" else peer_python(side)
    script = ROOT / "benchmarks" / "peers" / f"queue_{side}.py"
    done = subprocess.run(
        [python, str(script), url, str(jobs), str(concurrency)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{side} printed no result:\n{done.stdout}\n{done.stderr[-3000:]}")
    return json.loads(lines[0])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with redis_url() as url:
        client = redis.Redis.from_url(url)
        for side in SIDES[1:]:
            peer_python(side)  # made before any timing
        for _ in range(args.rounds):
            for side in SIDES:
                client.flushall()
                results[side].append(run_side(side, url, args.jobs, args.concurrency))
        client.flushall()
    rates = {
        side: {
            "enqueue": median([args.jobs / r["enqueue"] for r in runs]),
            "process": median([args.jobs / r["process"] for r in runs]),
            "end to end": median([args.jobs / (r["enqueue"] + r["process"]) for r in runs]),
        }
        for side, runs in results.items()
    }
    print(
        f"\n{args.jobs} no-op jobs, concurrency {args.concurrency}, "
        f"medians of {args.rounds} rounds (jobs/s)\n"
    )
    rows = [("implementation", "enqueue", "process", "end to end", "aioredpat vs this")]
    ours = rates["aioredpat"]["end to end"]
    for side in SIDES:
        rate = rates[side]
        rows.append((
            side, f"{rate['enqueue']:,.0f}", f"{rate['process']:,.0f}",
            f"{rate['end to end']:,.0f}", f"{ours / rate['end to end']:.2f}x",
        ))  # fmt: skip
    print(table(rows))
    fastest = max(rates[side]["end to end"] for side in SIDES[1:])
    enqueue = rates["aioredpat"]["enqueue"]
    print("\npromised numbers\n")
    print(table([
        ("measure", "found", "bar", ""),
        ("end to end vs the faster peer", f"{ours / fastest:.2f}x", ">= 2x",
         "met" if ours >= 2 * fastest else "MISSED"),
        ("enqueue, jobs/s", f"{enqueue:,.0f}", ">= 10,000",
         "met" if enqueue >= 10_000 else "MISSED"),
    ]))  # fmt: skip


if __name__ == "__main__":
    main()
