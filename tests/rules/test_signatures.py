"""Failure signatures: normalisation (pure), new-signature rules and the command (real servers)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from alerter.cli import main
from alerter.models import LogEntry
from alerter.rules.signatures import normalise, signature
from tests.conftest import SLACK_URL, ApiServer, make_settings, rules_from, run_worker_until_idle
from tests.standins import DigaStandIn, Receiver, make_log


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "SIP 408 timeout transferring to +34 600 000 000 after 30.5s",
            "SIP <n> timeout transferring to <phone> after <n>s",
        ),
        (
            'user ana@x.com call 3c90c3cc-0d44-4b50-8888-8dd25736052a failed: "Queue full"',
            "user <email> call <uuid> failed: <value>",
        ),
        (
            "GET https://crm.example.com/leads/123 returned 503 (trace 4bf92f3577b34da6a3ce)",
            "GET <url> returned <n> (trace <id>)",
        ),
        ("tool 'book_slot' failed   twice", "tool <value> failed twice"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_same_failure_same_signature() -> None:
    def log(text: str, event: str = "transfer_failed") -> LogEntry:
        return LogEntry(
            id="1",
            timestamp=datetime(2026, 1, 1),
            level="ERROR",
            category="TRANSFER",
            event=event,
            data={"failure_reason": text},
        )

    a = signature(log("busy line +34 600 111 222 after 12s"))
    b = signature(log("busy line +1 202 555 0143 after 7s"))
    assert a == b and a.text == "TRANSFER transfer_failed: busy line <phone> after <n>s"
    assert signature(log("busy line", "transfer_timeout")).digest != a.digest


async def test_new_signature_rule_fires_once_per_kind_and_the_command_lists_them(
    tmp_path: Path,
    redis_url: str,
    diga: DigaStandIn,
    slack: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = rules_from(
        tmp_path,
        "destinations: {slack-ops: '${SLACK_URL}'}\nrules:\n"
        "  - {name: new-failures, match: {category: TRANSFER}, new_signature: true, "
        "signature_days: 7, notify: [slack-ops]}\n",
        {"SLACK_URL": SLACK_URL},
    )
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    texts = [
        "SIP 486 busy calling +34 600 111 222",
        "SIP 486 busy calling +34 611 999 000",
        "SIP 486 busy calling +44 20 7946 0958",
        "queue 'sales' closed at 18:00",
    ]
    try:
        import httpx

        async with httpx.AsyncClient(base_url=api.url) as client:
            for text in texts:
                call_id = str(uuid.uuid4())
                diga.add_call(call_id, [make_log(call_id, data={"failure_reason": text})])
                await client.post("/webhooks/diga", json={"call_id": call_id})
                await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    finally:
        api.stop()
    bodies = slack.wait_for(2)
    assert len(bodies) == 2  # the busy kind once, the closed queue once
    shown = json.dumps(bodies[0], ensure_ascii=False)
    assert "Signature: TRANSFER transfer_failed: SIP &lt;n&gt; busy calling &lt;phone&gt;" in shown
    assert "(1 call in the last hour)" in shown
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await asyncio.to_thread(main, ["signatures", "--since", "1h"]) == 0
    lines = capsys.readouterr().out.splitlines()
    kind = "TRANSFER transfer_failed: SIP <n> busy calling <phone>"
    assert lines[0].split(None, 1) == ["3", kind]
    assert lines[1].strip() == "e.g. SIP 486 busy calling +34 600 111 222"  # the first one seen
    assert lines[2].split(None, 1)[0] == "1"
    assert lines[3].strip().startswith("e.g. queue 'sales' closed")
