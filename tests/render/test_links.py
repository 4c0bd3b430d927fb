"""Links in alerts: checked after rendering and after redaction, left out whole with a
WARNING; the Silence… prefill matches literal values, through the real worker and api."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerter.http.console.actions import parse_matchers
from alerter.models import CallEnded
from alerter.render.build import build_alert
from alerter.render.console_urls import matchers_text
from alerter.render.email import email_html
from alerter.render.links import URL_CHARS, console_links
from alerter.render.plain import plain_text
from alerter.render.redaction import redacted
from alerter.render.slack import slack_payload
from alerter.rules.fired import RuleMatch
from alerter.rules.matchers import Matcher, literal, parse_matcher
from alerter.rules.noise import Noise
from alerter.rules.redact import compile_redactor
from alerter.rules.templates import compile_link
from tests.conftest import ApiServer, make_settings, rules_from, run_worker_until_idle
from tests.http.console_kit import token
from tests.kit.build import CALL, log, rule
from tests.standins import DigaStandIn, Receiver, make_log

HOSTILE_VALUES = ("~.*", "busy, event=~.*", "a\nevent=~.*", " padded ", '"quoted"', "x\u2028y")


def linked(url: str, text: str = "Open", **data: Any) -> list[tuple[str, str]]:
    """The links an alert carries when its rule has one link templated as given."""
    links = (compile_link(text, url),)
    match = RuleMatch(rule(links=links), (log(**({"data": data} if data else {})),))
    return [(link.text, link.url) for link in build_alert(match, CALL).links]


# ---------------------------------------------------------------- link rules


@pytest.mark.parametrize(
    ("url", "data", "why"),
    [
        ("{{ log.data.u }}", {"u": "javascript:alert(1)//https://x"}, "not http(s)"),
        ("{{ log.data.u }}", {"u": "data:text/html,<script>"}, "not http(s)"),
        ("{{ log.data.u }}", {"u": "javascript://crm.example.com/%0Aalert(1)"}, "not http(s)"),
        ("{{ log.data.u }}", {"u": "ftp://crm.example.com/x"}, "not http(s)"),
        ("{{ log.data.u }}", {"u": "https+unix://crm.example.com/x"}, "not http(s)"),
        ("{{ log.data.u }}", {"u": "HTTPS:"}, "names no host"),
        ("https://{{ log.data.u }}@crm.example.com/", {"u": "ana:pw"}, "user name or password"),
        ("https://{{ log.data.u }}@crm.example.com/", {"u": "ana"}, "user name or password"),
        ("https://crm.example.com/{{ log.data.u }}", {"u": "x" * URL_CHARS}, "over 2000"),
        ("https://crm.example.com:{{ log.data.u }}/", {"u": "99999999"}, "not a valid URL"),
    ],
)
def test_a_link_breaking_a_rule_after_rendering_is_left_out_with_a_warning(
    url: str, data: dict[str, str], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert linked(url, **data) == []
    [record] = [r for r in caplog.records if "left out" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("rule transfer-failed: link 1 left out: ")
    assert why in record.getMessage()
    assert "ana:pw" not in record.getMessage()  # never the url itself


def test_a_link_at_the_limit_is_kept_whole_and_one_over_is_never_cut(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = "https://crm.example.com/"
    at_limit = "a" * (URL_CHARS - len(base))
    assert linked(base + "{{ log.data.u }}", u=at_limit) == [("Open", base + at_limit)]
    # One escaped character past the limit: left out, not cut inside its escape.
    assert linked(base + "{{ log.data.u | urlencode }}", u=at_limit[:-2] + "/") == [
        ("Open", base + at_limit[:-2] + "/")
    ]
    assert linked(base + "{{ log.data.u | urlencode }}", u=at_limit[:-2] + " ") == []


def test_http_and_https_links_pass_and_whitespace_is_escaped_not_dropped() -> None:
    assert linked("http://crm.example.com/{{ call.id }}") == [
        ("Open", f"http://crm.example.com/{CALL.call_id}")
    ]
    assert linked("https://crm.example.com/?q={{ log.data.u }}", u='a b"<c>') == [
        ("Open", "https://crm.example.com/?q=a%20b%22%3Cc%3E")
    ]


def test_console_links_are_checked_too(caplog: pytest.LogCaptureFixture) -> None:
    grouped = rule(noise=Noise(group_by=("agent_id",)))
    long_label = {"agent_id": "x" * URL_CHARS}
    links = console_links("https://alerter.example.com", CALL.call_id, grouped, long_label)
    with caplog.at_level(logging.WARNING):
        alert = build_alert(RuleMatch(grouped, (log(),)), CALL, links=links)
    assert [link.text for link in alert.links] == ["Open in alerter"]
    assert "over 2000" in caplog.text


# ---------------------------------------------------------------- redaction of links

PHONE = "+34 600 123 456"


def test_redaction_reaches_link_texts_urls_and_the_silence_prefill() -> None:
    call = CallEnded(call_id=CALL.call_id, fields={"contact.identifier": PHONE})
    grouped = rule(
        noise=Noise(group_by=("contact.identifier",)),
        links=(
            compile_link(
                "Caller {{ call['contact.identifier'] }}",
                "https://crm.example.com/{{ call.id }}/{{ call['contact.identifier'] | urlencode }}"
                "?n={{ call['contact.identifier'] }}#{{ call['contact.identifier'] }}",
            ),
        ),
    )
    links = console_links("https://alerter.example.com:8443", call.call_id, grouped, call.fields)
    alert = build_alert(RuleMatch(grouped, (log(),)), call, links=links)
    assert PHONE in plain_text(alert)  # the unredacted alert has it everywhere
    shown = redacted(alert, compile_redactor(["phone", "digits"]))
    caller, opened, silence = shown.links
    assert caller.text == "Caller [phone]"
    # The host, its port and the call id are kept; every value from the call is redacted.
    assert caller.url == (  # `+` read as a space
        f"https://crm.example.com/{CALL.call_id}/%5Bphone%5D?n=%20%5Bphone%5D#%20%5Bphone%5D"
    )
    assert opened.url == f"https://alerter.example.com:8443/ui/calls/{CALL.call_id}"
    query = parse_qs(urlsplit(silence.url).query)
    assert query == {"rule": ["transfer-failed"], "matchers": ["contact.identifier=[phone]"]}
    assert silence.url.startswith("https://alerter.example.com:8443/ui/silences/new?")
    for text in (json.dumps(slack_payload(shown)), email_html(shown), plain_text(shown)):
        for form in ("600", "%2B34", "34+600"):
            assert form not in text.replace(CALL.call_id, ""), (form, text)


def test_a_redacted_url_is_checked_again_as_it_leaves(caplog: pytest.LogCaptureFixture) -> None:
    base = "https://crm.example.com/"
    links = (compile_link("Open", base + "{{ log.data.u }}"),)
    value = "a" * (URL_CHARS - len(base))
    alert = build_alert(RuleMatch(rule(links=links), (log(data={"u": value}),)), CALL)
    assert len(alert.links) == 1
    with caplog.at_level(logging.WARNING):
        shown = redacted(alert, compile_redactor(["a{10}"]))  # "[redacted]", escaped: longer
    assert shown.links == () and "over 2000" in caplog.text


# ---------------------------------------------------------------- literal prefill


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_a_prefilled_value_reads_back_as_one_literal_matcher(value: str) -> None:
    text = matchers_text([("data.reason", value)])
    [matcher] = parse_matchers(text)  # the silence form's own parsing
    assert (matcher.name, matcher.op, matcher.value) == ("data.reason", "=", value)
    assert "\n" not in text and "," not in text


@given(st.text(max_size=60), st.text(max_size=60))
def test_any_values_read_back_as_literal_matchers(first: str, second: str) -> None:
    text = matchers_text([("agent_id", first), ("data.reason", second)])
    parsed = parse_matchers(text)
    assert [(m.name, m.op, m.value) for m in parsed] == [
        ("agent_id", "=", first),
        ("data.reason", "=", second),
    ]
    assert parse_matcher(f"x={literal(first)}").value == first


def test_plain_values_stay_readable_in_the_form() -> None:
    assert matchers_text([("agent_id", "ag 1&x"), ("event", "transfer_failed")]) == (
        "agent_id=ag 1&x\nevent=transfer_failed"
    )
    assert literal("~.*") == '"~.*"' and literal("a,b") == '"a\\u002cb"'


HOSTILE_RULES = """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    group_by: [data.failure_reason]
    notify: [hook]
