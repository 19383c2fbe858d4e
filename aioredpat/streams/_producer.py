"""``StreamProducer``: typed values appended to a Redis Stream."""

from __future__ import annotations

from collections.abc import Iterable
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .._executor import as_text, executor_for
from .._types import Connection, ProducerOptions
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer
from ._message import DATA_FIELD

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("StreamProducer",)

T = TypeVar("T")


class StreamProducer(Generic[T]):
    """Appends values to the stream ``stream`` (the key itself), serialized by ``model``.

    ``maxlen`` caps the stream's length with approximate trimming (``XADD MAXLEN ~``), which
    Redis does cheaply a whole node of entries at a time, so the stream may briefly hold a
    little more than ``maxlen``; ``approximate=False`` trims exactly, at a higher cost.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        model: type[T],
        **options: Unpack[ProducerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        serializer: Serializer[T],
        **options: Unpack[ProducerOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: StreamProducer[Any],
        conn: Connection,
        stream: str,
        *,
        model: UnionType | None = None,
        **options: Unpack[ProducerOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        stream: str,
        *,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        maxlen: int | None = None,
        approximate: bool = True,
    ) -> None:
        if not isinstance(stream, str) or not stream:
            raise ConfigurationError(f"stream must be a non-empty str, got {stream!r}")
        if maxlen is not None and (
            isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
        ):
            raise ConfigurationError(f"maxlen must be None or an int >= 1, got {maxlen!r}")
        self.stream = stream
        self.maxlen = maxlen
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._trim: tuple[str | int, ...] = (
            () if maxlen is None else ("MAXLEN", "~" if approximate else "=", maxlen)
        )

    def __repr__(self) -> str:
        return f"StreamProducer({self.stream!r}, maxlen={self.maxlen})"

    async def publish(self, value: T) -> str:
        """Append ``value`` (one XADD); returns the entry id, e.g. ``"1700000000000-0"``.

        A value the serializer cannot encode raises ``SerializationError`` before anything
        is sent.
        """
        data = self._executor.sized(self._serializer.dumps(value))
        entry_id = await self._executor.execute(
            "XADD", self.stream, *self._trim, "*", DATA_FIELD, data
        )
        return as_text(entry_id)

    async def publish_many(self, values: Iterable[T]) -> list[str]:
        """Append every value in order, in one round trip (a pipeline of XADDs).

        Every value is encoded first, so one that cannot be encoded raises
        ``SerializationError`` and nothing is sent.
        """
        encoded = [self._executor.sized(self._serializer.dumps(value)) for value in values]
        if not encoded:
            return []
        batch = self._executor.batch()
        for data in encoded:
            batch.command("XADD", self.stream, *self._trim, "*", DATA_FIELD, data)
        return [as_text(entry_id) for entry_id in await batch.execute()]
