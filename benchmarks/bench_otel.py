"""What OpenTelemetry costs a pattern call: cache hits and rate-limit hits, 1 task.

Three setups, each a process of its own on the same server, alternating in every round:
opentelemetry not importable (no extra), the API installed with no SDK configured, and the
SDK's meter provider with an in-memory reader. Medians of ``--rounds`` rounds.

Bars: with the SDK <= 10% slower than without instrumentation; with the API alone <= 3%.

    uv run --group bench python -m benchmarks.bench_otel [--ops 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from benchmarks._common import ROOT, median, redis_url, table

MODES = {"none": "no opentelemetry", "api": "API only, no SDK", "sdk": "SDK, in-memory reader"}


def side(mode: str, url: str, ops: int) -> dict[str, float]:
    script = ROOT / "benchmarks" / "peers" / "otel_side.py"
    done = subprocess.run(
        [sys.executable, str(script), mode, url, str(ops)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with redis_url() as url:
        for _ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(side(mode, url, args.ops))
    promised = []
    for op in ("cache hit", "rate-limit hit"):
        rates = {mode: median([run[op] for run in runs[mode]]) for mode in MODES}
        print(f"\n{op}, 1 task, ops/s, medians of {args.rounds} rounds\n")
        rows = [("setup", "ops/s", "slower than none by")]
        for mode, label in MODES.items():
            slower = (rates["none"] / rates[mode] - 1) * 100
            rows.append((label, f"{rates[mode]:,.0f}", f"{slower:+.1f}%"))
        print(table(rows))
        api = (rates["none"] / rates["api"] - 1) * 100
        sdk = (rates["none"] / rates["sdk"] - 1) * 100
        promised += [
            (f"{op}: API only, slower by", f"{api:+.1f}%", "<= 3%", api <= 3),
            (f"{op}: SDK, slower by", f"{sdk:+.1f}%", "<= 10%", sdk <= 10),
        ]
    print("\npromised numbers\n")
    print(table([("measure", "found", "bar", "")]
                + [(m, f, b, "met" if ok else "MISSED") for m, f, b, ok in promised]))  # fmt: skip


if __name__ == "__main__":
    main()
