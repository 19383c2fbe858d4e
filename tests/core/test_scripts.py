from __future__ import annotations

import re

import pytest

from aioredpat import ConfigurationError, RedisPool, ScriptError
from aioredpat._executor import executor_for
from aioredpat._keys import KeyBuilder
from aioredpat._scripts import LuaScript, lua_dir
from aioredpat.testing import command_counts, reset_command_counts

DELETE_IF_EQUALS = LuaScript("core_delete_if_equals")
SERVER_TIME = LuaScript("core_server_time")
SCRIPTS = sorted(lua_dir().glob("*.lua"))
HEADER = re.compile(r"^--\s*(KEYS|ARGV)\[(\d+)\]\s*:", re.MULTILINE)
USE = re.compile(r"\b(KEYS|ARGV)\[(\d+)\]")


def test_every_script_is_named_family_operation() -> None:
    assert SCRIPTS, "no Lua scripts found"
    for path in SCRIPTS:
        assert re.fullmatch(r"[a-z]+_[a-z0-9_]+\.lua", path.name), path.name


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_header_names_every_key_and_argument_used(path) -> None:
    text = path.read_text()
    header_lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header_lines.append(line)
    header = "\n".join(header_lines)
    body = text[len(header) :]
    declared = {(kind, int(i)) for kind, i in HEADER.findall(header)}
    body_code = "\n".join(line.split("--", 1)[0] for line in body.splitlines())
    used = {(kind, int(i)) for kind, i in USE.findall(body_code)}
    assert declared == used, (
        f"{path.name}: header names {sorted(declared)}, code uses {sorted(used)}"
    )
    if not used:
        assert "no KEYS" in header or "Takes no" in header, f"{path.name} must say it takes nothing"


async def _flush_scripts(pool: RedisPool) -> None:
    await pool.client.script_flush()  # on a cluster client: every primary


async def test_scripts_run_through_evalsha(aioredpat_conn: RedisPool) -> None:
    executor = executor_for(aioredpat_conn)
    await executor.run_script(SERVER_TIME, [], [])  # loaded wherever it landed
    await aioredpat_conn.client.set("s:{a}", "x")
    await executor.run_script(DELETE_IF_EQUALS, ["s:{a}"], ["x"])
    await reset_command_counts(aioredpat_conn)
    for i in range(5):
        await aioredpat_conn.client.set(f"s:{i}", "x")
        assert await executor.run_script(DELETE_IF_EQUALS, [f"s:{i}"], ["x"]) == 1
    counts = await command_counts(aioredpat_conn)
    assert counts["evalsha"] == 5
    assert counts["eval"] == 0


async def test_script_flush_then_call_still_works(aioredpat_conn: RedisPool) -> None:
    executor = executor_for(aioredpat_conn)
    await aioredpat_conn.client.set("flush:k", "v")
    await executor.run_script(DELETE_IF_EQUALS, ["flush:other"], ["v"])
    await _flush_scripts(aioredpat_conn)
    assert await executor.run_script(DELETE_IF_EQUALS, ["flush:k"], ["v"]) == 1
    assert await aioredpat_conn.client.exists("flush:k") == 0


async def test_scripts_inside_a_pipeline_after_flush(aioredpat_conn: RedisPool) -> None:
    executor = executor_for(aioredpat_conn)
    await _flush_scripts(aioredpat_conn)
    keys = [f"pipe:{i}" for i in range(12)]
    batch = executor.batch()
    for key in keys:
        batch.command("SET", key, "v")
        batch.script(DELETE_IF_EQUALS, [key], ["v"])
        batch.command("EXISTS", key)
    replies = await batch.execute()
    assert replies[1::3] == [1] * len(keys)
    # NOSCRIPT answers are re-run after the batch, so the EXISTS saw the key still there.
    assert all(reply in (0, 1) for reply in replies[2::3])
    assert sum([await aioredpat_conn.client.exists(k) for k in keys]) == 0
    batch = executor.batch()
    for key in keys:
        batch.command("SET", key, "v")
        batch.script(DELETE_IF_EQUALS, [key], ["v"])
        batch.command("EXISTS", key)
    assert (await batch.execute())[2::3] == [0] * len(keys)


async def test_script_on_cluster_keys_of_every_node(aioredpat_cluster_pool: RedisPool) -> None:
    executor = executor_for(aioredpat_cluster_pool)
    builder = KeyBuilder("scripts")
    keys = [builder.key(f"object-{i}", "lease") for i in range(30)]
    ports = {aioredpat_cluster_pool.client.get_node_from_key(k).port for k in keys}
    assert len(ports) == 3
    for key in keys:
        await aioredpat_cluster_pool.client.set(key, "token")
        assert await executor.run_script(DELETE_IF_EQUALS, [key], ["token"]) == 1


async def test_script_failure_is_a_script_error(aioredpat_conn: RedisPool) -> None:
    await aioredpat_conn.client.hset("wrongtype", "f", "v")
    with pytest.raises(ScriptError, match="core_delete_if_equals") as info:
        await executor_for(aioredpat_conn).run_script(DELETE_IF_EQUALS, ["wrongtype"], ["v"])
    assert info.value.script == "core_delete_if_equals"
    assert "WRONGTYPE" in str(info.value.__cause__)


async def test_script_failure_in_a_batch_is_a_script_error(aioredpat_conn: RedisPool) -> None:
    await aioredpat_conn.client.hset("wrongtype", "f", "v")
    batch = executor_for(aioredpat_conn).batch()
    batch.script(DELETE_IF_EQUALS, ["wrongtype"], ["v"])
    batch.command("SET", "after", "1")
    with pytest.raises(ScriptError):
        await batch.execute()
    assert await aioredpat_conn.client.get("after") == b"1"


async def test_server_time_comes_from_the_server(aioredpat_conn: RedisPool) -> None:
    micros = await executor_for(aioredpat_conn).run_script(SERVER_TIME, [], [])
    seconds, _ = await aioredpat_conn.client.time()
    assert abs(micros // 1_000_000 - seconds) <= 5


def test_bad_script_names_fail() -> None:
    with pytest.raises(ConfigurationError, match="lower_snake_case"):
        LuaScript("../etc/passwd")
    with pytest.raises(ConfigurationError, match="missing"):
        _ = LuaScript("core_no_such_script").source


def test_scripts_are_read_lazily() -> None:
    script = LuaScript("core_server_time")
    assert "source" not in script.__dict__
    assert len(script.sha) == 40
    assert "source" in script.__dict__
