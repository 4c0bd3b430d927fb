"""A decision history entry, typed: parsed once where it is read from Redis (the history
stream, or a call's story), so readers never guess what its subject is.

An entry's subject (the stream's `call_id` field, kept under that name: a running
deployment's entries are read as they were written) is a call id, a digest's
`digest-<window>`, or an episode's incident key and kind (`alerter-...-firing`); only
calls have a page, fields, or count as calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from alerter.models import Outcome

DIGEST_PREFIX = "digest-"
EPISODE_PREFIX = "alerter-"  # rules.noise.incident_key
EPISODE_KINDS = ("firing", "resolved")
DETAIL_CHARS = 500


class Subject(StrEnum):
    CALL = "call"
    DIGEST = "digest"
    EPISODE = "episode"


def digest_subject(window: str) -> str:
    """A digest's sends and decisions are recorded under its window."""
    return f"{DIGEST_PREFIX}{window}"


def episode_subject(incident: str, kind: str) -> str:
    """An episode's message (`kind`: firing or resolved) is recorded under its incident
    key (`rules.noise.incident_key`)."""
    return f"{incident}-{kind}"


def subject_kind(subject: str) -> Subject:
    if subject.startswith(DIGEST_PREFIX):
        return Subject.DIGEST
    if subject.startswith(EPISODE_PREFIX) and subject.endswith(
        tuple(f"-{kind}" for kind in EPISODE_KINDS)
    ):
        return Subject.EPISODE
    return Subject.CALL


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    subject: str  # a call id, `digest-<window>`, or an episode's key and kind
    kind: Subject
    outcome: str  # an Outcome value
    rule: str = ""
    destination: str = ""
    detail: str = ""
    at: float = 0.0  # seconds since the epoch (kept to the millisecond)
    id: str = ""  # its stream entry id; '' when read from a call's story

    @property
    def is_call(self) -> bool:
        return self.kind is Subject.CALL

    @classmethod
    def parse(cls, fields: Mapping[str, str], entry_id: str = "") -> HistoryEntry:
        subject = fields.get("call_id", "")
        try:
            at = float(fields.get("at", 0))
        except ValueError:
            at = 0.0
        return cls(
            subject=subject,
            kind=subject_kind(subject),
            outcome=fields.get("outcome", ""),
            rule=fields.get("rule", ""),
            destination=fields.get("destination", ""),
            detail=fields.get("detail", ""),
            at=at,
            id=entry_id,
        )

    @classmethod
    def from_stream(cls, entry_id: bytes, raw: Mapping[bytes, bytes]) -> HistoryEntry:
        return cls.parse({k.decode(): v.decode() for k, v in raw.items()}, entry_id.decode())

    def fields(self) -> dict[str, str]:
        """The entry as the stream keeps it (and the API and `history --json` show it),
        with its `id` when it has one."""
        out = {
            "call_id": self.subject,
            "outcome": self.outcome,
            "rule": self.rule,
            "destination": self.destination,
            "detail": self.detail,
            "at": f"{self.at:.3f}",
        }
        if self.id:
            out["id"] = self.id
        return out


def history_entry(
    call_id: str,
    outcome: Outcome,
    *,
    rule: str = "",
    destination: str = "",
    detail: str = "",
    at: float,
) -> dict[str, str]:
    """A new entry's stream fields, stamped `at` (the caller's clock)."""
    return {
        "call_id": call_id,
        "outcome": outcome.value,
        "rule": rule,
        "destination": destination,
        "detail": detail[:DETAIL_CHARS],
        "at": f"{at:.3f}",
    }
