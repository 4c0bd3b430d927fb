"""What the command groups share: rules or Redis found, or a clear exit."""

from __future__ import annotations

import argparse
import gc
import getpass
import re
import sys
from pathlib import Path

from alerter.durations import parse_duration
from alerter.rules.load import load_rules
from alerter.rules.model import RuleSet, RulesInvalid
from alerter.settings import Settings
from alerter.store.embedded import recorded_url


def load_rules_or_exit(
    settings: Settings, path: Path | None = None, *, unset_ok: bool = False
) -> RuleSet:
    try:
        return load_rules(path or settings.rules_path, unset_ok=unset_ok)
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


def add_actor(parser: argparse.ArgumentParser) -> None:
    """`--as NAME` on a command that changes something: who the audit stream names."""
    parser.add_argument(
        "--as",
        dest="actor",
        metavar="NAME",
        help="who makes this change, for the audit stream (default: cli:<your OS user>)",
    )


def actor_of(args: argparse.Namespace) -> str:
    """`--as NAME`, else `cli:<OS user>`."""
    given = (getattr(args, "actor", None) or "").strip()
    if given:
        return given[:200]
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = "unknown"
    return f"cli:{user}"


# ESC-introduced sequences (CSI, OSC, and two-character ones), then any other control
# character: text from logs and webhooks must not move the cursor, retitle the terminal or
# hide what follows it.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_]?)")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str, *, lines: bool = False) -> str:
    """Stored or fetched text, fit for a terminal: no control sequences; one line unless
    `lines` (then newlines and tabs stay)."""
    text = _CONTROLS.sub("?", _ESCAPES.sub("", text))
    return text if lines else " ".join(text.split("\n"))


# A worker's young generation is collected after this many new container objects, not
# CPython's 700: with hundreds of calls in flight most of them outlive a collection, which
# walked them for nothing and moved them on to be walked again (7.5-9.5 % of a worker's CPU
# in an alert storm, 5 % at this; timed with `gc.callbacks`, docs/performance.md).
WORKER_YOUNG_OBJECTS = 10_000


def settle_heap(young_objects: int | None = None) -> None:
    """Move what start-up made (modules, app, rules) out of the collector's view: full
    collections under load then skip it. Measured: intake p99 at 64 connections 70 → 30 ms.
    `young_objects`: the young generation's threshold, when not CPython's."""
    gc.collect()
    gc.freeze()
    if young_objects is not None:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_objects, older, oldest)
