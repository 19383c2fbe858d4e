"""Serializers: how patterns turn values into bytes for Redis and back.

``Serializer`` is the protocol (``dumps``/``loads``). ``ModelSerializer`` validates and
encodes through ``pydantic.TypeAdapter`` as JSON, so any type pydantic understands works:
``BaseModel`` subclasses, dataclasses, ``TypedDict``, ``list[int]``, ``dict[str, float]`` ...
(On Python < 3.12 pydantic needs ``typing_extensions.TypedDict`` rather than
``typing.TypedDict``.) Nothing here ever uses pickle: stored bytes are data, never code.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, overload, runtime_checkable

import pydantic
import pydantic_core

from .errors import ConfigurationError, SerializationError

__all__ = ("ModelSerializer", "Serializer", "resolve_serializer", "typed")

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

    @overload
    def __init__(self, tp: type[T]) -> None: ...
    @overload
    def __init__(self: ModelSerializer[Any], tp: object) -> None: ...
    def __init__(self, tp: Any) -> None:
        try:
            self._adapter: pydantic.TypeAdapter[T] = pydantic.TypeAdapter(tp)
        except pydantic.PydanticSchemaGenerationError as exc:
            raise ConfigurationError(f"model {tp!r} is not a type pydantic can validate") from exc
        self.type = tp

    def validate(self, value: Any, /) -> T:
        """``value`` as a ``tp`` (a dict from a database row becomes the model), or
        ``SerializationError`` naming what is wrong with it."""
        try:
            return self._adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise SerializationError(
                f"{type(value).__name__} value is not a valid {_name(self.type)}: "
                f"{_first_error(exc)}"
            ) from exc

    def dumps(self, value: T, /) -> bytes:
        """Validate ``value`` as a ``tp``, then encode it: a value of the wrong type raises
        ``SerializationError`` here, before anything reaches Redis."""
        checked = self.validate(value)
        try:
            return self._adapter.dump_json(checked)
        except pydantic_core.PydanticSerializationError as exc:
            raise SerializationError(
                f"cannot encode {type(value).__name__} as {_name(self.type)}: {exc}"
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


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _first_error(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(map(str, first.get("loc", ()))) or "value"
    more = exc.error_count() - 1
    return f"{where}: {first.get('msg')}" + (f" (and {more} more)" if more else "")


def typed(serializer: Serializer[T], value: Any) -> T:
    """``value`` as its serializer's type: validated by a ``ModelSerializer``, a round trip
    through any other serializer (so a loader's dict comes back as the model a hit gives)."""
    if isinstance(serializer, ModelSerializer):
        return serializer.validate(value)  # type: ignore[no-any-return]
    return serializer.loads(serializer.dumps(value))


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
