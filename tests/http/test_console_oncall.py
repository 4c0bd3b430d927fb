"""The console as an on-call tool: why the rules are not loaded, destinations by scheme, host
and port with their redaction, times as UTC text, links from each thing to its history,
history paged and filtered by call field, charts, the log lines that made a rule fire."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from alerter.http.console.charts import hour_chart
from alerter.models import CallEnded
from alerter.rules.reload import RulesHolder
from alerter.store import connect
from alerter.store.state import State
from tests.conftest import ApiServer, make_settings, rules_from, write_rules
from tests.http.console_kit import console_rules, process, send_call, token
from tests.standins import DigaStandIn, Receiver, make_log

pytestmark = pytest.mark.usefixtures("redis_url")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


TWO_PORTS = """
destinations:
  first: json://user:pa55word@127.0.0.1:{one}/hooks/secret-path-1?token=abc
  second:
    url: json://127.0.0.1:{two}/hooks/secret-path-2
    redact: [phone, email, 'ACME-\\d+']
rules:
  - {{name: transfer-failed, match: {{category: TRANSFER}}, notify: [first, second]}}
"""


async def test_destinations_show_scheme_host_port_and_redaction_never_secrets(
    api_for: Callable[..., ApiServer], tmp_path: Path, api_client: httpx.AsyncClient
) -> None:
    rules = rules_from(tmp_path, TWO_PORTS.format(one=9101, two=9102))
    api = api_for(rules)
    page = (await api_client.get(f"{api.url}/ui/destinations")).text
    assert "<code>json://127.0.0.1:9101</code>" in page
    assert "<code>json://127.0.0.1:9102</code>" in page
    assert "email, phone, /ACME-\\d+/ removed" in page
    for secret in ("secret-path", "pa55word", "user", "token=abc"):
        assert secret not in page
    assert 'href="/ui/history?destination=second"' in page
    listed = (await api_client.get(f"{api.url}/api/v1/destinations")).json()["destinations"]
    assert [d["redaction"] for d in listed] == [[], ["email", "phone", "/ACME-\\d+/"]]


async def test_the_audit_page_shows_times_as_utc_text(
    api_for: Callable[..., ApiServer], tmp_path: Path, redis_url: str
) -> None:
    rules = rules_from(tmp_path, TWO_PORTS.format(one=9101, two=9102))
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        made = await client.post(
            "/api/v1/silences",
            json={"rule": "transfer-failed", "comment": "deploy", "duration": "2h"},
        )
        assert made.is_success, made.text
        ends = made.json()["ends_at"]
        page = (await client.get("/ui/audit")).text
    assert re.search(r"ends_at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    assert str(int(ends)) not in page


async def test_the_overview_says_why_the_rule_files_are_invalid(
    tmp_path: Path, redis_url: str, diga: DigaStandIn, api_client: httpx.AsyncClient
) -> None:
    folder = write_rules(tmp_path, TWO_PORTS.format(one=9101, two=9102))
    holder = RulesHolder(folder, environ={})
    assert holder.reload("start")
    (folder / "rules.yaml").write_text("rules:\n  - {name: x, notify: [nowhere]}\n")
    assert not holder.reload("change")
    api = ApiServer(make_settings(diga.url), redis_url, holder)
    api.start()
    try:
        broken = (await api_client.get(f"{api.url}/ui/")).text
        (folder / "rules.yaml").write_text(TWO_PORTS.format(one=9101, two=9102))
        assert holder.reload("change")
        mended = (await api_client.get(f"{api.url}/ui/")).text
    finally:
        api.stop()
    assert 'id="rule-errors"' in broken and "rules.yaml:2: " in broken
    assert "nowhere" in broken and f"Version {holder.require().version}" in broken
    assert 'id="rule-errors"' not in mended


async def ended(redis_url: str, agents: list[str]) -> list[str]:
    """Calls recorded as evaluated (no rule fired), oldest first: one history entry each."""
    # Diga's call ids are UUIDs (the API refuses anything else): numbered, to read failures.
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(len(agents))]
    async with connect.client(redis_url) as redis:
        state = State(redis)
        for call_id, agent in zip(ids, agents, strict=True):
            call = CallEnded(call_id=call_id, fields={"agent_id": agent, "campaign": "spring"})
            await state.evaluated(call, logs=0, requests=1, capped=None, fired={})
    return ids


async def test_history_pages_with_a_cursor_in_the_api(
    api_for: Callable[..., ApiServer], tmp_path: Path, redis_url: str
) -> None:
    api = api_for(rules_from(tmp_path, TWO_PORTS.format(one=9101, two=9102)))
    ids = await ended(redis_url, ["ag-a", "ag-b"] * 5)
    seen: list[str] = []
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=api.url) as client:
        for _ in range(10):
            query = {"limit": "3", **({"next": cursor} if cursor else {})}
            answer = (await client.get("/api/v1/history", params=query)).json()
            seen += [row["call_id"] for row in answer["entries"]]
            cursor = answer["next"]
            if cursor is None:
                break
        assert seen == ids[::-1]  # every entry once, newest first, across four pages
        agent = await client.get("/api/v1/history", params={"agent_id": "ag-b", "limit": "2"})
        first = agent.json()
        assert [r["call_id"] for r in first["entries"]] == [ids[9], ids[7]]
        rest = await client.get(
            "/api/v1/history", params={"agent_id": "ag-b", "limit": "10", "next": first["next"]}
        )
        assert [r["call_id"] for r in rest.json()["entries"]] == [ids[5], ids[3], ids[1]]
        assert rest.json()["next"] is None
        both = {"agent_id": "ag-a", "campaign": "spring", "call_id": ids[2]}
        one = (await client.get("/api/v1/history", params=both)).json()["entries"]
        assert [r["call_id"] for r in one] == [ids[2]]
        for fields in ({"agent_id": "ag-a", "campaign": "autumn"}, {**both, "campaign": "x"}):
            none = (await client.get("/api/v1/history", params=fields)).json()
            assert none == {"entries": [], "next": None}  # every field must hold


async def test_the_history_page_filters_by_call_field_and_links_the_next_page(
    api_for: Callable[..., ApiServer], tmp_path: Path, redis_url: str
) -> None:
    api = api_for(rules_from(tmp_path, TWO_PORTS.format(one=9101, two=9102)))
    ids = await ended(redis_url, ["ag-a"] * 203 + ["ag-b"])
    async with httpx.AsyncClient(base_url=api.url) as client:
        page = (await client.get("/ui/history", params={"fields": "agent_id=ag-a"})).text
        assert ids[-1] not in page and ids[202] in page and ids[3] in page and ids[2] not in page
        [link] = re.findall(r'<a href="([^"]+)" rel="next">Older entries</a>', page)
        older = (await client.get(link.replace("&amp;", "&"))).text
        assert all(call_id in older for call_id in ids[:3]) and ids[3] not in older
        assert 'rel="next"' not in older
        direct = (await client.get("/ui/history", params={"agent_id": "ag-b"})).text
        assert ids[-1] in direct and ids[0] not in direct
        assert 'value="agent_id=ag-b"' in direct  # the filter shows in the form


def at(second: int) -> datetime:
    return datetime(2026, 11, 25, 12, 0, second, tzinfo=UTC)


async def test_the_call_page_shows_the_log_lines_that_made_each_rule_fire(
    api_for: Callable[..., ApiServer],
    tmp_path: Path,
    hook: Receiver,
    diga: DigaStandIn,
    redis_url: str,
) -> None:
    rules = console_rules(tmp_path, hook)
    api = api_for(rules)
    async with httpx.AsyncClient(base_url=api.url) as client:
        logs = [
            make_log("c", data={"message_text": f"transfer to queue {i} <refused>"}, at=at(i))
            for i in range(7)
        ]
        logs.append(make_log("c", category="AGENT", event="turn", data={"message_text": "off"}))
        call_id = await send_call(client, diga, logs=logs)
        await process(make_settings(diga.url), rules, redis_url)
        page = (await client.get(f"/ui/calls/{call_id}")).text
        story = (await client.get(f"/api/v1/calls/{call_id}")).json()
    assert "2026-11-25 12:00:00 UTC ERROR TRANSFER/transfer_failed: transfer to queue 0" in page
    assert "transfer to queue 4 &lt;refused&gt;" in page  # as text, escaped
    assert "queue 5" not in page and "and 2 more matching logs" in page
    assert "turn" not in page  # a log the rule did not match
    [fired] = story["rules"]
    assert fired["log_lines"][0].endswith("transfer to queue 0 <refused>")
    assert len(fired["log_lines"]) == 6


def test_the_hourly_chart_draws_each_hour_and_says_it_in_words() -> None:
    now = datetime(2026, 11, 25, 12, 30, tzinfo=UTC).timestamp()
    values = [0] * 24
    values[20], values[23] = 4, 2
    chart = hour_chart(values, now)
    assert len(chart.bars) == 24 and len(chart.ticks) == 4
    assert chart.bars[20].height == chart.base - 4  # the busiest hour fills the height
    assert chart.bars[23].height == (chart.base - 4) / 2
    assert chart.bars[0].height == 0 and chart.bars[0].y == chart.base
    assert chart.bars[20].title == "08:30–09:30 UTC: 4 alerts sent"
    assert chart.summary == "6 alerts sent in 24 h; most, 4, in the hour from 08:30 UTC"
    assert hour_chart([0] * 24, now).summary == "no alerts sent in 24 h"


async def test_charts_and_links_from_rules_signatures_and_calls_to_their_history(
    api_for: Callable[..., ApiServer],
    tmp_path: Path,
    hook: Receiver,
    diga: DigaStandIn,
    redis_url: str,
) -> None:
    rules = console_rules(tmp_path, hook)
    api = api_for(rules)
    async with httpx.AsyncClient(base_url=api.url) as client:
        first = await send_call(client, diga, agent="ag-1")
        second = await send_call(client, diga, agent="ag-2")
        await process(make_settings(diga.url), rules, redis_url)
        overview = (await client.get("/ui/")).text
        rule = (await client.get("/ui/rules/transfer-failed")).text
        listed = (await client.get("/ui/rules")).text
        signatures = (await client.get("/ui/signatures")).text
        call = (await client.get(f"/ui/calls/{first}")).text
    said = "2 alerts sent in 24 h; most, 2, in the hour from"
    assert '<svg class="chart"' in overview and f'aria-label="Alerts sent: {said}' in overview
    assert overview.count("<rect ") == 24
    assert f'aria-label="Alerts sent by transfer-failed: {said}' in rule
    assert rule.count("/ui/calls/") >= 2  # its latest decisions, linked to their calls
    assert 'href="/ui/history?rule=transfer-failed&amp;outcome=sent"' in listed
    assert f'href="/ui/calls/{second}"' in signatures or f'href="/ui/calls/{first}"' in signatures
    assert 'href="/ui/history?agent_id=ag-1"' in call
    assert f'href="/ui/history?call_id={first}"' in call
