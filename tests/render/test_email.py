"""The e-mail (HTML) medium, rendered from its template: untrusted text stays text."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser

from alerter.models import CallEnded, LogEntry, Severity
from alerter.render.alert import message
from alerter.render.build import build_alert
from alerter.render.email import email_html
from alerter.render.links import Link
from alerter.render.model import Alert, Excerpt
from alerter.rules.fired import RuleMatch
from alerter.rules.model import Rule

HOSTILE = "<script>alert(1)</script>\"onmouseover=\"alert(2)' x='<img src=x onerror=alert(3)>&amp;"
# What the template itself writes: no value may add a tag or an attribute.
TAGS = {"div", "h2", "h3", "p", "b", "table", "tr", "th", "td", "code", "ol", "li", "pre", "a"}
ATTRIBUTES = {"style", "align", "href"}


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Parsed:
    out = Parsed()
    out.feed(html)
    out.close()
    return out


def hostile_alert(text: str = HOSTILE) -> Alert:
    """Every field an e-mail shows holds `text`, links included (as if no check had run)."""
    excerpt = Excerpt(
        time=text, level=text, category=text, event=text, text=text, trace_id=text, repeat=2
    )
    return Alert(
        rule=text,
        description=text,
        severity=Severity.CRITICAL,
        call_id=text,
        call_fields=((text, text),),
        match_count=9,
        excerpts=(excerpt, dataclasses.replace(excerpt, role="first")),
        note=text,
        headline=text,
        links=(Link(text, f"https://x.example/{text}"),),
        key=text,
    )


def test_hostile_text_in_every_field_stays_text_in_the_email() -> None:
    html = email_html(hostile_alert())
    assert "<script" not in html and "<img" not in html
    assert '"onmouseover=' not in html and "'<img" not in html
    seen = parsed(html)
    assert seen.tags <= TAGS, seen.tags - TAGS
    assert {name for name, _ in seen.attributes} <= ATTRIBUTES
    # Escaped, not dropped: each field reads back as the text it was.
    shown = "".join(seen.text)
    assert shown.count(HOSTILE) >= 12, shown
    hrefs = [value for name, value in seen.attributes if name == "href"]
    assert hrefs == [f"https://x.example/{HOSTILE}"]


def test_hostile_logs_and_call_fields_through_the_whole_render() -> None:
    rule = Rule(
        name="transfer-failed",
        description=HOSTILE,
        severity=Severity.CRITICAL,
        levels=frozenset({"ERROR"}),
        categories=None,
        events=None,
        data=(),
        call=(),
        min_matches=1,
        notify=("ops",),
        source="x.yaml:1",
    )
    log = LogEntry(
        id=str(uuid.uuid4()),
        timestamp=datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC),
        level=HOSTILE,
        category=HOSTILE,
        event=HOSTILE,
        trace_id=HOSTILE,
        data={"message_text": HOSTILE},
    )
    call = CallEnded(call_id="c-1", fields={HOSTILE: HOSTILE})
    html = message(build_alert(RuleMatch(rule, (log,)), call, note=HOSTILE)).html
    seen = parsed(html)
    assert "<script" not in html and '"onmouseover=' not in html
    assert seen.tags <= TAGS and {name for name, _ in seen.attributes} <= ATTRIBUTES


def test_email_layout_is_the_one_alerts_always_had() -> None:
    alert = dataclasses.replace(
        hostile_alert("x"), links=(Link("Open", "https://a.example/c"), Link("B", "https://b"))
    )
    html = email_html(alert)
    assert html.startswith(
        '<div style="border-left:4px solid #E01E5A;padding-left:12px;font-family:sans-serif">'
        "<h2>CRITICAL · x</h2><p><b>x</b></p><p>x</p><table>"
        '<tr><th align="left" style="padding:2px 12px 2px 0">Rule</th><td>x</td></tr>'
    )
    assert (
        '<tr><th align="left" style="padding:2px 12px 2px 0">Call</th><td><code>x</code></td></tr>'
        in html
    )
    assert (
        "<li><p>(first failure) <code>x</code> <b>x</b> · x · <code>x</code> × 2"
        ' · trace <code>x</code></p><pre style="white-space:pre-wrap">x</pre></li></ol>'
        "<p>and 7 more matching logs</p>"
        '<p><a href="https://a.example/c">Open</a> · <a href="https://b">B</a></p></div>'
    ) in html
    assert "\n" not in html


def test_hostile_text_stays_text_in_digest_and_episode_emails() -> None:
    from alerter.render import digest as render_digest
    from alerter.render import episode as render_episode

    excerpt = Excerpt(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)
    digest = render_digest.Digest(
        rule=HOSTILE,
        description=HOSTILE,
        severity=Severity.WARNING,
        group=HOSTILE,
        opened=0.0,
        closed=60.0,
        count=3,
        calls=(render_digest.DigestCall(HOSTILE, 2, excerpt),),
        events=((HOSTILE, 2),),
        reasons=((HOSTILE, 1),),
    )
    episode = render_episode.Episode(
        rule=HOSTILE,
        description=HOSTILE,
        severity=Severity.CRITICAL,
        group=HOSTILE,
        kind=render_episode.EpisodeEnd.RESOLVED,
        started=0.0,
        ended=600.0,
        calls=4,
        key=HOSTILE,
    )
    for html, fields in (
        (render_digest.email_html(digest), 8),
        (render_episode.email_html(episode), 4),
    ):
        assert "<script" not in html and '"onmouseover=' not in html
        seen = parsed(html)
        assert seen.tags <= TAGS | {"ul"} and {name for name, _ in seen.attributes} <= ATTRIBUTES
        assert "".join(seen.text).count(HOSTILE) >= fields
