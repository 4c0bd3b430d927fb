"""Dry runs: `alerter rules test` (evaluate and render one call, send nothing) and
`alerter notify test` (a sample alert through one destination)."""

from __future__ import annotations

from alerter.models import FETCHED_LEVELS, CallEnded, LogEntry, Severity
from alerter.pipeline import deliver, render
from alerter.pipeline.evaluate import RuleMatch, evaluate
from alerter.pipeline.fetch import DigaClient, DigaError
from alerter.rules.model import Destination, RuleSet
from alerter.settings import Settings


async def run_dry(
    settings: Settings, rules: RuleSet, call: CallEnded, logs: tuple[LogEntry, ...] | None
) -> str:
    """What the service would do with this call, sending nothing. `logs`: as given (a saved
    page), else fetched from Diga. Raises ValueError to say why it could not run."""
    ignored = 0
    if logs is None:
        logs = await _fetch(settings, call.call_id)
    else:  # the service fetches only these levels: a saved page may hold others
        kept = tuple(log for log in logs if log.level in FETCHED_LEVELS)
        ignored, logs = len(logs) - len(kept), kept
    matches = evaluate(rules, call, logs)
    out = [f"call {call.call_id}: {len(logs)} ERROR/CRITICAL logs, {len(rules.rules)} rules"]
    if ignored:
        out.append(f"({ignored} logs of other levels ignored: the service never fetches them)")
    if not matches:
        out.append("no rule matched")
    for match in matches:
        rule = match.rule
        out.append(
            f"\n== {rule.name}: {len(match.logs)} matching logs "
            f"(min_matches {rule.min_matches}) → {_verdict(match)}"
        )
        if not match.fired:
            continue
        alert = render.build_alert(match, call)
        if rule.shadow:
            out.append(f"shadow rule: recorded as would-send to {', '.join(rule.notify)}")
        else:
            out.append(f"would notify: {', '.join(rule.notify)}")
        shown: set[int] = set()
        for name in rule.notify:
            redactor = rules.destinations[name].redactor
            if id(redactor) in shown:
                continue
            shown.add(id(redactor))
            seen_as = render.redacted(alert, redactor) if redactor else alert
            receivers = [n for n in rule.notify if rules.destinations[n].redactor is redactor]
            out.append(f"-- as {', '.join(receivers)} would see it:")
            out.append(render.title(seen_as))
            out.append(render.plain_text(seen_as))
    return "\n".join(out)


def _verdict(match: RuleMatch) -> str:
    noise = match.rule.noise
    if not match.fired:
        return "below min_matches"
    if noise.count is not None or noise.rate is not None:
        kind = (
            f"{noise.count} matching calls" if noise.count is not None
            else f"{noise.rate:.0%} of at least {noise.min_calls} ended calls"
        )
        return (
            f"MATCHES: this call counts toward its `when` window ({kind}); the alert fires "
            "only when the window holds enough calls, which one call cannot show"
        )
    if noise.digest:
        return "MATCHES: grouped into the rule's digest, sent when the window closes"
    return "FIRES"


async def _fetch(settings: Settings, call_id: str) -> tuple[LogEntry, ...]:
    key = settings.diga_api_key.get_secret_value() if settings.diga_api_key else None
    client = DigaClient(settings.diga_api_url, key, page_cap=settings.diga_page_cap)
    try:
        return (await client.fetch_call_logs(call_id)).logs
    except DigaError as exc:
        raise ValueError(exc.message) from None
    finally:
        await client.aclose()


async def notify_test(destination: Destination) -> tuple[bool, str]:
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
    return await deliver.send(destination, render.message(sample))
