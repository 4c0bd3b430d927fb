"""Redis URLs: plain servers and Sentinel; commands packed by hiredis."""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from alerter.compat.redis import hiredis_packing
from alerter.rules.load import load_rules_text
from alerter.store import connect
from alerter.store.connect import arq_settings, parse_sentinel
from alerter.worker.app import make_worker
from tests.conftest import make_settings
from tests.kit.redis import AWKWARD_COMMANDS as COMMANDS


def test_plain_url_is_not_sentinel() -> None:
    assert parse_sentinel("redis://localhost:6379/2") is None
    settings = arq_settings("redis://localhost:6379/2")
    assert (settings.host, settings.port, settings.database, settings.sentinel) == (
        "localhost",
        6379,
        2,
        False,
    )


def test_sentinel_url() -> None:
    target = parse_sentinel(
        "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,10.0.0.3:26380/mymaster/3"
    )
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26380))
    assert (target.master, target.db, target.password) == ("mymaster", 3, "s3cret")
    settings = arq_settings("redis+sentinel://h1:26379,h2:26379/mymaster")
    assert settings.sentinel and settings.sentinel_master == "mymaster"
    assert settings.host == [("h1", 26379), ("h2", 26379)]
    with pytest.raises(ValueError):
        parse_sentinel("redis+sentinel://h1:26379")


def test_commands_go_as_redis_py_would_pack_them_but_through_hiredis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    packed = connect.client("redis://127.0.0.1:1/0").connection_pool.connection_class()
    python = Connection()
    calls: list[tuple[Any, ...]] = []
    pack = hiredis.pack_command
    monkeypatch.setattr(hiredis, "pack_command", lambda args: calls.append(args) or pack(args))
    for command in COMMANDS:
        assert b"".join(packed.pack_command(*command)) == b"".join(
            bytes(chunk) for chunk in python.pack_command(*command)
        ), command
    assert len(calls) == len(COMMANDS)
    assert b"".join(packed.pack_commands(COMMANDS)) == b"".join(
        bytes(chunk) for chunk in python.pack_commands(COMMANDS)
    )
    for wrong in (None, True, {"a": 1}, bytearray(b"x")):
        with pytest.raises(DataError, match="Invalid input"):
            packed.pack_command("SET", "key", wrong)


async def test_clients_and_the_workers_pool_talk_to_a_real_server(redis_url: str) -> None:
    async with connect.client(redis_url) as redis:
        sha = await redis.script_load("return {KEYS[1], ARGV[1]}")
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set("k", "héllo", px=60_000)
            pipe.evalsha(sha, 1, "k", 2.5)
            pipe.get("k")
            assert await pipe.execute() == [True, [b"k", b"2.5"], "héllo".encode()]
    # The worker's pool is arq's own: packed too, once, and working (a burst on an empty
    # queue polls, claims nothing and ends).
    rules = load_rules_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    worker = make_worker(make_settings("http://127.0.0.1:9"), rules, redis_url, burst=True)
    try:
        await asyncio.wait_for(worker.main(), timeout=30)
        packing = worker.pool.connection_pool.connection_class
        assert packing.__name__ == "HiredisPackingConnection"
        assert packing.__mro__[1] is Connection  # wrapped once
        assert hiredis_packing(worker.pool) is worker.pool
        assert worker.pool.connection_pool.connection_class is packing
    finally:
        await worker.close()
