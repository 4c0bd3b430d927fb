"""Contract of alerter/compat/redis.py with redis-py's and hiredis's real code: a client's
new connections pack with hiredis, the same bytes as redis-py's own packer, and talk to a
real server."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import hiredis
import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool
from redis.exceptions import DataError

from alerter.compat import redis as compat
from alerter.compat.redis import hiredis_packing
from tests.kit.redis import AWKWARD_COMMANDS as COMMANDS


def test_written_against_the_installed_versions() -> None:
    # A new redis-py may pack elsewhere (or in C itself): read connection.py again.
    assert compat.WRITTEN_AGAINST == {"redis": version("redis"), "hiredis": version("hiredis")}


def test_the_parts_relied_on_are_redis_pys_shape() -> None:
    assert list(inspect.signature(AbstractConnection.pack_command).parameters) == [
        "self",
        "args",
    ]
    assert list(inspect.signature(AbstractConnection.pack_commands).parameters) == [
        "self",
        "commands",
    ]
    pool = ConnectionPool()
    assert pool.connection_class is Connection  # the class each new connection is made of
    assert pool.make_connection().__class__ is Connection


def test_packed_by_hiredis_the_same_bytes_as_redis_py() -> None:
    packing = hiredis_packing(Redis()).connection_pool.connection_class
    packed, python = packing(), Connection()
    for command in COMMANDS:
        assert b"".join(packed.pack_command(*command)) == b"".join(
            bytes(chunk) for chunk in python.pack_command(*command)
        ), command
    assert b"".join(packed.pack_commands(COMMANDS)) == b"".join(
        bytes(chunk) for chunk in python.pack_commands(COMMANDS)
    )
    for wrong in (None, True, {"a": 1}, bytearray(b"x")):
        with pytest.raises(DataError, match="Invalid input"):
            packed.pack_command("SET", "key", wrong)


async def test_a_packing_clients_connections_are_made_of_its_class_and_work(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs: list[tuple[Any, ...]] = []
    pack = hiredis.pack_command
    monkeypatch.setattr(hiredis, "pack_command", lambda args: packs.append(args) or pack(args))
    client = hiredis_packing(Redis.from_url(redis_url))
    try:
        assert hiredis_packing(client) is client  # once: not wrapped again
        assert client.connection_pool.connection_class.__mro__[1] is Connection
        async with client.pipeline(transaction=True) as pipe:
            pipe.set("k", "héllo", px=60_000)
            pipe.get("k")
            assert await pipe.execute() == [True, "héllo".encode()]
        assert await client.get("k") == "héllo".encode()
        assert ("MULTI",) in packs and ("EXEC",) in packs and ("GET", "k") in packs
    finally:
        await client.aclose()
