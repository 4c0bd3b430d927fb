"""Console sign-in state: API tokens (only their hashes) and browser sessions.

A token is shown once, when made; Redis keeps its SHA-256 (tokens are 256 random bits, so a
fast hash is enough). A session is a random id in an HttpOnly cookie, naming the token that
opened it: revoking the token ends its sessions at their next request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from alerter.clock import Clock, system_clock
from alerter.store import keys

SESSION_SECONDS = 12 * 3600
# Failed sign-ins and bearer tokens per client address: at most FAILURE_LIMIT in a window of
# FAILURE_WINDOW_SECONDS that opens at the first failure (a counter that expires).
FAILURE_LIMIT = 20
FAILURE_WINDOW_SECONDS = 60
TOKEN_PREFIX = "alt_"
ROLES = ("viewer", "operator")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    role: str  # viewer | operator
    via: str  # token, session, proxy, none

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    role: str
    created: float


class ConsoleAuth:
    def __init__(self, redis: Redis, *, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def _all(self) -> dict[str, TokenInfo]:
        raw = await cast(Awaitable[Mapping[bytes, bytes]], self._redis.hgetall(keys.CONSOLE_TOKENS))
        out = {}
        for key, value in raw.items():
            data = json.loads(value)
            out[key.decode()] = TokenInfo(data["name"], data["role"], float(data["created"]))
        return out

    async def add_token(self, name: str, role: str) -> str:
        """A new token for `name` (printed once by the caller); replaces one of that name."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not name or len(name) > 100 or not name.isprintable():
            raise ValueError("a token name is 1 to 100 printable characters")
        await self.revoke(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        value = json.dumps({"name": name, "role": role, "created": self._clock()})
        await cast(Awaitable[int], self._redis.hset(keys.CONSOLE_TOKENS, digest(token), value))
        return token

    async def tokens(self) -> list[TokenInfo]:
        return sorted((await self._all()).values(), key=lambda t: t.name)

    async def revoke(self, name: str) -> bool:
        gone = [key for key, info in (await self._all()).items() if info.name == name]
        if gone:
            await cast(Awaitable[int], self._redis.hdel(keys.CONSOLE_TOKENS, *gone))
        return bool(gone)

    async def by_token(self, token: str) -> Identity | None:
        raw = await cast(
            Awaitable[bytes | None], self._redis.hget(keys.CONSOLE_TOKENS, digest(token))
        )
        if raw is None:
            return None
        data = json.loads(raw)
        return Identity(str(data["name"]), str(data["role"]), "token")

    async def open_session(self, token: str) -> str | None:
        """A session id for a valid token, else None."""
        if await self.by_token(token) is None:
            return None
        session = secrets.token_urlsafe(32)
        await self._redis.set(
            keys.console_session(digest(session)), digest(token), ex=SESSION_SECONDS
        )
        return session

    async def by_session(self, session: str) -> Identity | None:
        token_digest = await self._redis.get(keys.console_session(digest(session)))
        if token_digest is None:
            return None
        raw = await cast(
            Awaitable[bytes | None], self._redis.hget(keys.CONSOLE_TOKENS, token_digest.decode())
        )
        if raw is None:  # the token was revoked
            return None
        data = json.loads(raw)
        return Identity(str(data["name"]), str(data["role"]), "session")

    async def close_session(self, session: str) -> None:
        await self._redis.delete(keys.console_session(digest(session)))

    async def refused_for(self, address: str) -> int:
        """Seconds until `address` may try a token again (0: it may now)."""
        key = keys.console_failures(address)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.ttl(key)
            count, ttl = await pipe.execute()
        if count is None or int(count) < FAILURE_LIMIT:
            return 0
        return max(1, int(ttl))

    async def failed(self, address: str) -> None:
        """Count a token that did not sign in, from `address`."""
        key = keys.console_failures(address)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, FAILURE_WINDOW_SECONDS, nx=True)
            await pipe.execute()
