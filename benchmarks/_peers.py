"""Peers that cannot share the project's environment (their redis-py pins differ) run in
virtual environments of their own, made with uv from ``benchmarks/peers/<name>.txt`` on
first use and kept under ``.nox/peers/``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / "peers"
VENVS = ROOT / ".nox" / "peers"


def peer_python(name: str) -> str:
    """The Python of ``name``'s environment, made (or brought up to date) from its
    requirements file: a stamp beside it records which requirements it holds."""
    requirements = PEERS / f"{name}.txt"
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / "requirements.txt"
    wanted = requirements.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("bench_queue needs uv to make the peers' environments: pip install uv")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements)],
        check=True,
    )
    stamp.write_text(wanted)
    return str(python)
