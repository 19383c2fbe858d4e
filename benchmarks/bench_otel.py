"""What OpenTelemetry costs a pattern call: cache hits and rate-limit hits, 1 task.

Three setups, each a process of its own on the same server: opentelemetry not importable
(no extra), the API installed with no SDK configured, and the SDK's meter provider with an
in-memory reader.

The bars are judged on instructions per call, counted by ``valgrind --tool=callgrind``:
each setup runs ``--calls`` calls and twice as many, and the difference divided by
``--calls`` is what one call costs the client, startup and warm-up cancelling out.
Instrumentation is client work, and an instruction count is repeatable on a noisy machine
where timings of a 100-microsecond call vary by more than the few percent in question.
Wall-clock calls per second, alternating rounds, medians, are printed too, for scale.

Bars: with the SDK <= 10% slower than without instrumentation; with the API alone <= 3%.

    uv run --group bench python -m benchmarks.bench_otel [--calls 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

from benchmarks._common import ROOT, median, redis_url, table

MODES = {"none": "no opentelemetry", "api": "API only, no SDK", "sdk": "SDK, in-memory reader"}
CALLS = {"cache": "cache hit", "ratelimit": "rate-limit hit"}
SCRIPT = ROOT / "benchmarks" / "peers" / "otel_side.py"


def instructions(mode: str, url: str, call: str, calls: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, str(SCRIPT), mode, url, str(calls), call],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found[1])


def per_call(mode: str, url: str, call: str, calls: int) -> float:
    return (instructions(mode, url, call, 2 * calls) - instructions(mode, url, call, calls)) / calls


def wall_clock(mode: str, url: str, ops: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), mode, url, str(ops)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_otel counts instructions with valgrind: apt-get install valgrind")
    with redis_url() as url:
        counts = {(mode, call): per_call(mode, url, call, args.calls)
                  for call in CALLS for mode in MODES}  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(wall_clock(mode, url, args.ops))
    promised = []
    for call, label in CALLS.items():
        base = counts[("none", call)]
        rates = {mode: median([run[label] for run in runs[mode]]) for mode in MODES}
        print(f"\n{label}, 1 task: instructions per call (callgrind), and calls/s "
              f"(wall clock, medians of {args.rounds} rounds)\n")  # fmt: skip
        rows = [("setup", "instructions", "more than none", "calls/s")]
        for mode, name in MODES.items():
            extra = (counts[(mode, call)] / base - 1) * 100
            rows.append((name, f"{counts[(mode, call)]:,.0f}", f"{extra:+.1f}%",
                         f"{rates[mode]:,.0f}"))  # fmt: skip
        print(table(rows))
        api = (counts[("api", call)] / base - 1) * 100
        sdk = (counts[("sdk", call)] / base - 1) * 100
        promised += [
            (f"{label}: API only, instructions", f"{api:+.1f}%", "<= 3%", api <= 3),
            (f"{label}: SDK, instructions", f"{sdk:+.1f}%", "<= 10%", sdk <= 10),
        ]
    print("\npromised numbers\n")
    print(table([("measure", "found", "bar", "")]
                + [(m, f, b, "met" if ok else "MISSED") for m, f, b, ok in promised]))  # fmt: skip


if __name__ == "__main__":
    main()
