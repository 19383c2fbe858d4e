"""Lua scripts from ``lua/``, run with EVALSHA.

A ``LuaScript`` names a file ``lua/<name>.lua``. Nothing is read at import: the source and
its SHA1 are computed on first use and kept. Calls go through ``Executor.run_script``,
which sends EVALSHA and, on NOSCRIPT (a restarted or flushed server, a new cluster node),
loads the script and retries once.

Where the files are: a wheel carries them as ``aioredpat/_lua/`` (hatch force-include); a
source checkout and an editable install find the top-level ``lua/`` beside the package.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path

from .errors import ConfigurationError

__all__ = ("LuaScript", "lua_dir")

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "_lua", _PACKAGE_DIR.parent / "lua")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def lua_dir() -> Path:
    """The directory holding the scripts, for whichever way aioredpat was installed."""
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(c) for c in _CANDIDATES)
    raise ConfigurationError(f"aioredpat's Lua scripts were not found (looked in {searched})")


class LuaScript:
    """One script of ``lua/``; cheap to create, read once on first use."""

    __slots__ = ("__dict__", "name")

    def __init__(self, name: str) -> None:
        if not _NAME.match(name):
            raise ConfigurationError(f"script names are lower_snake_case, got {name!r}")
        self.name = name

    @property
    def path(self) -> Path:
        return lua_dir() / f"{self.name}.lua"

    @cached_property
    def source(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigurationError(
                f"Lua script {self.name!r} is missing from {lua_dir()}"
            ) from None

    @cached_property
    def sha(self) -> str:
        return hashlib.sha1(self.source).hexdigest()

    def __repr__(self) -> str:
        return f"LuaScript({self.name!r})"
