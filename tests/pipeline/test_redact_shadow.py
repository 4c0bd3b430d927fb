"""Shadow rules, PII redaction per destination, the rule-file schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs
import pytest
import yaml

from alerter.cli import main
from alerter.rules.redact import compile_redactor
from alerter.rules.spec import rules_schema
from tests.conftest import (
    SLACK_URL,
    ApiServer,
    SmtpSink,
    make_settings,
    rules_from,
    run_worker_until_idle,
)
from tests.standins import DigaStandIn, Receiver, make_log

SHIPPED = Path(__file__).parents[2] / "rules"


@pytest.mark.parametrize(
    "text",
    [
        "call +34 600 000 000 back",
        "dial +1 (202) 555-0143 now",
        "uk 0044 20 7946 0958",
        "es 600-000-000",
        "us (555) 123 4567",
        "fr +33612345678",
        "de +49 30 901820",
    ],
)
def test_phone_formats_are_redacted(text: str) -> None:
    redacted = compile_redactor(["phone"])(text)
    assert "[phone]" in redacted
    assert not any(ch.isdigit() for ch in redacted.split("[phone]")[0][-3:])


def test_redaction_leaves_codes_and_times_and_handles_email_digits_regex() -> None:
    r = compile_redactor(["phone", "email"])
    assert r("SIP 408 after 30s in 2026") == "SIP 408 after 30s in 2026"
    assert r("mail ana.lopez+work@example.co.uk or +34 600 000 000") == "mail [email] or [phone]"
    assert compile_redactor(["digits"])("pin 1234") == "pin ####"
    assert compile_redactor([r"acct-\d+"])("acct-9912 failed") == "[redacted] failed"


def test_shipped_rules_follow_the_schema() -> None:
    validator = jsonschema_rs.validator_for(rules_schema())
    for path in sorted(SHIPPED.glob("*.yaml")):
        assert validator.is_valid(yaml.safe_load(path.read_text())), path
    assert not validator.is_valid({"rules": [{"name": "r", "notify": ["d"], "colour": "red"}]})
    assert not validator.is_valid({"rules": [{"name": "r", "notify": ["d"], "severity": "urgent"}]})


def test_rules_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["properties"]["rules"]["items"] == {"$ref": "#/$defs/Rule"}
    assert "repeat_interval" in schema["$defs"]["Rule"]["properties"]


RULES = """
destinations:
  slack-ops: ${SLACK_URL}
  audit: {url: "${HOOK_URL}", redact: [phone, email]}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [slack-ops, audit]
  - name: new-agent-rule
    mode: shadow
    match: {category: TRANSFER}
    notify: [slack-ops]
"""


async def test_redaction_per_destination_and_shadow_rules(
    tmp_path: Path,
    redis_url: str,
    diga: DigaStandIn,
    slack: Receiver,
    hook: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hook_url = hook.url.replace("http", "json", 1) + "/audit"
    rules = rules_from(tmp_path, RULES, {"SLACK_URL": SLACK_URL, "HOOK_URL": hook_url})
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        text = "transfer to +34 600 123 456 failed; caller ana@example.com"
        diga.add_call(call_id, [make_log(call_id, data={"message_text": text})])
        import httpx

        async with httpx.AsyncClient(base_url=api.url) as client:
            body = {"call": {"id": call_id, "contact": {"identifier": "+34 600 123 456"}}}
            assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    finally:
        api.stop()
    # Slack (no redaction) shows the text; the audit destination never sees the PII.
    [slack_message] = slack.wait_for(1)
    assert "+34 600 123 456" in json.dumps(slack_message) and "transfer-failed" in json.dumps(
        slack_message
    )
    [audit] = hook.wait_for(1)
    shown = json.dumps(audit)
    assert "600 123 456" not in shown and "ana@example.com" not in shown
    assert "[phone]" in shown and "[email]" in shown and call_id in shown
    # The shadow rule sent nothing, and says what it would have sent.
    assert "new-agent-rule" not in json.dumps(slack.received)
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert await asyncio.to_thread(main, ["rules", "report", "--since", "1h"]) == 0
    report = capsys.readouterr().out.splitlines()
    header, rows = report[0].split(), {line.split()[0]: line.split()[1:] for line in report[1:]}
    assert header[:3] == ["rule", "calls", "sent"]
    assert rows["transfer-failed"][:2] == ["1", "2"]  # one call, sent to two destinations
    assert rows["new-agent-rule"][0] == "1" and rows["new-agent-rule"][1] == "0"
    assert rows["new-agent-rule"][-2] == "1"  # would send


async def test_email_destination_redacts_html_text_and_subject(
    tmp_path: Path, redis_url: str, diga: DigaStandIn, smtp: tuple[SmtpSink, int]
) -> None:
    """Redaction end to end through a real SMTP server, not only a JSON hook."""
    sink, port = smtp
    mail_url = f"mailto://alerts@127.0.0.1:{port}?to=oncall@example.com&from=alerter@example.com"
    rules = rules_from(
        tmp_path,
        """
