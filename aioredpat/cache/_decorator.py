"""``@cached``: an ``async def`` function's results cached under its arguments."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from pydantic_core import to_jsonable_python

from ..errors import ConfigurationError
from ._aside import CacheAside

__all__ = ("cached",)

P = ParamSpec("P")
R = TypeVar("R")


def cached(
    conn: object,
    *,
    namespace: str,
    ttl: float,
    model: Any = None,
    key: Callable[..., str] | None = None,
    **options: Any,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache an ``async def`` function's results in a ``CacheAside`` for ``ttl`` seconds.

    The cache key is the function's qualified name and its arguments, bound to its
    signature (so ``f(1, b=2)`` and ``f(a=1, b=2)`` share an entry) and encoded as JSON (so
    equal values give equal keys across processes; pydantic models and dataclasses work).
    ``key=`` replaces that with your own ``(*args, **kwargs) -> str``. ``model`` defaults to
    the function's return annotation. Other options go to ``CacheAside`` (``negative_ttl``,
    ``early_refresh``, ``stale_ttl``, ``fail_open``...). Concurrent calls with the same
    arguments run the function once, across processes.

    The wrapper has ``.cache`` (the ``CacheAside``) and ``await .invalidate(*args,
    **kwargs)`` to delete the entry of one call.
    """

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(function):
            raise ConfigurationError(f"@cached needs an async def function, got {function!r}")
        chosen = model if model is not None else _return_type(function)
        cache: CacheAside[Any] = CacheAside(
            conn, namespace=namespace, ttl=ttl, model=chosen, **options
        )
        signature = inspect.signature(function)
        prefix = f"{function.__module__}.{function.__qualname__}"

        def key_of(*args: Any, **kwargs: Any) -> str:
            if key is not None:
                return key(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            text = json.dumps(
                to_jsonable_python(bound.arguments, fallback=repr),
                sort_keys=True,
                separators=(",", ":"),
            )
            if len(text) > 200:
                text = hashlib.sha256(text.encode()).hexdigest()
            return f"{prefix}:{text}"

        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            async def load(_: str) -> Any:
                return await function(*args, **kwargs)

            return typing.cast(R, await cache.get(key_of(*args, **kwargs), loader=load))

        async def invalidate(*args: Any, **kwargs: Any) -> None:
            await cache.delete(key_of(*args, **kwargs))

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.invalidate = invalidate  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _return_type(function: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return None
    return hints.get("return")
