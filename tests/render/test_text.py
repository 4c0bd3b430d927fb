"""Text every medium shares: log text indented line by line in plain text, so no log line
passes for one of alerter's own; bidi controls removed from every medium."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from alerter.models import CallEnded, Severity
from alerter.render import digest as render_digest
from alerter.render import episode as render_episode
from alerter.render.alert import Message, build_alert, excerpt, message, plain_text, redacted
from alerter.render.links import console_links
from alerter.rules.fired import RuleMatch
from alerter.rules.noise import Noise
from alerter.rules.redact import compile_redactor
from alerter.rules.templates import TITLE_CHARS, compile_link, compile_template
from tests.conftest import ApiServer, make_settings, rules_from, run_worker_until_idle
from tests.kit.build import CALL, log, rule
from tests.standins import DigaStandIn, Receiver, make_log

# Every way a viewer may start a new line, then what alerter's own lines look like.
BREAKS = ("\n", "\r\n", "\r", "\x85", "\u2028", "\x0b", "\x0c")
FORGED = "Rule: all-clear (info)"
OWN = ("Rule: ", "Call: ", "Matching logs: ", "Key: ", "Group: ", "Window: ", "Events: ")


def forged(lead: str = "ok") -> str:
    return "".join(f"{lead}{b}{FORGED}{b}Call: forged{b}" for b in BREAKS)


def margin_lines(text: str) -> list[str]:
    """The lines a reader sees starting at the margin (any line break counts)."""
    return [line for line in text.splitlines() if line and not line[0].isspace()]


def assert_no_forged_line(text: str) -> None:
    for line in margin_lines(text):
        assert not line.startswith((FORGED, "Call: forged")), (line, text)


def test_log_text_cannot_forge_a_line_of_a_plain_text_alert() -> None:
    call = CallEnded(call_id=CALL.call_id, fields={"agent_id": forged(), forged(): "x"})
    alert = build_alert(
        RuleMatch(rule(description=forged("Transfers")), (log(forged(), event=forged()),)),
        call,
        note=f"3 calls ({forged()})",
    )
    text = plain_text(alert)
    assert_no_forged_line(text)
    # Everything is still there, indented line by line: the note (a group's window takes
    # several lines), the description, the excerpt's text under its header.
    lines = text.splitlines()
    assert lines[1:4] == ["    3 calls (ok", f"    {FORGED}", "    Call: forged"]
    assert "    Transfers" in lines
    header = next(i for i, line in enumerate(lines) if line.startswith("2026-"))
    assert lines[header + 1 : header + 4] == ["    ok", f"    {FORGED}", "    Call: forged"]


def test_a_templated_summary_and_link_text_cannot_forge_a_line() -> None:
    templated = rule(
        summary=compile_template("{{ log.text }}", 1000, one_line=False),
        title=compile_template("{{ log.text }}", TITLE_CHARS),
        links=(compile_link("{{ log.text }}", "https://crm.example.com/"),),
    )
    alert = build_alert(RuleMatch(templated, (log(forged()),)), CALL)
    assert_no_forged_line(plain_text(alert))
    assert "\n" not in message(alert).title


def test_digest_and_episode_plain_text_indent_log_text_too() -> None:
    digest = render_digest.Digest(
        rule="r",
        description=forged(),
        severity=Severity.WARNING,
        group=f"agent_id={forged()}",
        opened=1_700_000_000.0,
        closed=1_700_000_060.0,
        count=1,
        calls=(render_digest.DigestCall(CALL.call_id, 1, excerpt(log(forged(), event=forged()))),),
        events=((forged(), 1),),
        reasons=((forged(), 1),),
    )
    assert_no_forged_line(render_digest.message(digest).text)
    for kind in render_episode.EpisodeEnd:
        episode = render_episode.Episode(
            rule="r",
            description=forged(),
            severity=Severity.WARNING,
            group=f"agent_id={forged()}",
            kind=kind,
            started=1_700_000_000.0,
            ended=1_700_000_600.0,
            calls=3,
            key="alerter-r-1-2",
        )
        assert_no_forged_line(render_episode.message(episode).text)


async def test_a_json_destination_gets_no_forged_line(
    tmp_path: Path, redis_url: str, diga: DigaStandIn, hook: Receiver
) -> None:
    rules = rules_from(
        tmp_path,
        """
