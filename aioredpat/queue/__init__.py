"""``JobQueue`` and ``QueueWorker``: jobs that survive a worker's death, run again only
after their lease runs out, retried with backoff, delayed on the server's clock."""

from ._job import Job as Job
from ._job import QueueStats as QueueStats
from ._queue import JobQueue as JobQueue
from ._worker import QueueWorker as QueueWorker

__all__ = ("Job", "JobQueue", "QueueStats", "QueueWorker")
