from __future__ import annotations

import dataclasses

import pydantic
import pytest
from typing_extensions import TypedDict

from aioredpat import ConfigurationError, ModelSerializer, SerializationError, Serializer
from aioredpat.serializers import resolve_serializer


class User(pydantic.BaseModel):
    id: int
    name: str


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Movie(TypedDict):
    title: str
    year: int


@pytest.mark.parametrize(
    ("tp", "value"),
    [
        (User, User(id=1, name="Ada")),
        (Point, Point(1.5, -2.0)),
        (Movie, {"title": "Ran", "year": 1985}),
        (list[int], [1, 2, 3]),
        (dict[str, list[int]], {"a": [1], "ü{}": []}),
    ],
)
def test_round_trip(tp, value) -> None:
    serializer = ModelSerializer(tp)
    data = serializer.dumps(value)
    assert isinstance(data, bytes)
    back = serializer.loads(data)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize(
    "data", [b"\xff\xfe", b"not json", b'{"id": "x", "name": 3}', b"[1, 2", b""]
)
def test_bad_bytes_raise_serialization_error(data: bytes) -> None:
    with pytest.raises(SerializationError, match="User") as info:
        ModelSerializer(User).loads(data)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


def test_wrong_value_type_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        ModelSerializer(list[int]).dumps(object())  # type: ignore[arg-type]


def test_unknown_type_is_a_configuration_error() -> None:
    class NotAModel:
        pass

    with pytest.raises(ConfigurationError, match="NotAModel"):
        ModelSerializer(NotAModel)


def test_resolve_serializer_choices() -> None:
    class Raw:
        def dumps(self, value: bytes) -> bytes:
            return value

        def loads(self, data: bytes) -> bytes:
            return data

    raw = Raw()
    assert isinstance(raw, Serializer)
    assert resolve_serializer(serializer=raw) is raw
    assert resolve_serializer(model=list[int]).loads(b"[1]") == [1]
    assert resolve_serializer().loads(b'{"any": [1, "json"]}') == {"any": [1, "json"]}
    with pytest.raises(ConfigurationError, match="not both"):
        resolve_serializer(model=User, serializer=raw)
    with pytest.raises(ConfigurationError, match="dumps"):
        resolve_serializer(serializer=object())
