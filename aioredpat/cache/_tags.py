"""Tag versions: ``invalidate_tags`` makes every entry stored with a tag miss at once.

Each tag has a version (a random token) under ``<ns>:{~tags}:<tag>``. An entry records the
versions of its tags as they were before its value was produced; it is current while each
of them still is. Invalidating a tag is one SET of a new version, whatever the number of
entries it covers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from .._executor import Executor, as_text
from .._scripts import LuaScript
from ..errors import ConfigurationError
from ._entry import Versions
from ._layout import CacheKeys, ms

__all__ = ("TagVersions", "check_tags")

TAGS = LuaScript("cache_tags")


def check_tags(tags: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(tags))
    for tag in names:
        if not isinstance(tag, str) or not tag:
            raise ConfigurationError(f"tags must be non-empty str, got {tag!r}")
    return names


class TagVersions:
    __slots__ = ("_executor", "_keys", "max_ttl")

    def __init__(self, executor: Executor, keys: CacheKeys, max_ttl: float) -> None:
        self._executor = executor
        self._keys = keys
        self.max_ttl = max_ttl  # a version lives that long after its last use

    async def read(self, tags: Sequence[str]) -> Versions:
        """The current version of each tag (made now for a tag that has none): one EVALSHA."""
        names = check_tags(tags)
        if not names:
            return ()
        fresh = [secrets.token_hex(8) for _ in names]
        versions = await self._executor.run_script(
            TAGS, [self._keys.tag(tag) for tag in names], [ms(self.max_ttl), *fresh]
        )
        return tuple((tag, as_text(version)) for tag, version in zip(names, versions, strict=True))

    async def current(self, groups: list[Versions]) -> list[bool]:
        """Whether each group's versions are all still current: one MGET for all groups."""
        tags = sorted({tag for group in groups for tag, _ in group})
        found = await self._executor.read("MGET", *[self._keys.tag(tag) for tag in tags])
        now = {tag: as_text(v) for tag, v in zip(tags, found, strict=True) if v is not None}
        return [all(now.get(tag) == version for tag, version in group) for group in groups]

    async def invalidate(self, tags: Sequence[str]) -> None:
        """A new version for each tag: one SET each, one round trip."""
        batch = self._executor.batch()
        for tag in tags:
            batch.command("SET", self._keys.tag(tag), secrets.token_hex(8), "PX", ms(self.max_ttl))
        await batch.execute()
