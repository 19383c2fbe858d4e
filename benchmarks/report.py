"""Run every benchmark suite and write a Markdown report with PNG charts.

    uv run --group bench python -m benchmarks.report [--quick]
    uv run --group bench aioredpat bench [--quick]
    uv run nox -s bench

Each suite runs as its own process against its own throwaway Redis (or ``REDIS_URL``); its
printed tables are kept verbatim in ``benchmarks/results/report.md`` and drawn, one chart
per table, as ``benchmarks/results/<suite>-<n>.png``. The charts are copied to
``docs/assets/bench/`` and ``docs/benchmarks.md`` is rewritten to show them, with the
machine they were taken on.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC_ASSETS = ROOT / "docs" / "assets" / "bench"

# (module, what it compares, full arguments, quick arguments)
SUITES = [
    ("bench_scripts", "script-call overhead against raw redis-py", [], ["--rounds", "5"]),
    ("bench_ratelimit", "rate limiters against limits", [], ["--ops", "4000", "--rounds", "2"]),
    ("bench_lock", "locks against redis-py and pottery", [], ["--rounds", "4"]),
    (
        "bench_cache",
        "cache hits against raw redis-py, cashews and aiocache, standalone and cluster; a stampede",
        [],
        ["--ops", "4000", "--rounds", "2"],
    ),
    (
        "bench_near",
        "near-cache hits against raw redis-py and cashews' client-side cache",
        [],
        ["--ops", "4000", "--rounds", "2"],
    ),
    (
        "bench_streams",
        "stream consumers against FastStream and a raw loop",
        [],
        ["--messages", "10000", "--rounds", "1", "--idle", "3"],
    ),
    (
        "bench_structures",
        "data structures' promised numbers; bloom and unique counts against pottery",
        [],
        ["--rounds", "2"],
    ),
    (
        "bench_sessions",
        "session middleware against starsessions",
        [],
        ["--requests", "400", "--rounds", "2"],
    ),
    (
        "bench_queue",
        "job queue against arq and saq (each in its own environment)",
        [],
        ["--jobs", "2000", "--rounds", "1"],
    ),
    (
        "bench_otel",
        "what OpenTelemetry costs a cache hit and a rate-limit hit (instructions, callgrind)",
        [],
        ["--calls", "300", "--ops", "4000", "--rounds", "1"],
    ),
    (
        "bench_write_behind",
        "write-behind against a plain SET; end to end into SQLite",
        [],
        ["--ops", "4000", "--rounds", "2", "--writes", "4000"],
    ),
]

# what the suites import (the bench dependency group), checked before anything runs
REQUIRES = ("aiocache", "cashews", "faststream", "limits", "matplotlib", "pottery", "starsessions")


def missing_requirements() -> list[str]:
    import importlib.util

    return [name for name in REQUIRES if importlib.util.find_spec(name) is None]


NUMBER = re.compile(r"^-?[\d,]*\.?\d+")
SKIPPED_COLUMNS = {"waiters"}  # a setting, not a measurement


def machine() -> str:
    redis_version = "unknown"
    from aioredpat._launcher import find_redis_server, server_version

    binary = find_redis_server()
    if binary:
        redis_version = ".".join(map(str, server_version(binary)))
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Redis {redis_version}"
    )


def tables(output: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tables a suite printed: (the line above it, header cells, rows of cells)."""
    lines = output.splitlines()
    found = []
    for i, line in enumerate(lines):
        if i == 0 or not re.fullmatch(r"-+(  -+)*\s*", line):
            continue
        header = re.split(r"\s{2,}", lines[i - 1].strip())
        title = next((lines[j] for j in range(i - 2, -1, -1) if lines[j].strip()), "")
        rows = []
        for row in lines[i + 1 :]:
            cells = re.split(r"\s{2,}", row.strip())
            if not row.strip() or len(cells) < len(header):
                break  # the table ends at a blank line or at text below it
            rows.append(cells)
        found.append((title.strip(), header, rows))
    return found


