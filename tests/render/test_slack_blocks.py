"""Slack app payloads (pure): valid Block Kit, the episode's buttons, untrusted text as text,
resolved and acknowledged updates of a first post."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block

from alerter.render.alert import message
from alerter.render.slack_blocks import (
    ACK_ACTION,
    ACTIONS_BLOCK,
    RESOLVED_COLOUR,
    SILENCE_ACTION,
    ButtonValue,
    Thread,
    acted_update,
    alert_payload,
    resolved_update,
)
from tests.kit.build import alert_for, log

THREAD = Thread(
    key="alerter-transfer-failed-abc",
    rule="transfer-failed",
    group="abc",
    labels=(("agent_id", "ag-1"),),
    call_id="3c90c3cc-0d44-4b50-8888-8dd25736052a",
)
HOSTILE = "<!channel> <@U0BOSS> & <https://evil.example|click> @here"


def valid_block_kit(payload: dict[str, Any]) -> list[Block]:
    """Every block parsed and validated by slack_sdk's own models; the attachment too."""
    parsed: list[Block] = []
    for attachment in payload["attachments"]:
        blocks = [Block.parse(raw) for raw in attachment["blocks"]]
        assert all(block is not None for block in blocks), attachment["blocks"]
        for block in blocks:
            assert block is not None
            block.validate_json()
            parsed.append(block)
        BlockAttachment(blocks=blocks, color=attachment["color"]).validate_json()
    return parsed


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = payload["attachments"][0]["blocks"]
    return [e for b in blocks if b.get("block_id") == ACTIONS_BLOCK for e in b["elements"]]


def hostile_message() -> Any:
    return message(alert_for([log(HOSTILE)]))


def test_an_alert_is_valid_block_kit_with_acknowledge_silence_and_open() -> None:
    payload = alert_payload(hostile_message(), THREAD, "https://alerter.example.com")
    valid_block_kit(payload)
    found = {b["action_id"]: b for b in buttons(payload)}
    assert set(found) == {ACK_ACTION, SILENCE_ACTION, "alerter_open"}
    assert found[ACK_ACTION]["text"]["text"] == "Acknowledge"
    assert found[SILENCE_ACTION]["text"]["text"] == "Silence 1h"
    assert found["alerter_open"]["text"]["text"] == "Open in alerter"
    assert found["alerter_open"]["url"].startswith("https://alerter.example.com/ui/calls/3c90c3cc-")
    value = ButtonValue.decode(found[SILENCE_ACTION]["value"])
    assert (value.rule, value.group, dict(value.labels)) == (
        "transfer-failed",
        "abc",
        {"agent_id": "ag-1"},
    )


def test_open_in_alerter_only_with_a_public_url() -> None:
    payload = alert_payload(hostile_message(), THREAD, None)
    assert [b["action_id"] for b in buttons(payload)] == [ACK_ACTION, SILENCE_ACTION]


def test_untrusted_text_stays_text_everywhere_in_the_payload() -> None:
    payload = alert_payload(hostile_message(), THREAD, None)
    text = json.dumps(payload)
    for formed in ("<!channel>", "<@U0BOSS>", "<https://evil", "<!here>"):
        assert formed not in text
    assert "&lt;!channel&gt;" in text


def test_a_resolved_message_has_no_buttons() -> None:
    resolved = Thread(**{**THREAD.to_job(), "labels": THREAD.labels, "kind": "resolved"})
    assert buttons(alert_payload(hostile_message(), resolved, "https://a.example")) == []


def test_resolved_update_marks_the_first_post_green_with_the_time_and_drops_its_buttons() -> None:
    posted = alert_payload(hostile_message(), THREAD, None)
    update = resolved_update(posted, 1_764_676_800.0)  # 2025-12-02 12:00 UTC
    valid_block_kit(update)
    assert buttons(update) == []
    assert update["attachments"][0]["color"] == RESOLVED_COLOUR
    last = update["attachments"][0]["blocks"][-1]
    assert "Resolved" in json.dumps(last) and "2025-12-02 12:00 UTC" in json.dumps(last)
    assert update["text"].startswith("Resolved at 2025-12-02 12:00 UTC")
    assert buttons(posted), "the post it was made from is unchanged"


def test_acted_update_says_who_as_text_and_keeps_one_status_line() -> None:
    posted = alert_payload(hostile_message(), THREAD, None)
    once = acted_update(posted, "Acknowledged", "<!channel> eve", "U0EVE", 1_764_676_800.0)
    twice = acted_update(once, "Acknowledged", "ann", "U0ANN", 1_764_676_900.0)
    valid_block_kit(twice)
    text = json.dumps(once)
    assert "<!channel>" not in text and "&lt;!channel&gt; eve (U0EVE)" in text
    statuses = [
        b for b in twice["attachments"][0]["blocks"] if b.get("block_id") == "alerter_status"
    ]
    assert len(statuses) == 1 and "ann (U0ANN)" in json.dumps(statuses[0])
    assert buttons(twice), "an acknowledged alert can still be silenced"
    silenced = acted_update(posted, "Silenced for 1h", "ann", "U0ANN", 1_764_676_900.0)
    assert buttons(silenced) == []


def test_a_button_value_that_is_not_ours_is_refused() -> None:
    with pytest.raises(ValueError):
        ButtonValue.decode('{"nope": 1}')
    with pytest.raises(ValueError):
        ButtonValue.decode("not json")


def test_long_group_labels_still_fit_a_button_value() -> None:
    labels = tuple((f"k{i}", "v" * 100) for i in range(40))
    value = ButtonValue("r", "digest", labels).encode()
    assert len(value) <= 2000
    assert ButtonValue.decode(value).group == "digest"
