"""What operators run: ``doctor`` (the production checklist), ``inspect`` (one lock,
limiter, stream or queue), ``dlq`` (dead letters and dead jobs) and the dashboard. Each
reads Redis and returns plain data; the command line (``aioredpat.__main__``) prints it."""

from ._dashboard import dashboard_app as dashboard_app
from ._dlq import dlq_list as dlq_list
from ._dlq import dlq_purge as dlq_purge
from ._dlq import dlq_replay as dlq_replay
from ._doctor import Check as Check
from ._doctor import doctor as doctor
from ._inspect import inspect_limiter as inspect_limiter
from ._inspect import inspect_lock as inspect_lock
from ._inspect import inspect_queue as inspect_queue
from ._inspect import inspect_stream as inspect_stream

__all__ = (
    "Check", "dashboard_app", "dlq_list", "dlq_purge", "dlq_replay", "doctor",
    "inspect_limiter", "inspect_lock", "inspect_queue", "inspect_stream",
)  # fmt: skip
