"""Data structures: ``Leaderboard``, ``UniqueCounter``, ``BloomFilter``, ``ActivityFeed`` and
``VersionedStore``, each one key (or one slot) per object, every call one round trip."""

from ._bloom import BloomFilter as BloomFilter
from ._feed import ActivityFeed as ActivityFeed
from ._leaderboard import Leaderboard as Leaderboard
from ._leaderboard import LeaderboardEntry as LeaderboardEntry
from ._unique import UniqueCounter as UniqueCounter
from ._versioned import Versioned as Versioned
from ._versioned import VersionedStore as VersionedStore

__all__ = (
    "ActivityFeed",
    "BloomFilter",
    "Leaderboard",
    "LeaderboardEntry",
    "UniqueCounter",
    "Versioned",
    "VersionedStore",
)