"""


async def test_a_silence_made_from_the_prefill_stops_only_its_literal_group(
    tmp_path: Path,
    api_for: Callable[..., ApiServer],
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
) -> None:
    """A log value `~.*, event=~.*` once turned the prefill into two wildcards that
    silenced every call; through the real worker, receiver and silence API it now stops
    only calls with that very value."""
    hostile = "~.*, event=~.*"
    rules = rules_from(tmp_path, HOSTILE_RULES, {"HOOK_URL": hook.url.replace("http", "json", 1)})
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    public = make_settings(diga.url, ALERTER_PUBLIC_URL="https://alerter.example.com")
    operator = {"Authorization": f"Bearer {await token(redis_url, 'olga', 'operator')}"}

    async def call_with(reason: str) -> str:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id, data={"failure_reason": reason})])
        async with httpx.AsyncClient(base_url=api.url) as client:
            body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "ag-1"}}
            assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        return call_id

    await call_with(hostile)
    await run_worker_until_idle(public, rules, redis_url)
    [first] = hook.wait_for(1)
    found = re.search(r"Silence…: (\S+)", first["message"])
    assert found, first["message"]
    prefill = parse_qs(urlsplit(found.group(1)).query)
    async with httpx.AsyncClient(base_url=api.url, headers=operator) as client:
        answer = await client.post(
            "/api/v1/silences",
            json={
                "rule": prefill["rule"][0],
                "matchers": prefill["matchers"][0],  # as the form would submit it
                "comment": "from the alert",
                "duration": "1h",
            },
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["matchers"] == {"data.failure_reason": hostile}
    other = await call_with("busy")
    await call_with(hostile)
    await run_worker_until_idle(public, rules, redis_url)
    received = hook.wait_for(2, timeout=5)
    assert len(received) == 2 and other in received[1]["message"]


async def test_the_signatures_page_prefills_the_log_event_literally(
    tmp_path: Path,
    api_for: Callable[..., ApiServer],
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
) -> None:
    """The Signatures page's Silence… is prefilled from a log's event: literal too."""
    event = "transfer_failed, category=~.*"
    rules = rules_from(tmp_path, HOSTILE_RULES, {"HOOK_URL": hook.url.replace("http", "json", 1)})
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id, event=event)])
    async with httpx.AsyncClient(base_url=api.url) as client:
        body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "ag-1"}}
        assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
        page = (await client.get("/ui/signatures")).text
    [href] = re.findall(r'href="(/ui/silences/new\?[^"]*)"', page)
    prefill = parse_qs(urlsplit(html.unescape(href)).query)
    parsed = parse_matchers(prefill["matchers"][0])
    assert sorted((m.name, m.op, m.value) for m in parsed) == [
        ("category", "=", "TRANSFER"),
        ("event", "=", event),
    ]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_recreating_a_silence_prefills_its_values_literally(value: str) -> None:
    """**Recreate** writes an expired silence's matchers into the form (`str(matcher)`)."""
    silence_matchers = (Matcher("data.reason", "=", value), Matcher("event", "=~", "a{1,3}"))
    text = "\n".join(str(m) for m in silence_matchers)
    assert parse_matchers(text) == silence_matchers