def chart(title: str, header: list[str], rows: list[list[str]], path: Path) -> bool:
    """A horizontal bar chart of the table's first numeric column; False if it has none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for column in range(1, len(header)):
        if header[column] in SKIPPED_COLUMNS:
            continue
        values = []
        for row in rows:
            cell = row[column] if column < len(row) else ""
            match = NUMBER.match(cell.replace("x", ""))
            values.append(float(match.group().replace(",", "")) if match else None)
        if all(value is not None for value in values) and values:
            break
    else:
        return False
    labels = [row[0] for row in rows]
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    colors = ["#c0392b" if "aioredpat" in label else "#7f8c8d" for label in labels]
    axes.barh(labels[::-1], [v or 0 for v in values][::-1], color=colors[::-1])
    axes.set_xlabel(header[column])
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def earlier_sections() -> dict[str, list[str]]:
    """The sections of the last report, by suite, for ``--only`` to keep."""
    path = RESULTS / "report.md"
    if not path.exists():
        return {}
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].split(":")[0], [])
        if current is not None:
            current.append(line)
    return sections


def main(*, quick: bool = False, only: list[str] | None = None) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    DOC_ASSETS.mkdir(parents=True, exist_ok=True)
    taken = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = machine()
    report = [
        "# Benchmark report",
        "",
        f"Taken {taken} on {where}{' (quick mode)' if quick else ''}. Every suite runs its",
        "contenders side by side, on one Redis, in one run; figures are medians of",
        "alternating rounds. Read the ratios: absolute numbers depend on the machine.",
        "",
    ]
    images: list[tuple[str, str]] = []
    crashed = []
    kept = earlier_sections() if only else {}
    for module, about, full, short in SUITES:
        if only and module not in only:
            section = kept.get(module, [])
            report += section
            images += [
                (title, name)
                for title, name in re.findall(r"^!\[(.*)\]\((.*)\)$", "\n".join(section), re.M)
            ]
            continue
        print(f"running {module} ({about})", flush=True)
        command = [sys.executable, "-m", f"benchmarks.{module}", *(short if quick else full)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        output = done.stdout.strip()
        if "Traceback" in done.stderr:  # a missed bar exits non-zero too; that is a result
            crashed.append(module)
            output += "\n" + done.stderr[-2000:]
        report += [f"## {module}: {about}", ""]
        if only:
            report += [f"(run on its own, {taken})", ""]
        report += ["```text", output, "```", ""]
        for n, (title, header, rows) in enumerate(tables(done.stdout), start=1):
            name = f"{module}-{n}.png"
            if chart(title or module, header, rows, RESULTS / name):
                shutil.copyfile(RESULTS / name, DOC_ASSETS / name)
                report += [f"![{title}]({name})", ""]
                images.append((title or module, name))
    (RESULTS / "report.md").write_text("\n".join(report))
    write_docs_page(taken, where, quick, images)
    print(f"wrote {RESULTS / 'report.md'} and {len(images)} charts")
    if crashed:
        print(f"suites that crashed: {', '.join(crashed)}")
    return 1 if crashed else 0


def write_docs_page(taken: str, where: str, quick: bool, images: list[tuple[str, str]]) -> None:
    page = [
        "# Benchmarks",
        "",
        "Each pattern is measured side by side with the library a user would otherwise",
        "pick, in one run, on the same Redis: `uv run nox -s bench` (or",
        "`uv run --group bench aioredpat bench`) runs every suite and writes",
        "`benchmarks/results/report.md` with the full tables and these charts.",
        "",
        f"The latest charts were taken {taken} on {where}{' in quick mode' if quick else ''}.",
        "The machine is shared and noisy: compare bars within a chart, not across runs.",
        "",
    ]
    for title, name in images:
        page += [f"![{title}](assets/bench/{name})", ""]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(page))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", action="append", help="run this suite alone, keeping the others' last tables"
    )
    arguments = parser.parse_args()
    sys.exit(main(quick=arguments.quick, only=arguments.only))
