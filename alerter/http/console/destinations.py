"""The destinations as the console shows them: where each goes without its secrets
(scheme, host and port), what its `redact:` removes, and its last delivery."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis

from alerter.rules.model import RuleSet
from alerter.rules.redact import Redactor
from alerter.store.state import destination_results


@dataclass(frozen=True, slots=True)
class DestinationView:
    name: str
    targets: tuple[str, ...]  # scheme://host:port only; never a path, token or password
    last: Mapping[str, Any] | None
    redaction: tuple[str, ...] = ()  # what is removed from its alerts: phone, email, ...


def safe_target(url: str) -> str:
    """`scheme://host:port` (the port when the URL names one), the host only when it looks
    like one: several apprise schemes put a token where the host goes (slack://TokenA/...),
    and a token is never shown; nor are users, passwords, paths or queries."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    scheme = parts.scheme or "?"
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        host, port = "", None
    if not _is_hostname(host):
        return f"{scheme}://…"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")


def _is_hostname(host: str) -> bool:
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_REDACTION_NAMES = {"[email]": "email", "[phone]": "phone", "#": "digits"}


def redaction_of(redactor: Redactor | None) -> tuple[str, ...]:
    """The destination's `redact:` kinds in words; a custom one as its pattern."""
    if redactor is None:
        return ()
    return tuple(
        _REDACTION_NAMES.get(replacement, f"/{pattern.pattern}/")
        for pattern, replacement in redactor.patterns
    )


async def destinations_view(redis: Redis, rules: RuleSet) -> list[DestinationView]:
    last = await destination_results(redis)
    return [
        DestinationView(
            name,
            tuple(safe_target(u) for u in d.urls),
            last.get(name),
            redaction_of(d.redactor),
        )
        for name, d in sorted(rules.destinations.items())
    ]
