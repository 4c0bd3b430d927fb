"""Templates of `when` rules speak of the window that fired (`window.*`, and `count` the same
number as the body), and a dry run uses the fields alerter kept for the call."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerter.cli import main
from tests.conftest import DIGA_KEY, SLACK_URL, make_settings, rules_from, run_worker_until_idle
from tests.kit.build import noise_rules
from tests.kit.webhook import send_calls
from tests.standins import DigaStandIn, Receiver, make_log


def title_of(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["fallback"])


async def test_a_frequency_title_counts_the_calls_of_the_window_like_its_body(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    """Each call has one matching log: `count` was 1 while the body said 3 calls."""
    rules = noise_rules(
        tmp_path,
        "group_by: [agent_id]\nwhen: {count: 3, within: 10m}\n"
        "title: '{{ count }} transfer failures ({{ window.count }}; {{ window.calls }})'",
    )
    api = api_for(rules)
    await send_calls(api, diga, 3, agent="ag-north")
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    [message] = slack.wait_for(1)
    # A frequency window counts matching calls only: `window.calls` renders empty.
    assert title_of(message) == "[CRITICAL] transfer-failed: 3 transfer failures (3; )"
    assert "3 calls within 10m" in json.dumps(message, ensure_ascii=False)


async def test_a_rate_title_sees_the_window_calls_and_rate(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, slack: Receiver, redis_url: str
) -> None:
    rules = noise_rules(
        tmp_path,
        "group_by: [agent_id]\nwhen: {rate: 0.4, within: 15m, min_calls: 10}\n"
        "title: '{{ window.count }} of {{ window.calls }} calls, "
        "{{ (window.rate * 100) | round | int }}% ({{ count }})'",
    )
    api = api_for(rules)
    await send_calls(api, diga, 6, failing=False, agent="ag-north")
    await send_calls(api, diga, 4, agent="ag-north")
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    [message] = slack.wait_for(1)
    assert title_of(message) == "[CRITICAL] transfer-failed: 4 of 10 calls, 40% (4)"


@pytest.fixture
def cli_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, diga: DigaStandIn
) -> None:
    for name in ("REDIS_URL", "DIGA_API_URL", "DIGA_API_KEY", "ALERTER_RULES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DIGA_API_URL", diga.url)
    monkeypatch.setenv("DIGA_API_KEY", DIGA_KEY)


RUNBOOK_RULES = """
destinations:
  ops: json://127.0.0.1:9/x
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    title: "Transfer failed for {{ call.agent_id or 'an unknown agent' }}"
    links: [{text: Runbook, url: "https://runbooks.example.com/{{ call.agent_id }}"}]
    notify: [ops]
"""


async def test_rules_test_by_call_id_uses_the_fields_kept_for_the_call(
    tmp_path: Path,
    cli_env: None,
    api_for: Any,
    diga: DigaStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
) -> None:
    rules = rules_from(tmp_path, RUNBOOK_RULES, {"SLACK_URL": SLACK_URL})
    monkeypatch.setenv("ALERTER_RULES", str(tmp_path / "rules"))
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "sales-es"}}
    async with httpx.AsyncClient(base_url=api.url) as client:
        assert (await client.post("/webhooks/diga", json=body)).status_code == 202
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)  # the call's record
    assert await asyncio.to_thread(main, ["rules", "test", "--call-id", call_id]) == 0
    out = capsys.readouterr().out
    assert "Transfer failed for sales-es" in out
    assert "https://runbooks.example.com/sales-es" in out
    # A call alerter has no record of is tested with its id alone, as before.
    other = str(uuid.uuid4())
    diga.add_call(other, [make_log(other)])
    assert await asyncio.to_thread(main, ["rules", "test", "--call-id", other]) == 0
    assert "Transfer failed for an unknown agent" in capsys.readouterr().out


async def test_the_consoles_test_uses_the_fields_kept_for_the_call(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, redis_url: str
) -> None:
    from tests.http.console_kit import token

    rules = rules_from(tmp_path, RUNBOOK_RULES)
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    body = {"event": "call.ended", "call": {"id": call_id, "agent_id": "sales-es"}}
    operator = {"Authorization": f"Bearer {await token(redis_url, 'ops', 'operator')}"}
    async with httpx.AsyncClient(base_url=api.url, headers=operator, timeout=30) as client:
        assert (await client.post("/webhooks/diga", json=body)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
        answer = await client.post("/api/v1/rules/transfer-failed/test", json={"call_id": call_id})
    assert answer.status_code == 200, answer.text
    (trial,) = answer.json()["trials"]
    assert trial["renderings"][0]["title"].endswith("Transfer failed for sales-es")
