"""Send markers: one key per (call, rule, destination), and per URL when a destination has
several, marked `sent` for 7 days once the destination accepted (see `store.state` for the
claim and lease around it). Key names never hold a URL: it holds secrets."""

from __future__ import annotations

import hashlib

import redis

from alerter.store import keys

SENT = b"sent"
SENT_TTL_SECONDS = 7 * 86_400

__all__ = ["SENT", "SENT_TTL_SECONDS", "MarkerWriter", "marker_key", "url_id"]


def url_id(url: str) -> str:
    """A URL's short name in keys (never the URL: it holds secrets)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def marker_key(call_id: str, rule: str, destination: str, url: str | None = None) -> str:
    """One marker per (call, rule, destination), and per URL (`url_id`) when a destination
    has several (a URL that accepted is never sent again while another is retried)."""
    return keys.sent_marker(call_id, rule, destination, url)


class MarkerWriter:
    """Marks sends `sent` from the sending threads, on a blocking client of their own: the
    moment a destination accepts, not when the busy event loop gets to it (a worker killed
    in between sends again). The event loop's mark, with the history entry, follows."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def __call__(self, key: str) -> None:
        self._redis.set(key, SENT, ex=SENT_TTL_SECONDS)

    def close(self) -> None:
        self._redis.close()
