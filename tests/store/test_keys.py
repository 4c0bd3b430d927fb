"""Every Redis key keeps the name a running deployment already wrote: an upgrade reads the
state it left (no migration). A key renamed here would silently start empty."""

from __future__ import annotations

from arq import constants

from alerter.store import keys


def test_call_keys_keep_their_names() -> None:
    assert keys.CALLS == "alerter:calls"
    assert keys.LAST_FIRED == "alerter:rules:last_fired"  # read under LAST (issue 30)
    assert (keys.LAST, keys.LAST_RULE, keys.LAST_DESTINATION) == (
        "alerter:last",
        "rule:",
        "destination:",
    )
    assert keys.call_record("c1") == "alerter:call:c1"
    assert keys.call_events("c1") == "alerter:call:c1:events"
    assert keys.outcome_counts(2934) == "alerter:counts:2934"
    assert keys.matched_calls("r", 2934) == "alerter:matched:r:2934"


def test_state_keys_keep_their_names() -> None:
    assert keys.HISTORY == "alerter:history"
    assert keys.FAILED == "alerter:failed"
    assert keys.DESTINATIONS_LAST == "alerter:destinations:last"
    assert keys.AUDIT == "alerter:audit"
    assert keys.WORKERS == "alerter:workers"
    assert keys.sent_marker("c1", "r", "d") == "alerter:sent:c1:r:d"
    assert keys.sent_marker("c1", "r", "d", "u1") == "alerter:sent:c1:r:d:u1"


def test_noise_keys_keep_their_names() -> None:
    assert keys.decision("c1", "r", "when") == "alerter:decision:c1:r:when"
    assert keys.decision("c1", "sig", "g") == "alerter:decision:c1:sig:g"
    assert keys.rule_groups("r") == "alerter:groups:r"
    assert keys.throttle("r", "g") == "alerter:throttle:r:g"
    assert keys.frequency_window("r", "g") == "alerter:freq:r:g"
    assert keys.frequency_fired("r", "g") == "alerter:freq:r:g:fired"
    assert keys.frequency_kinds("r", "g") == "alerter:freq:r:g:calls"
    assert keys.rate_matched("r", "g") == "alerter:rate:r:g:matched"
    assert keys.rate_ended("r", "g") == "alerter:rate:r:g:ended"
    assert keys.rate_fired("r", "g") == "alerter:rate:r:g:fired"
    assert keys.rate_kinds("r", "g") == "alerter:rate:r:g:calls"
    assert keys.baseline_ring("r", "g", "matched") == "alerter:baseline:r:g:matched"
    assert keys.baseline_ring("r", "fleet", "ended") == "alerter:baseline:r:fleet:ended"
    assert keys.baseline_fired("r", "g") == "alerter:baseline:r:g:fired"
    assert keys.digest_open("r", "g") == "alerter:digest:r:g"
    assert keys.digest_closed("r", "g", "w") == "alerter:digest:r:g:closed:w"
    assert keys.digest_sent("r", "g") == "alerter:digest-sent:r:g"
    assert keys.signature_seen("s") == "alerter:sig:seen:s"
    assert keys.signature_calls("s") == "alerter:sig:calls:s"
    assert keys.signatures_of_day("20261202") == "alerter:sigs:20261202"
    assert keys.signature_example("s") == "alerter:sig:example:s"
    assert keys.incident_groups("r", "s") == "alerter:incident:r:s:groups"


def test_episode_keys_keep_their_names() -> None:
    assert keys.EPISODES_DUE == "alerter:episodes:due"
    assert keys.EPISODES_OUTBOX == "alerter:episodes:outbox"
    assert keys.episode("r", "g") == "alerter:episode:r:g"
    assert keys.episode_notified("r", "g", "17") == "alerter:episode:r:g:17:notified"
    assert keys.flatline_seen("r") == "alerter:flatline:r:seen"
    assert keys.flatline_muted("r") == "alerter:flatline:r:muted"


def test_silence_slack_and_console_keys_keep_their_names() -> None:
    assert keys.SILENCES == "alerter:silences"
    assert keys.silence("s1") == "alerter:silence:s1"
    assert keys.silence_hits("s1") == "alerter:silence:s1:hits"
    assert keys.slack_thread("t", "d") == "alerter:slack:thread:t:d"
    assert keys.slack_first_post("t", "d") == "alerter:slack:posting:t:d"
    assert keys.slack_escalated("t") == "alerter:slack:escalated:t"
    assert keys.slack_escalation("t") == "alerter:slack:escalation:t"
    assert keys.SLACK_ESCALATIONS == "alerter:slack:escalations"
    assert keys.ack("r", "g") == "alerter:ack:r:g"
    assert keys.CONSOLE_TOKENS == "alerter:console:tokens"
    assert keys.console_session("h") == "alerter:console:session:h"
    assert keys.console_failures("10.0.0.1") == "alerter:console:failures:10.0.0.1"


def test_job_ids_keep_their_names() -> None:
    assert keys.call_job("c1") == "call:c1"
    assert keys.held_sends("c1") == "alerter:held:c1"
    assert keys.send_job(keys.sent_marker("c1", "r", "d")) == "send:c1:r:d"
    assert keys.episode_job("r", "g", "17", "resolved") == "episode:r:g:17:resolved"
    assert keys.arq_health_check("w1") == "arq:queue:health-check:w1"


def test_arq_names_are_arqs_own() -> None:
    """arq's worker reads these: named here once, they must stay what arq uses."""
    assert keys.ARQ_QUEUE == constants.default_queue_name
    assert keys.ARQ_JOB == constants.job_key_prefix
    assert keys.ARQ_RESULT == constants.result_key_prefix
    assert keys.ARQ_IN_PROGRESS == constants.in_progress_key_prefix
    assert keys.ARQ_RETRY == constants.retry_key_prefix
    assert keys.arq_health_check("w1").startswith(
        constants.default_queue_name + constants.health_check_key_suffix
    )
