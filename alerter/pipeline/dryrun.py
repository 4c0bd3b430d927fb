"""Dry runs: `alerter rules test` (evaluate and render one call, send nothing) and
`alerter notify test` (a sample alert through one destination)."""

from __future__ import annotations

from alerter.models import CallEnded, LogEntry, Severity
from alerter.pipeline import deliver, render
from alerter.pipeline.evaluate import evaluate
from alerter.pipeline.fetch import DigaClient, DigaError
from alerter.rules.model import Destination, RuleSet
from alerter.settings import Settings


async def run_dry(
    settings: Settings, rules: RuleSet, call: CallEnded, logs: tuple[LogEntry, ...] | None
) -> str:
    """`logs`: as given (a saved page), else fetched from Diga. Raises ValueError to say why
    it could not run."""
    if logs is None:
        logs = await _fetch(settings, call.call_id)
    matches = evaluate(rules, call, logs)
    out = [f"call {call.call_id}: {len(logs)} ERROR/CRITICAL logs, {len(rules.rules)} rules"]
    if not matches:
        out.append("no rule matched")
    for match in matches:
        state = "FIRES" if match.fired else "below min_matches"
        out.append(
            f"\n== {match.rule.name}: {len(match.logs)} matching logs "
            f"(min_matches {match.rule.min_matches}) → {state}"
        )
        if match.fired:
            alert = render.build_alert(match, call)
            out.append(f"would notify: {', '.join(match.rule.notify)}")
            out.append(render.title(alert))
            out.append(render.plain_text(alert))
    return "\n".join(out)


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
