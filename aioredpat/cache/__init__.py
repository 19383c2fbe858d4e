"""Caches: ``CacheAside`` and ``@cached`` read through Redis with stampede protection,
early refresh and tags; ``WriteThrough`` writes the database first; ``WriteBehind``
writes it later, durably."""

from ._aside import CacheAside as CacheAside
from ._decorator import CachedFunction as CachedFunction
from ._decorator import cached as cached
from ._near import NearCache as NearCache
from ._write_behind import WriteBehind as WriteBehind
from ._write_through import WriteThrough as WriteThrough

__all__ = ("CacheAside", "CachedFunction", "NearCache", "WriteBehind", "WriteThrough", "cached")
