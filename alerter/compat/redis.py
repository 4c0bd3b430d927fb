"""redis-py's connections packing commands with hiredis (C) instead of Python.

Written against redis-py 5.3.1 and hiredis 3.5.0 (`tests/compat/test_redis.py` holds both to
it). redis-py 5, which arq requires, packs commands in Python: 20 µs for an intake's EVALSHA
against 2 µs in hiredis. redis-py offers no packer setting, so a client's connection pool is
given a subclass of its connection class (`connection_class`, which the pool instantiates for
each new connection) whose `pack_command` and `pack_commands` call hiredis: the same bytes,
and an argument of a type Redis cannot take still raises redis-py's DataError.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

WRITTEN_AGAINST = {"redis": "5.3.1", "hiredis": "3.5.0"}


def _pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
    # A command name of several words ("SCRIPT LOAD") goes as separate arguments.
    name = args[0]
    if (isinstance(name, str) and " " in name) or (isinstance(name, bytes) and b" " in name):
        args = (*name.split(), *args[1:])
    try:
        return [hiredis.pack_command(args)]
    except TypeError:  # not bytes, str, int or float: redis-py's own packer says so its way
        return AbstractConnection.pack_command(self, *args)


def _pack_commands(self: AbstractConnection, commands: Iterable[Iterable[Any]]) -> list[bytes]:
    return [b"".join(_pack_command(self, *command)[0] for command in commands)]


_PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def hiredis_packing(redis: Redis) -> Redis:
    """The client's new connections pack commands with hiredis; idempotent (a pool already
    packing keeps its class)."""
    pool = redis.connection_pool
    base = pool.connection_class
    if base not in _PACKING.values():
        if base not in _PACKING:
            methods = {"pack_command": _pack_command, "pack_commands": _pack_commands}
            _PACKING[base] = type(f"HiredisPacking{base.__name__}", (base,), methods)
        pool.connection_class = _PACKING[base]
    return redis
