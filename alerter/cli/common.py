"""What the command groups share: rules or Redis found, or a clear exit."""

from __future__ import annotations

import sys
from pathlib import Path

from alerter.rules.load import load_rules
from alerter.rules.model import RuleSet, RulesInvalid
from alerter.rules.noise import parse_duration
from alerter.settings import Settings
from alerter.store.embedded import recorded_url


def load_rules_or_exit(settings: Settings, path: Path | None = None) -> RuleSet:
    try:
        return load_rules(path or settings.rules_path)
    except RulesInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise SystemExit(1) from None


def require_redis(settings: Settings) -> str:
    """For the long-running halves: only `alerter serve` embeds a server."""
    if not settings.redis_url:
        print("REDIS_URL is required here (only `alerter serve` embeds a server)", file=sys.stderr)
        raise SystemExit(2)
    return settings.redis_url


def state_redis_url(settings: Settings) -> str:
    """For the state commands: REDIS_URL, else the server `alerter serve` runs here."""
    url = settings.redis_url or recorded_url(settings.state_dir)
    if not url:
        print(
            "no Redis: set REDIS_URL, or run this where `alerter serve` is running",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


def since_seconds(text: str) -> float:
    """`--since 24h` → seconds; exits 2 naming the flag when it is not a duration."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        print(f"error: --since: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
