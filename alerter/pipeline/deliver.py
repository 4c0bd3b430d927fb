"""The deliver stage: one rendered alert → one destination, through apprise.

Slack gets the Block Kit attachment from `render.slack_payload` (through apprise's Slack
template support); e-mail gets HTML with apprise's plain-text part; any other apprise URL
gets plain text. Errors never carry the URL: it holds tokens and passwords.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import apprise
from apprise.plugins.base import NotifyBase
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.slack import NotifySlack

from alerter.pipeline.render import Message
from alerter.rules.model import Destination

log = logging.getLogger(__name__)

# apprise's DEBUG lines, and those of urllib3 beneath it, carry destination URLs with their
# tokens: never let them through, whatever level the process runs at. (Their INFO and
# WARNING lines name no URL; tests/test_secrets.py runs at DEBUG to prove it.)
for _name in ("apprise", "urllib3"):
    logging.getLogger(_name).setLevel(logging.INFO)

SEND_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    detail: str = ""


def slack_template_json(payload: dict[str, Any]) -> str:
    """The payload as an apprise Slack template; `{{` is written so apprise substitutes nothing."""
    return json.dumps(payload).replace("{{", "{\\u007b")


async def send(destination: Destination, message: Message) -> Delivery:
    """Send to every URL of the destination; ok only when all of them accepted."""
    failures = 0
    for url in destination.urls:
        try:
            accepted = await asyncio.wait_for(
                asyncio.to_thread(_send_one, url, message), SEND_TIMEOUT_SECONDS
            )
        except TimeoutError:
            accepted = False
        except Exception as exc:  # a plugin bug must not lose the alert: retried like a refusal
            log.warning("destination %s raised %s", destination.name, type(exc).__name__)
            accepted = False
        failures += not accepted
    if failures:
        return Delivery(False, f"{failures} of {len(destination.urls)} URL(s) refused or failed")
    return Delivery(True)


# Plugins parsed once per URL and per sending thread: a thread sends one message at a time,
# so a plugin (and the Slack template set on it) is never shared by two sends at once.
_plugins = threading.local()


def _plugin(url: str) -> NotifyBase | None:
    cache: dict[str, NotifyBase | None] = _plugins.__dict__.setdefault("by_url", {})
    if url not in cache:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is not None:
            # apprise spaces sends on one instance by sleeping in the sending thread (1.2 s for
            # Slack); a kept instance would stall every later send. Refusals are retried with
            # backoff by the worker instead.
            plugin.request_rate_per_sec = 0.0
        cache[url] = plugin
    return cache[url]


def _send_one(url: str, message: Message) -> bool:
    plugin = _plugin(url)
    if plugin is None:
        return False
    # The plugin's own notify(): apprise's dispatcher would add a thread pool hop per send
    # (measured: 1.9 → 1.3 ms of CPU per alert).
    if isinstance(plugin, NotifySlack):
        return _send_slack(plugin, message)
    if isinstance(plugin, NotifyEmail):
        return bool(
            plugin.notify(
                body=message.html,
                title=message.title,
                body_format=apprise.NotifyFormat.HTML,
                notify_type=_notify_type(message),
            )
        )
    return bool(
        plugin.notify(
            body=message.text,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
            notify_type=_notify_type(message),
        )
    )


def _send_slack(plugin: NotifySlack, message: Message) -> bool:
    fd, path = tempfile.mkstemp(prefix="alerter-slack-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(slack_template_json(message.slack))
        template = apprise.AppriseAttachment(asset=plugin.asset)
        template.add(path)
        template[0].max_file_size = plugin.max_slack_template_size
        plugin.template = template
        plugin.use_blocks = True
        return bool(
            plugin.notify(
                body=message.title,
                title="",
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=_notify_type(message),
            )
        )
    finally:
        os.unlink(path)


def _notify_type(message: Message) -> apprise.NotifyType:
    return {
        "critical": apprise.NotifyType.FAILURE,
        "warning": apprise.NotifyType.WARNING,
    }.get(message.severity.value, apprise.NotifyType.INFO)
