"""Where a destination sends: `${VAR}`s expanded from the environment, an apprise URL
checked by apprise itself (its words, with the URL's secrets taken out), a Slack app's
channel id and bot token."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from alerter.rules.model import RuleError, SlackApp
from alerter.rules.spec import DestinationSpec

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SLACK_CHANNEL = re.compile(r"^[CDG][A-Z0-9]{2,}$")


def slack_app(
    dest_name: str,
    spec: DestinationSpec,
    env: Mapping[str, str],
    where: tuple[str, int],
    errors: list[RuleError],
    unset_ok: bool,
) -> SlackApp | None:
    """A `slack_app` destination's channel id and bot token, `${VAR}`s expanded and checked."""
    assert spec.slack_app is not None
    values: list[str] = []
    unset: list[str] = []
    for value in (spec.slack_app.channel, spec.slack_app.token):
        expanded, missing = expand(value, env)
        unset += missing
        values.append(expanded.strip())
    if unset:
        for var in [] if unset_ok else unset:
            errors.append(RuleError(*where, f"destination {dest_name!r}: ${{{var}}} is not set"))
        return None
    channel, token = values
    ok = True
    if not _SLACK_CHANNEL.match(channel):
        errors.append(
            RuleError(
                *where,
                f"destination {dest_name!r}: slack_app channel {channel[:40]!r} is not a "
                "channel id (like C0123456789: Slack shows it in the channel's details)",
            )
        )
        ok = False
    if not token.startswith("xox"):
        errors.append(
            RuleError(
                *where,
                f"destination {dest_name!r}: slack_app token is not a Slack token "
                "(a bot token starts with xoxb-)",
            )
        )
        ok = False
    return SlackApp(channel, token) if ok else None


def expand(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    missing = [var for var in VARIABLE.findall(value) if not env.get(var)]
    return VARIABLE.sub(lambda m: env.get(m.group(1), ""), value), missing


def apprise_refusal(url: str) -> str | None:
    """None when apprise can send to `url`; else why not, in apprise's words with every part
    of the URL (user, password, tokens) taken out."""
    import apprise

    heard: list[str] = []

    class Listen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno == logging.WARNING:
                heard.append(record.getMessage())

    # apprise logs what it cannot parse, URL included: none of it reaches the process's log.
    apprise_logger = logging.getLogger("apprise")
    previous, propagate = apprise_logger.level, apprise_logger.propagate
    listener = Listen()
    apprise_logger.addHandler(listener)
    apprise_logger.setLevel(logging.WARNING)
    apprise_logger.propagate = False
    try:
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None:
            return None
    finally:
        apprise_logger.removeHandler(listener)
        apprise_logger.setLevel(previous)
        apprise_logger.propagate = propagate
    secrets = sorted(
        {part for part in re.split(r"[^A-Za-z0-9]+", url.split("://", 1)[-1]) if len(part) >= 4},
        key=len,
        reverse=True,
    )
    reasons = []
    for said in heard:
        for part in secrets:
            said = said.replace(part, "…")
        reasons.append(said)
    hint = ""
    if url.startswith(("mailto", "mailtos")) and any("From" in said for said in heard):
        hint = " (add from=you@example.com to the URL)"
    return ("; ".join(reasons) or "apprise does not know this URL") + hint
