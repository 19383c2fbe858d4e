"""Serializers: how patterns turn values into bytes for Redis and back.

``Serializer`` is the protocol (``dumps``/``loads``). ``ModelSerializer`` validates and
encodes through ``pydantic.TypeAdapter`` as JSON, so any type pydantic understands works:
``BaseModel`` subclasses, dataclasses, ``TypedDict``, ``list[int]``, ``dict[str, float]`` ...
(On Python < 3.12 pydantic needs ``typing_extensions.TypedDict`` rather than
``typing.TypedDict``.) Nothing here ever uses pickle: stored bytes are data, never code.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import pydantic
import pydantic_core

from .errors import ConfigurationError, SerializationError

__all__ = ("ModelSerializer", "Serializer", "resolve_serializer")

T = TypeVar("T")


@runtime_checkable
class Serializer(Protocol[T]):
    """Turns values of one type into bytes and back.

    ``loads`` raises ``SerializationError`` for bytes it cannot decode; patterns rely on that
    to treat a corrupted cache entry as a miss or to dead-letter a stream entry.
    """

    def dumps(self, value: T, /) -> bytes: ...

    def loads(self, data: bytes, /) -> T: ...


class ModelSerializer(Generic[T]):
    """JSON through ``pydantic.TypeAdapter(tp)``; values come back as instances of ``tp``.

    >>> s = ModelSerializer(list[int])
    >>> s.loads(s.dumps([1, 2]))
    [1, 2]
    """

    __slots__ = ("_adapter", "type")

    def __init__(self, tp: type[T] | Any) -> None:
        try:
            self._adapter: pydantic.TypeAdapter[T] = pydantic.TypeAdapter(tp)
        except pydantic.PydanticSchemaGenerationError as exc:
            raise ConfigurationError(f"model {tp!r} is not a type pydantic can validate") from exc
        self.type = tp

    def dumps(self, value: T, /) -> bytes:
        try:
            return self._adapter.dump_json(value)
        except pydantic_core.PydanticSerializationError as exc:
            raise SerializationError(
                f"cannot encode {type(value).__name__} as {self.type!r}"
            ) from exc

    def loads(self, data: bytes, /) -> T:
        try:
            return self._adapter.validate_json(data)
        except pydantic.ValidationError as exc:
            raise SerializationError(
                f"stored data is not a valid {self.type!r}: {exc.error_count()} error(s)"
            ) from exc

    def __repr__(self) -> str:
        return f"ModelSerializer({self.type!r})"


def resolve_serializer(model: Any = None, serializer: Any = None) -> Serializer[Any]:
    """The serializer a pattern uses: ``serializer``, else ``ModelSerializer(model)``.

    With neither, values are any JSON-compatible Python data (``ModelSerializer(Any)``).
    """
    if model is not None and serializer is not None:
        raise ConfigurationError("pass model= or serializer=, not both")
    if serializer is not None:
        if not isinstance(serializer, Serializer):
            raise ConfigurationError(
                f"serializer must have dumps(value) -> bytes and loads(bytes), got {serializer!r}"
            )
        return serializer
    return ModelSerializer(Any if model is None else model)
