"""``@cached``: an ``async def`` function's results cached under its arguments."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from pydantic_core import to_jsonable_python

from .._types import CacheOptions, Connection, Duration
from ..errors import ConfigurationError
from ..serializers import resolve_serializer
from ._aside import CacheAside

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("CachedFunction", "cached")

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class CachedFunction(Protocol[P, R_co]):
    """What ``@cached`` makes of an ``async def`` function: called the same way, with the
    ``CacheAside`` behind it as ``.cache`` and ``await .invalidate(...)`` taking the same
    arguments as the function."""

    @property
    def cache(self) -> CacheAside[Any]: ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]: ...

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> None: ...


class _Decorator(Protocol):
    def __call__(self, function: Callable[P, Awaitable[R]], /) -> CachedFunction[P, R]: ...


class _ModelDecorator(Protocol, Generic[R_co]):
    # the function may return anything the model validates (a dict from a row, say)
    def __call__(self, function: Callable[P, Awaitable[Any]], /) -> CachedFunction[P, R_co]: ...


@overload
def cached(
    conn: Connection,
    *,
    namespace: str,
    ttl: Duration,
    model: type[R],
    key: Callable[..., str] | None = None,
    **options: Unpack[CacheOptions],
) -> _ModelDecorator[R]: ...
@overload
def cached(
    conn: Connection,
    *,
    namespace: str,
    ttl: Duration,
    model: None = None,
    key: Callable[..., str] | None = None,
    **options: Unpack[CacheOptions],
) -> _Decorator: ...
def cached(
    conn: Connection,
    *,
    namespace: str,
    ttl: Duration,
    model: Any = None,
    key: Callable[..., str] | None = None,
    **options: Unpack[CacheOptions],
) -> Any:
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

    def decorate(function: Callable[P, Awaitable[R]]) -> CachedFunction[P, R]:
        if not inspect.iscoroutinefunction(function):
            raise ConfigurationError(f"@cached needs an async def function, got {function!r}")
        # the frame that applies the decorator is the one defining the function: its
        # locals resolve a return annotation naming a class defined in a function
        chosen = model if model is not None else _return_type(function, sys._getframe(1))
        cache = CacheAside(
            conn,
            namespace=namespace,
            ttl=ttl,
            serializer=resolve_serializer(chosen),
            **options,
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
        return typing.cast(CachedFunction[P, R], wrapper)

    return decorate


def _return_type(function: Callable[..., Any], frame: types.FrameType | None) -> Any:
    """The function's return annotation, resolved; ``None`` when it has none. One that
    cannot be resolved is an error rather than a silent fall back to untyped values."""
    annotation = inspect.signature(function, eval_str=False).return_annotation
    if annotation is inspect.Signature.empty:
        return None
    try:
        hints = typing.get_type_hints(function, localns=None if frame is None else frame.f_locals)
    except Exception as exc:
        raise ConfigurationError(
            f"@cached could not resolve the return annotation {annotation!r} of "
            f"{function.__qualname__} ({exc}); pass the type as model="
        ) from exc
    return hints.get("return")
