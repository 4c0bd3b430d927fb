"""Redis connections from one URL, for every process and command.

`redis://host:port/db` (or `rediss://` for TLS) is a plain server, managed or not.
`redis+sentinel://host1:26379,host2:26379/MASTER/db` asks those Sentinels for MASTER's
address and follows a failover (arq supports Sentinel, not Redis Cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlparse

from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from alerter.compat.redis import hiredis_packing

SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    password: str | None


def parse_sentinel(url: str) -> SentinelTarget | None:
    parsed = urlparse(url)
    if parsed.scheme != SENTINEL_SCHEME:
        return None
    hosts = []
    for item in parsed.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 26379))
    parts = [p for p in parsed.path.split("/") if p]
    if not parts:
        raise ValueError("a Sentinel URL names the master: redis+sentinel://h1,h2/MASTER/0")
    return SentinelTarget(
        sentinels=tuple(hosts),
        master=parts[0],
        db=int(parts[1]) if len(parts) > 1 else 0,
        password=unquote(parsed.password) if parsed.password else None,
    )


def client(url: str, **options: Any) -> Redis:
    """A redis-py asyncio client; short blips (a restart, a failover) are retried."""
    options.setdefault("retry", Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=4))
    options.setdefault("retry_on_error", [RedisConnectionError, RedisTimeoutError])
    target = parse_sentinel(url)
    if target is None:
        return hiredis_packing(cast(Redis, Redis.from_url(url, **options)))
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels), password=target.password, **options
    )
    master = sentinel.master_for(target.master, db=target.db, password=target.password)
    return hiredis_packing(cast(Redis, master))


def arq_settings(url: str) -> RedisSettings:
    target = parse_sentinel(url)
    if target is None:
        settings = RedisSettings.from_dsn(url)
    else:
        settings = RedisSettings(
            host=list(target.sentinels),
            sentinel=True,
            sentinel_master=target.master,
            database=target.db,
            password=target.password,
        )
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    settings.retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=4)
    return settings