destinations:
  private-mail: {url: "${MAIL_URL}", redact: [phone, email]}
rules:
  - name: transfer-failed
    description: "Transfers failed"
    match: {category: [TRANSFER]}
    notify: [private-mail]
""",
        {"MAIL_URL": mail_url},
    )
    call_id = str(uuid.uuid4())
    text = "transfer to +34 600 123 456 failed; caller ana@example.com"
    diga.add_call(call_id, [make_log(call_id, data={"message_text": text})])
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        import httpx

        async with httpx.AsyncClient(base_url=api.url) as client:
            body = {
                "call": {
                    "id": call_id,
                    "contact": {"identifier": "+34 600 123 456"},
                    "agent_id": "ana@example.com",
                }
            }
            assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    finally:
        api.stop()
    [mail] = sink.wait_for(1)
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    for shown in (parts["text/plain"], parts["text/html"], str(mail["Subject"])):
        assert "600 123 456" not in shown and "600" not in shown.replace(call_id, "")
        assert "ana@example.com" not in shown
    for part in (parts["text/plain"], parts["text/html"]):
        assert "[phone]" in part and "[email]" in part and call_id in part


PHONE = "+34 600 123 456"
REDACTED_LINKS_RULES = """
destinations:
  private: {url: "${HOOK_URL}", redact: [phone]}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    group_by: [contact.identifier]
    title: "Transfer failed for {{ call['contact.identifier'] }}"
    links:
      - text: "Caller {{ call['contact.identifier'] }}"
        url: "https://crm.example.com/c/{{ call['contact.identifier'] | urlencode }}?n={{ call['contact.identifier'] | urlencode }}"
    notify: [private]
"""


async def test_a_redacting_destination_never_gets_the_phone_in_titles_links_or_silence_url(
    tmp_path: Path, redis_url: str, diga: DigaStandIn, hook: Receiver
) -> None:
    """Through the real api and worker: the templated title, a templated link's text and URL
    and the Silence… prefill (grouped by the caller's number) all redacted."""
    hook_url = hook.url.replace("http", "json", 1) + "/private"
    rules = rules_from(tmp_path, REDACTED_LINKS_RULES, {"HOOK_URL": hook_url})
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id, data={"message_text": "transfer failed"})])
        import httpx

        async with httpx.AsyncClient(base_url=api.url) as client:
            body = {"call": {"id": call_id, "contact": {"identifier": PHONE}}}
            assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        public = make_settings(diga.url, ALERTER_PUBLIC_URL="https://alerter.example.com")
        await run_worker_until_idle(public, rules, redis_url)
    finally:
        api.stop()
    [sent] = hook.wait_for(1)
    shown = json.dumps(sent)
    for form in (PHONE, "600 123 456", "600+123+456", "600%20123%20456", "34600123456"):
        assert form not in shown, form
    assert "Transfer failed for [phone]" in sent["title"]
    assert (
        "Caller [phone]: https://crm.example.com/c/%5Bphone%5D?n=%5Bphone%5D" in (sent["message"])
    )
    [silence] = [line for line in sent["message"].splitlines() if line.startswith("Silence…: ")]
    prefill = parse_qs(urlsplit(silence.removeprefix("Silence…: ")).query)
    assert prefill == {"rule": ["transfer-failed"], "matchers": ["contact.identifier=[phone]"]}
    assert f"Open in alerter: https://alerter.example.com/ui/calls/{call_id}" in sent["message"]
