"""The JSON API's bodies and answers as frozen structs: Litestar checks requests against them
(a wrong type is 422, never a guess) and writes `/openapi.json` from them."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from alerter.http.console import views
from alerter.replay.dryrun import DryRun
from alerter.replay.simulate import Backtest
from alerter.store.audit import AuditEntry
from alerter.store.calls import CallEvent
from alerter.store.console_auth import Identity
from alerter.store.signature_counts import SignatureRow
from alerter.store.silences import Silence
from alerter.store.state import FailedCall

Name = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2_000)]


class Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """Unknown fields are ignored, as a newer client's would be."""


# ---------------------------------------------------------------- errors


class Error(Frozen, frozen=True):
    """Every error answer (the same shape as Diga's)."""

    status: Literal["error"]
    error_code: Annotated[str, msgspec.Meta(pattern="^[A-Z][A-Z0-9_]*$")]
    message: Annotated[str, msgspec.Meta(min_length=1)]


# ---------------------------------------------------------------- requests


class SilenceIn(Frozen, frozen=True, forbid_unknown_fields=True):
    """A silence to make (or preview). `rule` null: every rule, then a matcher is needed.
    Unknown fields are refused: a misspelt `rule` must not silence every rule.
    `matchers`: `{"field": "value"}` (equality), `["field=value", "field=~regex", ...]`, or
    the console form's text (`field=value, field=~regex`: what a Silence… link prefills).
    The end: `duration` ("2h") or `ends_at` (ISO 8601 with a zone, or epoch seconds)."""

    rule: Name | None = None
    matchers: dict[Name, Text] | list[Text] | Text | None = None
    comment: Text = ""
    duration: Name | None = None
    ends_at: Name | float | None = None
    created_by: Name | None = None  # ignored: the creator is the identity that asks


class ExtendIn(Frozen, frozen=True):
    duration: Name  # like "2h": added to the current end (or to now, once ended)


class TrialIn(Frozen, frozen=True):
    """`{"call_id": ...}` (its logs fetched from Diga), or `{"logs": [...], "call": {...}}`
    (pasted logs, or a whole page of them, and the call's fields)."""

    call_id: UUID | None = None
    logs: list[dict[str, Any]] | dict[str, Any] | None = None
    call: dict[str, Any] | None = None


class BacktestIn(Frozen, frozen=True):
    """Replay `rules` (a rule file's YAML; default: the rules in force) on past calls."""

    rules: Annotated[str, msgspec.Meta(max_length=1_048_576)] | None = None
    rule: Name | None = None
    since: Name = "7d"
    max_calls: Annotated[int, msgspec.Meta(ge=1, le=2_000)] = 500
    rate: Name | None = None


# ---------------------------------------------------------------- answers


class SilenceOut(Frozen, frozen=True):
    id: str
    rule: str | None
    matchers: dict[str, str]  # the equality matchers
    match: list[str]  # every matcher, as text
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    stopped: int
    active: bool

    @classmethod
    def of(cls, silence: Silence, now: float) -> SilenceOut:
        return cls(
            id=silence.id,
            rule=silence.rule,
            matchers={m.name: m.value for m in silence.matchers if m.op == "="},
            match=[str(m) for m in silence.matchers],
            starts_at=silence.starts,
            ends_at=silence.ends,
            created_by=silence.created_by,
            comment=silence.comment,
            stopped=silence.hits,
            active=silence.starts <= now < silence.ends,
        )


class SilencesOut(Frozen, frozen=True):
    silences: list[SilenceOut]


class PreviewOut(Frozen, frozen=True):
    would_have_silenced: int
    calls_considered: int
    since: float


class EventOut(Frozen, frozen=True, omit_defaults=True):
    at: float
    outcome: str
    rule: str = ""
    destination: str = ""
    detail: str = ""
    labels: dict[str, str] = {}

    @classmethod
    def of(cls, event: CallEvent) -> EventOut:
        return cls(
            event.at, event.outcome, event.rule, event.destination, event.detail, dict(event.labels)
        )


class FailedSendOut(Frozen, frozen=True):
    """A send that gave up: what **Retry** sends again, and why it failed."""

    rule: str
    destination: str
    reason: str


class FailedOut(Frozen, frozen=True):
    call_id: str
    kind: str
    reason: str
    at: float
    tries: int
    sends: list[FailedSendOut]

    @classmethod
    def of(cls, failed: FailedCall) -> FailedOut:
        sends = [FailedSendOut(s.rule, s.destination, s.reason) for s in failed.sends]
        return cls(
            failed.call.call_id, failed.kind, failed.reason, failed.at, failed.attempts, sends
        )


class RuleStoryOut(Frozen, frozen=True):
    rule: str
    outcome: str
    reason: str
    sends: list[EventOut]
    log_lines: list[str]  # the first logs it matched: what made it fire


