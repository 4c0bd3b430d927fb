"""Lua scripts, kept as `.lua` files beside this module and read once per process.

A line `--#include NAME` stands for the text of `NAME.lua` (functions two scripts share:
Redis scripts cannot load one another). `Script` calls one with named keys and arguments
(`store.scripts`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields
from functools import cache
from importlib.resources import files
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from alerter.store.coalesce import Coalescer

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_INCLUDE = re.compile(r"^--#include (\w+)$", re.M)


@cache
def source(name: str) -> str:
    """The text of `alerter/store/<name>.lua`, its includes expanded."""
    text = files("alerter.store").joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: source(match.group(1)), text)


ScriptKeys = TypeVar("ScriptKeys", bound="DataclassInstance")
ScriptArgs = TypeVar("ScriptArgs", bound="DataclassInstance")


class Script(Generic[ScriptKeys, ScriptArgs]):
    """A script called with named keys and arguments: a frozen dataclass each, whose fields,
    in their declared order, are the script's KEYS and ARGV (a nested dataclass or a tuple
    stands for its items in place, a batch's repeated parts). Replies are the caller's to parse."""

    def __init__(self, redis: Redis, name: str) -> None:
        # EVALSHA, and the script loaded again when a restarted server forgot it.
        self._redis = redis
        self._script = redis.register_script(source(name))

    async def __call__(
        self, keys: ScriptKeys, args: ScriptArgs, client: Redis | Pipeline | None = None
    ) -> Any:
        return await self._script(keys=flat(keys), args=flat(args), client=client)

    async def run(self, keys: list[Any], args: list[Any]) -> Any:
        """Called with its KEYS and ARGV already laid out as `flat` lays out the dataclasses
        (a hot caller that lays them out more cheaply). Its EVALSHA straight to the client,
        without redis-py's script object copying every argument into a new tuple and the
        command's wrappers, as redis-py's script loads it again when the server forgot it."""
        command = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
        try:
            return await self._redis.execute_command(*command)  # type: ignore[no-untyped-call]
        except NoScriptError:
            await self.load()
            sent_again = ("EVALSHA", self._script.sha, *command[2:])
            return await self._redis.execute_command(*sent_again)  # type: ignore[no-untyped-call]

    def queue(self, pipe: Pipeline, keys: ScriptKeys, args: ScriptArgs) -> None:
        """Its EVALSHA added to a pipeline, without the SCRIPT EXISTS a pipeline sends first
        for a script called on it: a server that does not know it answers NoScriptError,
        and the caller `load`s it and sends again (after a restart: not on the hot path)."""
        flat_keys = flat(keys)
        pipe.evalsha(self._script.sha, len(flat_keys), *flat_keys, *flat(args))

    async def shared(self, coalescer: Coalescer, keys: ScriptKeys, args: ScriptArgs) -> Any:
        """Called in a round trip shared with other jobs' commands (`store.coalesce`): no
        round trip of its own. A server that forgot it (restarted) ran nothing of it: it is
        loaded and called again."""

        def fill(pipe: Pipeline) -> None:
            self.queue(pipe, keys, args)

        try:
            (answer,) = await coalescer.execute(fill)
        except NoScriptError:
            await self.load()
            (answer,) = await coalescer.execute(fill)
        return answer

    async def load(self) -> None:
        self._script.sha = await self._redis.script_load(self._script.script)


def flat(value: object) -> list[Any]:
    """A dataclass's fields in declared order, nested dataclasses and tuples spread (a
    tuple's dataclasses each spread in turn: a batch's repeated parts)."""
    out: list[Any] = []
    for item in _values(type(value))(value):
        if type(item) in _PLAIN:
            out.append(item)
            continue
        for one in item if isinstance(item, tuple | list) else (item,):
            if hasattr(type(one), "__dataclass_fields__"):  # `is_dataclass`, for instances
                out += flat(one)
            else:
                out.append(one)
    return out


_PLAIN = frozenset({str, int, float, bytes})
_GETTERS: dict[type, Callable[[object], tuple[Any, ...]]] = {}


def _values(kind: type) -> Callable[[object], tuple[Any, ...]]:
    """A dataclass's field values in declared order, read in C: every script call lays its
    keys and arguments out, and `fields` built its answer anew each time (4.1 → 0.5 µs a
    signature's arguments). One getter a class, made on its first use."""
    getter = _GETTERS.get(kind)
    if getter is None:
        names = [field.name for field in fields(cast("type[DataclassInstance]", kind))]
        if not names:
            return lambda value: ()
        get = attrgetter(*names)
        if len(names) == 1:
            getter = _GETTERS[kind] = lambda value: (get(value),)
        else:
            getter = _GETTERS[kind] = get
    return getter
