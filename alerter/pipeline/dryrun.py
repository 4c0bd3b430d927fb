"""`alerter rules test`: fetch (or read) one call's logs, evaluate, render; send nothing."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from alerter.http.intake import Ignored, IntakeError, parse_webhook
from alerter.models import CallEnded, LogEntry, LogPage, Severity
from alerter.pipeline import deliver, render
from alerter.pipeline.evaluate import evaluate
from alerter.pipeline.fetch import DigaClient, DigaError
from alerter.rules.model import Destination, RuleSet
from alerter.settings import Settings

_LOG_LIST = TypeAdapter(tuple[LogEntry, ...])


async def run_dry(
    settings: Settings,
    rules: RuleSet,
    call_id: str,
    logs_file: Path | None,
    call_file: Path | None,
) -> str:
    call = _call(call_id, call_file, settings)
    logs = _read_logs(logs_file) if logs_file else await _fetch(settings, call.call_id)
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


def _call(call_id: str, call_file: Path | None, settings: Settings) -> CallEnded:
    try:
        if call_file is None:
            parsed = parse_webhook(json.dumps({"call_id": call_id}).encode(), frozenset())
        else:
            parsed = parse_webhook(call_file.read_bytes(), settings.call_end_events)
    except IntakeError as exc:
        raise ValueError(f"{call_file or 'call id'}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{call_file}: {exc.strerror}") from None
    if isinstance(parsed, Ignored):
        raise ValueError(f"{call_file}: event {parsed.event!r} is not a call end")
    if parsed.call_id != call_id:
        parsed = CallEnded(call_id=parsed.call_id, event=parsed.event, fields=parsed.fields)
    return parsed


def _read_logs(path: Path) -> tuple[LogEntry, ...]:
    try:
        raw = path.read_bytes()
        try:
            return LogPage.model_validate_json(raw).data
        except ValidationError:
            return _LOG_LIST.validate_json(raw)
    except (OSError, ValidationError) as exc:
        raise ValueError(
            f"{path}: not a page or list of Diga logs ({type(exc).__name__})"
        ) from None


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
    result = await deliver.send(destination, render.message(sample))
    return result.ok, result.detail
