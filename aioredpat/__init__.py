"""production Redis patterns for asyncio services.

Everything public is importable from here; see the documentation for each pattern.
"""

from .cache import CacheAside as CacheAside
from .cache import CachedFunction as CachedFunction
from .cache import NearCache as NearCache
from .cache import WriteBehind as WriteBehind
from .cache import WriteThrough as WriteThrough
from .cache import cached as cached
from .errors import AioredpatError as AioredpatError
from .errors import ConfigurationError as ConfigurationError
from .errors import LockError as LockError
from .errors import LockLost as LockLost
from .errors import LockNotAcquired as LockNotAcquired
from .errors import LockNotOwned as LockNotOwned
from .errors import RateLimitExceeded as RateLimitExceeded
from .errors import ScriptError as ScriptError
from .errors import SerializationError as SerializationError
from .errors import ServerNotFoundError as ServerNotFoundError
from .errors import ValueTooLarge as ValueTooLarge
from .errors import VersionConflict as VersionConflict
from .lock import Lock as Lock
from .lock import LockLease as LockLease
from .lock import Redlock as Redlock
from .lock import Semaphore as Semaphore
from .pool import RedisPool as RedisPool
from .queue import Job as Job
from .queue import JobQueue as JobQueue
from .queue import QueueStats as QueueStats
from .queue import QueueWorker as QueueWorker
from .ratelimit import FixedWindow as FixedWindow
from .ratelimit import MultiLimit as MultiLimit
from .ratelimit import RateLimitResult as RateLimitResult
from .ratelimit import SlidingWindow as SlidingWindow
from .ratelimit import TokenBucket as TokenBucket
from .serializers import ModelSerializer as ModelSerializer
from .serializers import Serializer as Serializer
from .sessions import SessionMiddleware as SessionMiddleware
from .sessions import SessionStore as SessionStore
from .streams import BatchStreamConsumer as BatchStreamConsumer
from .streams import PubSub as PubSub
from .streams import PubSubGap as PubSubGap
from .streams import PubSubMessage as PubSubMessage
from .streams import StreamConsumer as StreamConsumer
from .streams import StreamMessage as StreamMessage
from .streams import StreamProducer as StreamProducer
from .structures import ActivityFeed as ActivityFeed
from .structures import BloomFilter as BloomFilter
from .structures import Leaderboard as Leaderboard
from .structures import LeaderboardEntry as LeaderboardEntry
from .structures import UniqueCounter as UniqueCounter
from .structures import Versioned as Versioned
from .structures import VersionedStore as VersionedStore

__version__ = "0.1.0.dev0"

__all__ = (
    "ActivityFeed",
    "AioredpatError",
    "BatchStreamConsumer",
    "BloomFilter",
    "CacheAside",
    "CachedFunction",
    "ConfigurationError",
    "FixedWindow",
    "Job",
    "JobQueue",
    "Leaderboard",
    "LeaderboardEntry",
    "Lock",
    "LockError",
    "LockLease",
    "LockLost",
    "LockNotAcquired",
    "LockNotOwned",
    "ModelSerializer",
    "MultiLimit",
    "NearCache",
    "PubSub",
    "PubSubGap",
    "PubSubMessage",
    "QueueStats",
    "QueueWorker",
    "RateLimitExceeded",
    "RateLimitResult",
    "RedisPool",
    "Redlock",
    "ScriptError",
    "Semaphore",
    "SerializationError",
    "Serializer",
    "SessionMiddleware",
    "SessionStore",
    "ServerNotFoundError",
    "SlidingWindow",
    "StreamConsumer",
    "StreamMessage",
    "StreamProducer",
    "TokenBucket",
    "UniqueCounter",
    "ValueTooLarge",
    "VersionConflict",
    "Versioned",
    "VersionedStore",
    "WriteBehind",
    "WriteThrough",
    "cached",
)


def _public_module() -> None:
    """Public classes report the package as their module (``aioredpat.CacheAside``), the
    place users import them from."""
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) and obj.__module__.startswith("aioredpat."):
            obj.__module__ = __name__


_public_module()
