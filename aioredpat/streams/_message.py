"""``StreamMessage`` and the dead-letter entry format."""

from __future__ import annotations

import dataclasses
from typing import Generic, TypeVar

__all__ = ("DATA_FIELD", "StreamMessage", "dead_letter_fields")

T = TypeVar("T")

DATA_FIELD = "data"  # each entry holds one field: the serialized value


@dataclasses.dataclass(frozen=True, slots=True)
class StreamMessage(Generic[T]):
    """One stream entry handed to a consumer's handler.

    ``id`` is the entry id (``"1700000000000-0"``), ``data`` the decoded value and
    ``deliveries`` how many times the group has delivered it, this time included: 1 on the
    first try, more when an earlier try failed or its consumer died.
    """

    id: str
    data: T
    deliveries: int
    stream: str


def dead_letter_fields(
    *,
    stream: str,
    entry_id: str,
    group: str,
    consumer: str,
    deliveries: int,
    error: str,
    data: bytes | None,
) -> dict[str, str | bytes | int]:
    """The fields of a dead-letter entry: where it came from, how often it was tried, why
    it failed, and the original ``data`` unchanged (absent when the entry had none), so
    that it can be published again as it was."""
    fields: dict[str, str | bytes | int] = {
        "stream": stream,
        "id": entry_id,
        "group": group,
        "consumer": consumer,
        "deliveries": deliveries,
        "error": error,
    }
    if data is not None:
        fields[DATA_FIELD] = data
    return fields
