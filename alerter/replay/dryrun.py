"""Dry runs: `alerter rules test` (evaluate and render one call, send nothing) and
`alerter notify test` (a sample alert through one destination)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import RedisError

from alerter.models import FETCHED_LEVELS, CallEnded, LogEntry, Severity
from alerter.pipeline import deliver
from alerter.pipeline.diga_errors import DigaError
from alerter.pipeline.evaluate import evaluate
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.slack_app import send_once
from alerter.render import alert as render
from alerter.rules.fired import RuleMatch
from alerter.rules.model import Destination, RuleSet
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.calls import CallRecords


@dataclass(frozen=True, slots=True)
class Rendering:
    receivers: tuple[str, ...]  # destinations that would see it so (one redaction each)
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Trial:
    """One rule on one call, dry: what matched, the verdict, and the alert as rendered."""

    rule: str
    matched_logs: int
    min_matches: int
    fired: bool
    verdict: str
    shadow: bool
    notify: tuple[str, ...]
    renderings: tuple[Rendering, ...]


@dataclass(frozen=True, slots=True)
class DryRun:
    call_id: str
    logs: int
    ignored: int  # logs of levels the service never fetches, left out
    rules: int
    trials: tuple[Trial, ...]  # the rules that matched at least one log


async def dry_run(
    settings: Settings, rules: RuleSet, call: CallEnded, logs: tuple[LogEntry, ...] | None
) -> DryRun:
    """What the service would do with this call, sending nothing. `logs`: as given (a saved
    page, pasted logs), else fetched from Diga. Raises ValueError to say why it could not."""
    ignored = 0
    if logs is None:
        logs = await _fetch(settings, call.call_id)
    else:  # the service fetches only these levels: a saved page may hold others
        kept = tuple(log for log in logs if log.level in FETCHED_LEVELS)
        ignored, logs = len(logs) - len(kept), kept
    trials = []
    for match in evaluate(rules, call, logs):
        rule = match.rule
        renderings: list[Rendering] = []
        if match.fired:
            alert = render.build_alert(match, call)
            shown: set[int] = set()
            for name in rule.notify:
                redactor = rules.destinations[name].redactor
                if id(redactor) in shown:
                    continue
                shown.add(id(redactor))
                seen_as = render.redacted(alert, redactor) if redactor else alert
                receivers = tuple(
                    n for n in rule.notify if rules.destinations[n].redactor is redactor
                )
                renderings.append(
                    Rendering(receivers, render.title(seen_as), render.plain_text(seen_as))
                )
        trials.append(
            Trial(
                rule=rule.name,
                matched_logs=len(match.logs),
                min_matches=rule.min_matches,
                fired=match.fired,
                verdict=_verdict(match),
                shadow=rule.shadow,
                notify=rule.notify,
                renderings=tuple(renderings),
            )
        )
    return DryRun(call.call_id, len(logs), ignored, len(rules.rules), tuple(trials))


async def stored_call(records: CallRecords, call: CallEnded) -> CallEnded:
    """The call as alerter kept it when it ended (its webhook's fields), when only its id was
    given and a record is kept; else the call as given."""
    if call.fields:
        return call
    story = await records.story(call.call_id)
    return story.call if story.call is not None else call


async def stored_call_at(redis_url: str | None, call: CallEnded) -> CallEnded:
    """`stored_call` for the CLI, which has no client of its own; without Redis (none set,
    none reachable) the call stays as given."""
    if not redis_url or call.fields:
        return call
    try:
        async with connect.client(redis_url) as redis:
            return await stored_call(CallRecords(redis), call)
    except (OSError, ConnectionError, RedisError):
        return call


async def run_dry(
    settings: Settings,
    rules: RuleSet,
    call: CallEnded,
    logs: tuple[LogEntry, ...] | None,
    kept_in: str | None = None,
) -> DryRun:
    """`alerter rules test`'s dry run. `kept_in`: the Redis holding the call's record, whose
    fields stand in for a call given by id alone."""
    return await dry_run(settings, rules, await stored_call_at(kept_in, call), logs)


def _verdict(match: RuleMatch) -> str:
    noise = match.rule.noise
    if not match.fired:
        return "below min_matches"
    if noise.count is not None or noise.rate is not None or noise.baseline is not None:
        if noise.count is not None:
            kind = f"{noise.count} matching calls"
        elif noise.baseline is not None:
            kind = f"{noise.baseline.factor:g} times the group's usual share"
        else:
            kind = f"{noise.rate:.0%} of at least {noise.min_calls} ended calls"
        resolved = (
            "; a resolved message follows when it stops holding" if noise.send_resolved else ""
        )
        return (
            f"MATCHES: this call counts toward its `when` window ({kind}); the alert fires "
            f"only when the window holds enough calls, which one call cannot show{resolved}"
        )
    if noise.digest:
        return "MATCHES: grouped into the rule's digest, sent when the window closes"
    return "FIRES"


async def _fetch(settings: Settings, call_id: str) -> tuple[LogEntry, ...]:
    client = DigaClient.from_settings(settings)
    try:
        return (await client.fetch_call_logs(call_id)).logs
    except DigaError as exc:
        raise ValueError(exc.message) from None
    finally:
        await client.aclose()


async def notify_test(
    destination: Destination, slack_api_url: str = "https://slack.com/api/"
) -> tuple[bool, str]:
    """Send a sample alert through one destination (`alerter notify test NAME`)."""
    sample = render.Alert(
        rule="alerter-test",
        description="A test alert sent by `alerter notify test`: nothing is wrong.",
        severity=Severity.INFO,
        call_id="00000000-0000-4000-8000-000000000000",
        call_fields=(("agent_id", "sample-agent"),),
        match_count=1,
        excerpts=(
            render.Excerpt(
                time="2026-01-01T00:00:00.000Z",
                level="ERROR",
                category="TRANSFER",
                event="transfer_failed",
                text="sample: transfer to a human failed",
                trace_id="0af7651916cd43dd8448eb211c80319c",
            ),
        ),
    )
    if destination.slack_app is not None:
        app, message = destination.slack_app, render.message(sample)
        return await send_once(app, destination.name, message, slack_api_url)
    return await deliver.send(destination, render.message(sample))