destinations:
  hook: ${HOOK_URL}
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [hook]
""",
        {"HOOK_URL": hook.url.replace("http", "json", 1)},
    )
    api = ApiServer(make_settings(diga.url), redis_url, rules)
    api.start()
    try:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id, data={"message_text": forged()})])
        import httpx

        async with httpx.AsyncClient(base_url=api.url) as client:
            body = {"call": {"id": call_id, "agent_id": f"ag-1\n{FORGED}"}}
            assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    finally:
        api.stop()
    [sent] = hook.wait_for(1)
    assert_no_forged_line(sent["message"])
    assert f"    {FORGED}" in sent["message"].splitlines()


# ---------------------------------------------------------------- bidi and format controls

BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"


def texts_of(rendered: Message) -> list[str]:
    slack = json.dumps(rendered.slack, ensure_ascii=False)
    return [rendered.title, slack, rendered.slack["fallback"], rendered.html, rendered.text]


def assert_bidi_free(rendered: Message) -> None:
    for text in texts_of(rendered):
        assert not any(c in text for c in BIDI), ascii(text)


def test_bidi_controls_are_removed_from_every_medium() -> None:
    hostile = f"evil{BIDI}gpj.exe"
    templated = rule(
        description=f"desc {hostile}",
        noise=Noise(group_by=("agent_id",)),
        title=compile_template("{{ log.text }}", TITLE_CHARS),
        links=(compile_link("{{ log.text }}", "https://crm.example.com/{{ log.text }}"),),
    )
    call = CallEnded(call_id=CALL.call_id, fields={"agent_id": hostile})
    links = console_links("https://alerter.example.com", CALL.call_id, templated, call.fields)
    alert = build_alert(
        RuleMatch(templated, (log(hostile, event=hostile, trace_id=hostile),)),
        call,
        note=f"note {hostile}",
        links=links,
    )
    rendered = message(alert)
    assert_bidi_free(rendered)
    assert "evilgpj.exe" in rendered.text and "evilgpj.exe" in rendered.title
    assert_bidi_free(message(redacted(alert, compile_redactor(["email"]))))
    digest = render_digest.Digest(
        rule="r",
        description=hostile,
        severity=Severity.WARNING,
        group=f"agent_id={hostile}",
        opened=1_700_000_000.0,
        closed=1_700_000_060.0,
        count=1,
        calls=(render_digest.DigestCall(CALL.call_id, 1, excerpt(log(hostile, event=hostile))),),
        events=((hostile, 1),),
        reasons=((hostile, 1),),
    )
    assert_bidi_free(render_digest.message(digest))
    episode = render_episode.Episode(
        rule="r",
        description=hostile,
        severity=Severity.WARNING,
        group=f"agent_id={hostile}",
        kind=render_episode.EpisodeEnd.RESOLVED,
        started=1_700_000_000.0,
        ended=1_700_000_600.0,
        calls=3,
        key="alerter-r-1-2",
    )
    assert_bidi_free(render_episode.message(episode))


def test_a_format_character_cannot_hide_a_phone_number_from_redaction() -> None:
    r = compile_redactor(["phone"])
    for hidden in ("\u202e", "\u200b", "\u2066", "\u00ad", "\ufeff"):
        assert r(f"call +34 600{hidden}123 456 now") == "call [phone] now"


def test_every_bidi_control_leaves_a_json_payload_wherever_it_sits() -> None:
    """In a key, a value, deep in a list: each of Unicode's bidi controls, and a payload with
    none comes back equal."""
    from alerter.render.text import bidi_free_json

    for control in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        payload = {f"k{control}": [{"text": f"a{control}b", "n": 1, "ok": True, "none": None}]}
        assert bidi_free_json(payload) == {"k": [{"text": "ab", "n": 1, "ok": True, "none": None}]}
    clean = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "é ✓ 🚨"}}]}
    assert bidi_free_json(clean) == clean
