"""Rendering (pure): content, escaping of untrusted text, Slack's limits."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.models import CallEnded, Severity
from alerter.pipeline.deliver import slack_template_json
from alerter.render.build import build_alert
from alerter.render.email import email_html
from alerter.render.model import (
    SLACK_HEADER_CHARS,
    SLACK_MAX_BLOCKS,
    SLACK_PAYLOAD_CHARS,
    SLACK_SECTION_CHARS,
    title,
)
from alerter.render.plain import plain_text
from alerter.render.slack import slack_payload
from alerter.rules.fired import RuleMatch
from alerter.rules.model import Rule
from tests.kit.build import CALL, alert_for, log, rule


def all_texts(payload: dict[str, Any]) -> list[str]:
    out = []
    for block in payload["blocks"]:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [
            item.get("text", "") for item in block.get("fields", []) + block.get("elements", [])
        ]
    return out


def test_alert_content() -> None:
    logs = [log(f"failure {i}") for i in range(8)]
    alert = alert_for(logs)
    assert alert.match_count == 8 and len(alert.excerpts) == 5 and alert.more == 3
    assert alert.excerpts[0].time == "2026-11-25T12:00:01.250Z"
    text = plain_text(alert)
    for expected in (
        "transfer-failed",
        "critical",
        CALL.call_id,
        "agent_id: ag-1",
        "failure 0",
        "4bf92f3577b34da6",
        "and 3 more matching logs",
    ):
        assert expected in text
    assert "failure 5" not in text
    assert title(alert) == f"[CRITICAL] transfer-failed on call {CALL.call_id}"


def test_failure_reason_is_shown_when_there_is_no_message_text() -> None:
    alert = alert_for([log(data={"failure_reason": "busy line"})])
    assert alert.excerpts[0].text == "busy line"
    assert "busy line" in json.dumps(slack_payload(alert))


def test_slack_blocks_design() -> None:
    payload = slack_payload(alert_for([log(f"failure {i}") for i in range(7)]))
    kinds = [block["type"] for block in payload["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "context"
    assert kinds.count("section") == 2 + 1 + 5  # summary, description, call fields, excerpts
    assert payload["color"] == "#E01E5A"
    assert "and 2 more matching logs" in payload["blocks"][-1]["elements"][0]["text"]


def test_slack_escapes_mentions_and_links() -> None:
    hostile = "<!channel> <!here|here> <@U123> <#C1> <https://x.example|x> & done"
    call = CallEnded(call_id=CALL.call_id, fields={"agent_id": "<!everyone>"})
    payload = slack_payload(alert_for([log(hostile, event="<!here>")], call))
    for text in all_texts(payload):
        assert "<" not in text.replace("&lt;", "") and ">" not in text.replace("&gt;", "")
    dumped = json.dumps(payload)
    assert "&lt;!channel&gt;" in dumped and "&amp; done" in dumped


def test_backticks_cannot_close_the_code_block() -> None:
    payload = slack_payload(alert_for([log("``` *bold* <!channel> ```")]))
    for text in all_texts(payload):
        assert text.count("```") % 2 == 0


def test_slack_limits_hold_for_huge_logs() -> None:
    huge = "x" * 100_000
    logs = [log(f"{i} {huge}", event="e" * 5000, trace_id="t" * 5000) for i in range(200)]
    call = CallEnded(call_id=CALL.call_id, fields={f"k{i}": "v" * 5000 for i in range(60)})
    payload = slack_payload(build_alert(RuleMatch(rule("r" * 100), tuple(logs)), call, 200))
    assert len(payload["blocks"]) <= SLACK_MAX_BLOCKS
    assert len(payload["blocks"][0]["text"]["text"]) <= SLACK_HEADER_CHARS
    assert all(len(text) <= SLACK_SECTION_CHARS for text in all_texts(payload))
    assert len(json.dumps(payload["blocks"])) <= SLACK_PAYLOAD_CHARS
    assert payload["blocks"][-1]["type"] == "context"  # "and N more" survives the cut


def test_template_json_keeps_apprise_tokens_literal() -> None:
    text = slack_template_json(slack_payload(alert_for([log("{{app_body}} {{ app_title }}")])))
    assert "{{" not in text
    assert "{{app_body}}" in json.dumps(json.loads(text))


def test_email_html_escapes_and_plain_text_defuses() -> None:
    alert = alert_for([log("<script>alert(1)</script> @here @channel <!channel>")])
    html = email_html(alert)
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = plain_text(alert)
    assert "@here" not in text and "@channel" not in text and "<!channel>" not in text


@settings(deadline=None)
@given(text=st.text(max_size=4000), event=st.text(max_size=300))
def test_slack_payload_is_safe_for_any_text(text: str, event: str) -> None:
    payload = slack_payload(alert_for([log(text, event=event)] * 3))
    for block_text in all_texts(payload):
        assert len(block_text) <= SLACK_SECTION_CHARS
        assert "<" not in block_text and ">" not in block_text
        assert block_text.count("```") % 2 == 0
    assert len(payload["blocks"][0]["text"]["text"]) <= SLACK_HEADER_CHARS


def test_repeats_collapse_and_the_first_failure_leads() -> None:
    logs = [log("SIP 408 timeout")] * 12 + [log("caller hung up")]
    first = log("LLM quota exceeded", category="AGENT", event="llm_error")
    alert = build_alert(RuleMatch(rule(), tuple(logs)), CALL, first_failure=first)
    assert [(x.role, x.repeat, x.text) for x in alert.excerpts] == [
        ("first", 1, "LLM quota exceeded"),
        ("match", 12, "SIP 408 timeout"),
        ("match", 1, "caller hung up"),
    ]
    assert alert.more == 0
    shown = json.dumps(slack_payload(alert), ensure_ascii=False)
    assert "× 12" in shown and "first failure" in shown and "more matching" not in shown
    assert "(first failure)" in plain_text(alert) and "x12" in plain_text(alert)
    same = build_alert(RuleMatch(rule(), tuple(logs)), CALL, first_failure=logs[0])
    assert same.excerpts[0].role == "match"  # the first failure is already the first match


def test_redaction_reaches_every_text_an_alert_shows() -> None:
    """Description, call fields, excerpts and the note (group labels can be call fields)."""
    from alerter.render.alert import message, redacted
    from alerter.rules.redact import compile_redactor

    phone, mail = "+34 600 123 456", "ana@example.com"
    call = CallEnded(call_id=CALL.call_id, fields={"contact.identifier": phone, "agent_id": mail})
    base = build_alert(
        RuleMatch(rule(description=f"calls from {phone}"), (log(f"dial {phone} for {mail}"),)),
        call,
        note=f"3 calls matched within 10m (contact.identifier={phone})",
    )
    shown = redacted(base, compile_redactor(["phone", "email"]))
    rendered = message(shown)
    for text in (
        json.dumps(rendered.slack),
        rendered.html,
        rendered.text,
        rendered.title,
        shown.note or "",
        shown.description,
    ):
        assert "600 123 456" not in text and mail not in text, text
    assert "[phone]" in (shown.note or "") and "[phone]" in rendered.text


def test_digest_redaction_reaches_group_calls_events_and_reasons() -> None:
    from alerter.render import digest as render_digest
    from alerter.render.alert import excerpt
    from alerter.rules.redact import compile_redactor

    phone = "+34 600 123 456"
    digest = render_digest.Digest(
        rule="transfer-failed",
        description=f"from {phone}",
        severity=Severity.WARNING,
        group=f"contact.identifier={phone}",
        opened=1_700_000_000.0,
        closed=1_700_000_600.0,
        count=2,
        calls=(render_digest.DigestCall(CALL.call_id, 1, excerpt(log(f"dial {phone}"))),),
        events=((f"event {phone}", 2),),
        reasons=((f"busy at {phone}", 2),),
    )
    shown = render_digest.redacted(digest, compile_redactor(["phone"]))
    rendered = render_digest.message(shown)
    for text in (json.dumps(rendered.slack), rendered.html, rendered.text, rendered.title):
        assert "600 123 456" not in text, text
    assert shown.reasons == (("busy at [phone]", 2),)


def test_hostile_text_stays_text_in_plain_text_slack_digests_and_fallbacks() -> None:
    from alerter.render import digest as render_digest
    from alerter.render.alert import excerpt, message

    hostile = "@channel <!here> ``` `x` *bold*\r\nline2\t<@U123>"
    base = build_alert(
        RuleMatch(rule(), (log(hostile, event=f"ev {hostile}"),)),
        CallEnded(call_id=CALL.call_id, fields={"agent_id": hostile}),
        note=f"3 calls (agent_id={hostile})",
    )
    rendered = message(base)
    # Plain text (Mattermost, Rocket.Chat, Discord parse mentions themselves): the note too.
    assert "@channel" not in rendered.text and "<!here>" not in rendered.text
    digest = render_digest.Digest(
        rule="r",
        description="",
        severity=Severity.WARNING,
        group=f"agent_id={hostile}" + "x" * 3000,
        opened=1_700_000_000.0,
        closed=1_700_000_060.0,
        count=1,
        calls=(render_digest.DigestCall(CALL.call_id, 1, excerpt(log(hostile))),),
        events=((f"ev`end {hostile}", 1),),
        reasons=((f"busy`x\nnext {hostile}", 1),),
    )
    payload = render_digest.slack_payload(digest)
    for text in all_texts(payload):
        assert "<!here>" not in text and "<@U123>" not in text
    counted = [t for t in all_texts(payload) if t.startswith(("*Events*", "*Failure reasons*"))]
    assert len(counted) == 2
    for text in counted:
        for line in text.split("\n")[1:]:  # one code span per line, whole, then its count
            assert line.count("`") == 2 and line.endswith("× 1"), line
    for fallback in (payload["fallback"], rendered.slack["fallback"]):
        assert "<!here>" not in fallback and "@channel" not in fallback
        assert "\n" not in fallback and "\r" not in fallback and len(fallback) <= 300
    assert "&am…" not in json.dumps(payload) and "&…" not in json.dumps(payload)
    assert "\n" not in render_digest.title(digest) and len(render_digest.title(digest)) <= 250


def test_one_log_says_log_not_logs_in_a_digest() -> None:
    from alerter.render import digest as render_digest
    from alerter.render.alert import excerpt

    digest = render_digest.Digest(
        rule="r",
        description="",
        severity=Severity.INFO,
        group="all calls",
        opened=0.0,
        closed=60.0,
        count=1,
        events=(),
        reasons=(),
        calls=(render_digest.DigestCall(CALL.call_id, 1, excerpt(log())),),
    )
    assert "1 logs" not in render_digest.email_html(digest)
    assert "1 logs" not in render_digest.plain_text(digest)


def test_console_links_become_slack_url_buttons_email_links_and_text_lines() -> None:
    from alerter.render.links import console_links
    from alerter.rules.noise import Noise

    grouped = rule(noise=Noise(group_by=("agent_id",)))
    labels = {"agent_id": "ag 1&x", "event": "transfer_failed"}
    assert console_links(None, CALL.call_id, grouped, labels) == ()
    links = console_links("https://alerter.example.com", CALL.call_id, grouped, labels)
    alert = build_alert(RuleMatch(grouped, (log(),)), CALL, links=links)

    buttons = slack_payload(alert)["blocks"][-1]
    assert buttons["type"] == "actions"
    assert [(b["text"]["text"], b["url"]) for b in buttons["elements"]] == [
        ("Open in alerter", f"https://alerter.example.com/ui/calls/{CALL.call_id}"),
        (
            "Silence…",
            "https://alerter.example.com/ui/silences/new?rule=transfer-failed"
            "&matchers=agent_id%3Dag+1%26x",
        ),
    ]
    html = email_html(alert)
    assert f'<a href="https://alerter.example.com/ui/calls/{CALL.call_id}">' in html
    assert "matchers=agent_id%3Dag+1%26amp;x" not in html and "%26x" in html
    text = plain_text(alert)
    assert text.endswith("&matchers=agent_id%3Dag+1%26x")
    # Without group_by, the silence targets the failing event.
    plain = console_links("https://a.example", "c", rule(), labels)
    assert plain[1].url.endswith("matchers=event%3Dtransfer_failed")


def templated_rule(**over: Any) -> Rule:
    from alerter.rules.noise import Noise
    from alerter.rules.templates import SUMMARY_CHARS, TITLE_CHARS, compile_link, compile_template

    return rule(
        noise=Noise(group_by=("agent_id",)),
        title=compile_template(
            over.pop("title", "Transfer failed for {{ call.agent_id }}"), TITLE_CHARS
        ),
        summary=compile_template(
            over.pop("summary", "{{ count }} errors; last: {{ log.text }} ({{ group.agent_id }})"),
            SUMMARY_CHARS,
            one_line=False,
        ),
        links=(compile_link("Open the call", "https://calls.example.com/{{ call.id }}"),),
        **over,
    )


def test_templates_give_the_title_summary_and_links() -> None:
    alert = build_alert(RuleMatch(templated_rule(), (log("SIP 408"), log("SIP 480"))), CALL)
    assert title(alert) == "[CRITICAL] transfer-failed: Transfer failed for ag-1"
    assert alert.description == "2 errors; last: SIP 408 (ag-1)"
    assert [(link.text, link.url) for link in alert.links] == [
        ("Open the call", f"https://calls.example.com/{CALL.call_id}")
    ]
    buttons = slack_payload(alert)["blocks"][-1]
    assert buttons["elements"][0]["url"] == f"https://calls.example.com/{CALL.call_id}"


def test_the_sandbox_refuses_attribute_tricks_and_the_default_title_stands() -> None:
    tricky = templated_rule(title="{{ call.__class__.__mro__[1].__subclasses__() }}")
    alert = build_alert(RuleMatch(tricky, (log(),)), CALL)
    assert alert.headline is None  # rendered empty: the usual title stands
    assert title(alert) == title(alert_for([log()]))
    assert "__subclasses__" not in json.dumps(slack_payload(alert))


@settings(max_examples=150)
@given(value=st.text(max_size=300))
def test_templated_text_from_calls_stays_text_in_every_medium(value: str) -> None:
    call = CallEnded(call_id="c-1", fields={"agent_id": value})
    alert = build_alert(RuleMatch(templated_rule(), (log(value),)), call)
    payload = json.dumps(slack_payload(alert))
    for mention in ("<!channel>", "<!here>", "<@U"):
        assert mention not in payload
    assert "<script" not in email_html(alert).lower().replace("&lt;script", "")
    assert len(title(alert)) <= 250 and "\n" not in title(alert)
    # A link whose url a value could redirect stays on its host.
    assert all(link.url.startswith("https://calls.example.com/") for link in alert.links)


def test_redaction_reaches_templated_titles_summaries_and_links_but_keeps_the_call_id() -> None:
    from alerter.render.alert import message, redacted
    from alerter.rules.redact import compile_redactor

    phone = "+34 600 123 456"
    call = CallEnded(call_id=CALL.call_id, fields={"agent_id": phone, f"alt {phone}": "x"})
    templated = templated_rule(
        title="{{ call.agent_id }} on {{ call.id }}", summary="last: {{ log.text }}"
    )
    alert = build_alert(RuleMatch(templated, (log(f"dial {phone}"),)), call)
    assert phone in title(alert) and phone in alert.description
    shown = message(redacted(alert, compile_redactor(["phone", "digits"])))
    assert shown.title == f"[CRITICAL] transfer-failed: [phone] on {CALL.call_id}"
    for text in (shown.title, json.dumps(shown.slack), shown.html, shown.text):
        assert "600" not in text.replace(CALL.call_id, ""), text
    assert "last: dial [phone]" in shown.text and shown.slack["fallback"] == shown.title
    assert f"Open the call: https://calls.example.com/{CALL.call_id}" in shown.text
