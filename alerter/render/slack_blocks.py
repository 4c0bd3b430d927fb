"""What a Slack app posts: pure builders of the Web API payloads, beside `slack_app`, which
sends them.

An alert is the rendered Block Kit attachment (`render.slack_payload`: escaped, redacted,
within Slack's limits) with the episode's buttons added: **Acknowledge**, **Silence 1h** and,
with the console's address, **Open in alerter**. Resolving or acknowledging rewrites the
first post from what it said (kept with its `ts`), never from log text again.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from alerter.render.model import Message, bound, fallback, one_line
from alerter.render.slack import context, slack_escape

ACK_ACTION = "alerter_ack"
SILENCE_ACTION = "alerter_silence"
OPEN_ACTION = "alerter_open"
ACTIONS_BLOCK = "alerter_actions"
STATUS_BLOCK = "alerter_status"
RESOLVED_COLOUR = "#2EB67D"
BUTTON_VALUE_CHARS = 2000  # Slack's limit on a button's value
SILENCE_SECONDS = 3600
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,30}$")


@dataclass(frozen=True, slots=True)
class Thread:
    """The episode a send belongs to, and what kind of message it is in its thread."""

    key: str  # the episode's key, or `rule:group` for a rule that keeps no episodes
    rule: str
    group: str  # the group's digest
    labels: tuple[tuple[str, str], ...] = ()  # the group's labels (a silence's matchers)
    kind: str = "alert"  # alert | escalation | resolved
    call_id: str | None = None
    episode: bool = False  # ends when it resolves; else when it has been quiet a while

    def to_job(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "group": self.group,
            "labels": [list(pair) for pair in self.labels],
            "kind": self.kind,
            "call_id": self.call_id,
            "episode": self.episode,
        }

    @classmethod
    def from_job(cls, raw: dict[str, Any]) -> Thread:
        return cls(
            key=str(raw["key"]),
            rule=str(raw["rule"]),
            group=str(raw["group"]),
            labels=tuple((str(k), str(v)) for k, v in raw.get("labels") or ()),
            kind=str(raw.get("kind") or "alert"),
            call_id=str(raw["call_id"]) if raw.get("call_id") else None,
            episode=bool(raw.get("episode")),
        )


@dataclass(frozen=True, slots=True)
class ButtonValue:
    """What an Acknowledge or Silence button names: the rule and the group."""

    rule: str
    group: str
    labels: tuple[tuple[str, str], ...] = ()
    call_id: str | None = None  # the call whose alert it is: its story records the action

    def encode(self) -> str:
        named: dict[str, Any] = {"rule": self.rule, "group": self.group}
        if self.call_id:
            named["call"] = self.call_id
        text = json.dumps({**named, "labels": dict(self.labels)}, separators=(",", ":"))
        if len(text) > BUTTON_VALUE_CHARS:  # labels too long: the group's digest still names it
            text = json.dumps(named, separators=(",", ":"))
        return text

    @classmethod
    def decode(cls, text: str) -> ButtonValue:
        """Raises ValueError for a value that is not one of ours."""
        try:
            data = json.loads(text)
            labels = data.get("labels") or {}
            return cls(
                str(data["rule"]),
                str(data["group"]),
                tuple((str(k), str(v)) for k, v in labels.items()),
                str(data["call"]) if data.get("call") else None,
            )
        except (TypeError, KeyError, AttributeError, json.JSONDecodeError):
            raise ValueError("not an alerter button value") from None


def alert_payload(
    message: Message, thread: Thread | None, public_url: str | None
) -> dict[str, Any]:
    """`chat.postMessage`'s arguments (less channel and thread) for one alert."""
    attachment = copy.deepcopy(message.slack)
    blocks: list[dict[str, Any]] = list(attachment.get("blocks") or [])
    if thread is not None and thread.kind != "resolved":
        if len(blocks) >= 50:
            blocks = blocks[:49]
        blocks.append(actions_block(thread, public_url))
    attachment["blocks"] = blocks
    return {"text": fallback(message.title), "attachments": [attachment]}


def actions_block(thread: Thread, public_url: str | None) -> dict[str, Any]:
    value = ButtonValue(thread.rule, thread.group, thread.labels, thread.call_id).encode()
    elements: list[dict[str, Any]] = [
        _button("Acknowledge", ACK_ACTION, value=value, style="primary"),
        _button("Silence 1h", SILENCE_ACTION, value=value),
    ]
    if public_url:
        page = (
            f"{public_url}/ui/calls/{quote(thread.call_id, safe='')}"
            if thread.call_id
            else f"{public_url}/ui/rules/{quote(thread.rule, safe='')}"
        )
        elements.append(_button("Open in alerter", OPEN_ACTION, url=page[:3000]))
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def _button(text: str, action_id: str, **extra: str) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
    }
    button.update(extra)
    return button


def resolved_update(posted: dict[str, Any], at: float) -> dict[str, Any]:
    """The first post, marked resolved with the time: green, its buttons gone."""
    when = _utc(at)
    payload = _with_status(posted, f":white_check_mark: *Resolved* at {when}", drop_actions=True)
    payload["text"] = bound(f"Resolved at {when}: {payload.get('text', '')}", 3000)
    for attachment in payload.get("attachments") or []:
        attachment["color"] = RESOLVED_COLOUR
    return payload


def acted_update(
    posted: dict[str, Any], did: str, user_name: str, user_id: str, at: float
) -> dict[str, Any]:
    """The first post saying who acknowledged or silenced it, and when (the name Slack gave is
    text, escaped; the id is checked to be one)."""
    who = slack_escape(one_line(user_name))[:80] or "someone"
    ident = user_id if _SLACK_ID.match(user_id) else "?"
    line = f"{did} by {who} ({ident}) at {_utc(at)}"
    return _with_status(posted, line, drop_actions=did.startswith("Silenced"))


def refusal_text() -> str:
    return (
        "You are not among the operators who may acknowledge or silence alerts "
        "(ALERTER_SLACK_OPERATORS); nothing was changed."
    )


def _with_status(posted: dict[str, Any], line: str, *, drop_actions: bool) -> dict[str, Any]:
    """A copy of the post with one status line at its end (replacing an earlier one)."""
    payload = copy.deepcopy(posted)
    for attachment in payload.get("attachments") or []:
        blocks = [b for b in attachment.get("blocks") or [] if b.get("block_id") != STATUS_BLOCK]
        if drop_actions:
            blocks = [b for b in blocks if b.get("block_id") != ACTIONS_BLOCK]
        status = context(line)
        status["block_id"] = STATUS_BLOCK
        blocks = blocks[:49]
        blocks.append(status)
        attachment["blocks"] = blocks
    return payload


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
