from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from aioredpat import ConfigurationError, RedisPool
from aioredpat._keys import MAX_PLAIN_LENGTH, KeyBuilder, escape

identifiers = st.one_of(
    st.text(),
    st.text(alphabet="{}:%#~ \x00é漢😀", max_size=12),
    st.integers().map(str),
    st.text(min_size=MAX_PLAIN_LENGTH - 2, max_size=MAX_PLAIN_LENGTH + 40),
)


@given(identifiers, identifiers)
def test_distinct_identifiers_never_share_a_key(a: str, b: str) -> None:
    builder = KeyBuilder("ns")
    assert (builder.key(a, "v") == builder.key(b, "v")) == (a == b)


@given(identifiers)
def test_parts_of_one_object_share_a_slot(ident: str) -> None:
    builder = KeyBuilder("ns")
    keys = [builder.key(ident, part).encode() for part in ("v", "meta", "x:{y}")]
    assert len({key_slot(k) for k in keys}) == 1
    assert all(k.startswith(b"ns:") for k in keys)


@given(identifiers)
def test_escaped_text_has_no_braces_and_no_reserved_start(ident: str) -> None:
    text = escape(ident)
    assert "{" not in text and "}" not in text
    if len(ident) <= MAX_PLAIN_LENGTH:
        assert not text.startswith(("#", "~"))


def test_shared_keys_never_meet_object_keys() -> None:
    builder = KeyBuilder("ns")
    assert builder.shared("tags") != builder.key("~tags", "")[:-1]
    assert builder.tag("~tags") == "ns:{%7Etags}"


def test_int_identifiers_are_their_text() -> None:
    builder = KeyBuilder("ns")
    assert builder.key(42, "v") == builder.key("42", "v")
    with pytest.raises(TypeError):
        builder.key(4.2, "v")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        builder.key(True, "v")


@pytest.mark.parametrize("namespace", ["", "a{b", "x}", 3])
def test_bad_namespaces_fail_at_construction(namespace) -> None:
    with pytest.raises(ConfigurationError, match="namespace"):
        KeyBuilder(namespace)


async def test_awkward_identifiers_work_on_the_cluster(aioredpat_cluster_pool: RedisPool) -> None:
    builder = KeyBuilder("app:v1")
    awkward = ["{x}", "}{", "a:b:c", "with space", "ünï漢😀", "%7B", "#1", "x" * 5000, ""]
    client = aioredpat_cluster_pool.client
    for ident in awkward:
        # a multi-key command on one object's keys must not be cross-slot
        await client.mset({builder.key(ident, "a"): ident, builder.key(ident, "b"): ident})
    for ident in awkward:
        assert (
            await client.mget([builder.key(ident, "a"), builder.key(ident, "b")])
            == [ident.encode()] * 2
        )