class CallOut(Frozen, frozen=True):
    call_id: str
    known: bool
    accepted_at: float | None
    fields: dict[str, Any]
    queued: bool
    failed: FailedOut | None
    rules: list[RuleStoryOut]
    timeline: list[EventOut]

    @classmethod
    def of(cls, view: views.CallView) -> CallOut:
        return cls(
            call_id=view.call_id,
            known=view.known,
            accepted_at=view.accepted_at,
            fields=dict(view.fields),
            queued=view.queued,
            failed=FailedOut.of(view.failed) if view.failed else None,
            rules=[
                RuleStoryOut(
                    r.rule, r.outcome, r.reason, [EventOut.of(e) for e in r.sends], list(r.lines)
                )
                for r in view.rules
            ],
            timeline=[EventOut.of(e) for e in view.events],
        )


class HistoryOut(Frozen, frozen=True):
    entries: list[dict[str, str]]
    next: str | None  # the cursor of the following page, null at the end


class RuleOut(Frozen, frozen=True):
    name: str
    description: str
    severity: str
    source: str
    mode: Literal["live", "shadow"]
    notify: list[str]
    day: dict[str, int]  # the last 24 h's decisions, by outcome
    last_fired: float | None
    yaml: str
    fires: str

    @classmethod
    def of(cls, view: views.RuleView) -> RuleOut:
        fields = dataclasses.asdict(view)
        return cls(**fields | {"notify": list(view.notify), "day": dict(view.day)})


class RulesOut(Frozen, frozen=True):
    version: str
    rules: list[RuleOut]


class RenderingOut(Frozen, frozen=True):
    receivers: list[str]
    title: str
    text: str


class TrialOut(Frozen, frozen=True):
    rule: str
    matched_logs: int
    min_matches: int
    fired: bool
    verdict: str
    shadow: bool
    notify: list[str]
    renderings: list[RenderingOut]


class DryRunOut(Frozen, frozen=True):
    call_id: str
    logs: int
    ignored: int
    rules: int
    trials: list[TrialOut]

    @classmethod
    def of(cls, run: DryRun) -> DryRunOut:
        return msgspec.convert(dataclasses.asdict(run), cls)


class BacktestDayOut(Frozen, frozen=True):
    day: str
    matched: int
    alerts: int
    suppressed: dict[str, int]
    top_groups: list[dict[str, Any]]


class BacktestRuleOut(Frozen, frozen=True):
    rule: str
    matched: int
    alerts: int
    days: list[BacktestDayOut]


class BacktestOut(Frozen, frozen=True):
    since: float
    until: float
    calls: int
    fetched: int
    unfetched: int
    rules: list[BacktestRuleOut]
    notes: list[str]


def backtest_json(report: Backtest) -> dict[str, object]:
    """The report as the JSON API answers it (`BacktestOut`) and `rules backtest --json`
    prints it."""
    return {
        "since": report.since,
        "until": report.until,
        "calls": report.calls,
        "fetched": report.fetched,
        "unfetched": report.unfetched,
        "rules": [
            {
                "rule": result.rule,
                "matched": result.matched,
                "alerts": result.alerts,
                "days": [
                    {
                        "day": day.day,
                        "matched": day.matched,
                        "alerts": day.alerts,
                        "suppressed": dict(day.suppressed),
                        "top_groups": [{"group": g, "calls": n} for g, n in day.top_groups],
                    }
                    for day in result.days
                ],
            }
            for result in report.rules
        ],
        "notes": list(report.notes),
    }


class SignatureOut(Frozen, frozen=True):
    digest: str
    signature: str
    example: str
    labels: dict[str, str]
    last_hour: int
    per_day: list[int]
    first_seen: float | None
    last_seen: float | None
    total: int

    @classmethod
    def of(cls, row: SignatureRow) -> SignatureOut:
        fields = dataclasses.asdict(row)
        return cls(
            **fields | {"labels": dict(row.labels), "per_day": list(row.per_day)}, total=row.total
        )


class SignaturesOut(Frozen, frozen=True):
    signatures: list[SignatureOut]


class FailedListOut(Frozen, frozen=True):
    failed: list[FailedOut]


class RetryOut(Frozen, frozen=True):
    status: Literal["queued"]
    call_ids: list[str]


class DestinationOut(Frozen, frozen=True):
    name: str
    targets: list[str]  # scheme://host:port only; never a whole URL
    last: dict[str, Any] | None
    redaction: list[str]  # what is removed from its alerts: phone, email, ...


class DestinationsOut(Frozen, frozen=True):
    destinations: list[DestinationOut]


class SendTestOut(Frozen, frozen=True):
    destination: str
    sent: bool
    detail: str


class AuditEntryOut(Frozen, frozen=True):
    at: float
    who: str
    action: str
    target: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(entry.at, entry.who, entry.action, entry.target, entry.detail)


class AuditOut(Frozen, frozen=True):
    entries: list[AuditEntryOut]


class IdentityOut(Frozen, frozen=True):
    name: str
    role: Literal["viewer", "operator"]
    via: str

    @classmethod
    def of(cls, identity: Identity) -> IdentityOut:
        return msgspec.convert(
            {"name": identity.name, "role": identity.role, "via": identity.via}, cls
        )
