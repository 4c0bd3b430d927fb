"""Episode messages (a flatline's firing, a resolved message): rendered purely, and the
episode key handed to destinations that close incidents (PagerDuty, Opsgenie) over HTTP."""

from __future__ import annotations

import dataclasses
import json

import pytest
from apprise.plugins import opsgenie, pagerduty

from alerter.budgets import PRODUCTION
from alerter.durations import format_duration
from alerter.models import Severity
from alerter.pipeline import deliver
from alerter.render import episode as render_episode
from alerter.render.episode import Episode, EpisodeEnd
from alerter.rules.redact import compile_redactor
from tests.standins import Receiver

RESOLVED = Episode(
    rule="failure-rate",
    description="Transfers fail",
    severity=Severity.CRITICAL,
    group="agent_id=ag-1",
    kind=EpisodeEnd.RESOLVED,
    started=1_700_000_000,
    ended=1_700_000_750,
    calls=41,
    key="alerter-failure-rate-abc-1700000000000",
)
FLATLINE = dataclasses.replace(
    RESOLVED, rule="no-calls", kind=EpisodeEnd.FIRING, calls=0, flatline=True, ended=1_700_001_200
)


def test_a_resolved_message_is_green_and_says_how_long_and_how_many_calls() -> None:
    message = render_episode.message(RESOLVED)
    assert message.resolved and message.key == RESOLVED.key
    assert message.slack["color"] == render_episode.RESOLVED_COLOUR
    assert message.title == "[RESOLVED] failure-rate: after 12m 30s (agent_id=ag-1)"
    for text in (message.text, message.html, json.dumps(message.slack)):
        assert "12m 30s" in text and "41 calls" in text and RESOLVED.key in text


def test_a_flatline_says_since_when_no_calls_came() -> None:
    message = render_episode.message(FLATLINE)
    assert not message.resolved
    assert message.title == "[CRITICAL] no-calls: no calls for 20m (agent_id=ag-1)"
    assert "2023-11-14 22:13:20 UTC" in message.text
    resumed = render_episode.summary(dataclasses.replace(FLATLINE, kind=EpisodeEnd.RESOLVED))
    assert resumed.startswith("Calls resumed (agent_id=ag-1) after 20m")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1.5, "1.5s"),
        (45, "45s"),
        (600, "10m"),
        (750, "12m 30s"),
        (3600, "1h"),
        (3905, "1h 5m 5s"),
        (86400, "24h"),
    ],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_hostile_group_labels_stay_text_and_are_redacted() -> None:
    hostile = dataclasses.replace(
        RESOLVED, group="agent_id=<!channel> <script>x</script> +34 600 123 456"
    )
    message = render_episode.message(hostile)
    assert "<!channel>" not in json.dumps(message.slack)
    assert "<script>" not in message.html
    redacted = render_episode.redacted(hostile, compile_redactor(["phone"]))
    assert "600 123 456" not in render_episode.message(redacted).text


def test_pagerduty_resolves_the_incident_its_firing_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver(ok_body=b'{"status": "success"}')
    receiver.start()
    try:
        monkeypatch.setitem(pagerduty.PAGERDUTY_API_LOOKUP, "us", receiver.url + "/v2/enqueue")
        url = "pagerduty://integration@apikey/?action=map&region=us"
        firing = render_episode.message(FLATLINE)
        assert deliver._send_one(url, firing, PRODUCTION)
        assert deliver._send_one(url, render_episode.message(RESOLVED), PRODUCTION)
        first, second = receiver.wait_for(2)
    finally:
        receiver.stop()
    assert first["event_action"] == "trigger" and second["event_action"] == "resolve"
    assert first["dedup_key"] == FLATLINE.key and second["dedup_key"] == RESOLVED.key


def test_opsgenie_gets_the_key_as_the_alert_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver(ok_body=b'{"requestId": "r-1"}')
    receiver.start()
    try:
        monkeypatch.setitem(opsgenie.OPSGENIE_API_LOOKUP, "us", receiver.url + "/v2/alerts")
        assert deliver._send_one("opsgenie://apikey/", render_episode.message(FLATLINE), PRODUCTION)
        (created,) = receiver.wait_for(1)
    finally:
        receiver.stop()
    assert created["alias"] == FLATLINE.key
