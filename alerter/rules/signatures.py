"""Failure signatures (pure): a log reduced to its kind of failure.

Category, event and `message_text` / `failure_reason` with the variable parts replaced:
UUIDs, e-mail addresses, URLs, phone numbers, quoted values, long hex ids and numbers.
Two calls failing the same way share a signature whatever the caller, time or ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from alerter.models import LogEntry
from alerter.rules.redact import EMAIL, PHONE

_STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<uuid>",
    ),
    (EMAIL, "<email>"),
    (re.compile(r"\b(?:https?|wss?|sip|tel)://\S+|\bsip:\S+"), "<url>"),
    (PHONE, "<phone>"),
    (re.compile(r"\"[^\"]*\"|'[^']*'"), "<value>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<id>"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)
MAX_TEXT = 300
MAX_INPUT = 1000  # characters normalised; the rest cannot change a 300-character kind


@dataclass(frozen=True, slots=True)
class Signature:
    text: str
    digest: str  # short, for Redis keys


def normalise(text: str) -> str:
    # Cut first: the patterns (e-mail's above all) cost more than linearly on long runs.
    text = text[:MAX_INPUT]
    for pattern, replacement in _STEPS:
        text = pattern.sub(replacement, text)
    return text.strip()[:MAX_TEXT]


def signature(log: LogEntry) -> Signature:
    text = f"{log.category} {log.event}: {normalise(log.text() or '')}".rstrip(": ")
    return Signature(text, hashlib.sha256(text.encode()).hexdigest()[:16])
