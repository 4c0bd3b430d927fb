"""The backtest on real servers: calls accepted and processed by the real api and worker,
then candidate rules replayed on them from the CLI, the JSON API and the console, with
logs fetched from the Diga stand-in at the given rate. Nothing is sent, nothing written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from alerter.cli.main import main as cli_main
from alerter.replay.backtest import MAX_SECONDS, BacktestBusy, BacktestGate
from alerter.rules.model import RuleSet
from tests.conftest import DIGA_KEY, ApiServer, make_settings
from tests.http.console_kit import console_rules, csrf_of, process, send_call, signed_in, token
from tests.standins import DigaStandIn, Receiver

CANDIDATES = """
destinations:
  hook: json://127.0.0.1/never-used
rules:
  - name: transfer-burst
    match: {category: TRANSFER}
    group_by: [agent_id]
    when: {count: 3, within: 1h}
    notify: [hook]
  - name: transfer-throttled
    match: {category: TRANSFER}
    repeat_interval: 1h
    notify: [hook]
"""


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return console_rules(tmp_path, hook)


async def snapshot(redis_url: str) -> dict[bytes, bytes | None]:
    """Every key and its serialized value: what a backtest must leave as it found."""
    async with aioredis.Redis.from_url(redis_url) as client:
        keys = [key async for key in client.scan_iter(count=1000)]
        return {key: await client.dump(key) for key in keys}


async def six_calls(
    api: ApiServer, diga: DigaStandIn, rules: RuleSet, redis_url: str, hook: Receiver
) -> list[str]:
    """Calls through the real pipeline: four of ag-1 and one of ag-2 fail a transfer, one of
    ag-3 has no error. The rule in force alerts on each failing call."""
    async with httpx.AsyncClient(base_url=api.url) as client:
        ids = [await send_call(client, diga, agent="ag-1") for _ in range(4)]
        ids.append(await send_call(client, diga, agent="ag-2"))
        ids.append(await send_call(client, diga, agent="ag-3", logs=[]))
    await process(make_settings(diga.url), rules, redis_url)
    assert len(hook.wait_for(5)) == 5
    return ids


def record_sends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """(monotonic time, call id) of each Diga logs request as the HTTP client sends it."""
    sent_at: list[tuple[float, str]] = []
    send = httpx.AsyncClient.send

    async def recording_send(
        client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        if "/v1/log/call/" in request.url.path:
            sent_at.append((time.monotonic(), request.url.path.rsplit("/", 1)[-1]))
        return await send(client, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", recording_send)
    return sent_at


async def test_the_cli_replays_candidate_rules_at_the_rate_and_writes_nothing(
    tmp_path: Path,
    rules: RuleSet,
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = await six_calls(api_for(rules), diga, rules, redis_url, hook)
    candidates = tmp_path / "candidates.yaml"
    candidates.write_text(CANDIDATES)
    for name, value in (("REDIS_URL", redis_url), ("DIGA_API_URL", diga.url)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIGA_API_KEY", DIGA_KEY)
    sent_at = record_sends(monkeypatch)
    before = await snapshot(redis_url)
    argv = ["rules", "backtest", str(candidates), "--since", "1h", "--rate", "20/s"]
    assert await asyncio.to_thread(cli_main, argv) == 0
    out = capsys.readouterr().out
    assert await snapshot(redis_url) == before  # no counter, history or story touched
    assert len(hook.received) == 5  # and nothing sent
    assert "backtest: 6 calls" in out and "logs fetched for 6" in out
    burst = out.split("transfer-burst", 1)[1].split("transfer-throttled", 1)[0]
    day_line = next(line for line in burst.splitlines() if line.strip()[:4].isdigit())
    # five calls matched, one alert (the third of ag-1), ag-1 the top group
    assert day_line.split()[1:3] == ["5", "1"], day_line
    assert "below_threshold 4" in day_line and "agent_id=ag-1 (4)" in day_line
    throttled = out.split("transfer-throttled", 1)[1]
    assert "throttled 4" in throttled and "total" in throttled
    # Fetches went out no faster than 20 calls a second. Timed as the client sent them: the
    # stand-in's arrival times bunch when its accepts of new connections lag on a busy machine.
    # The limiter schedules each start an interval after the one before, so a start that a
    # busy machine delays can sit close to the next: the span over all six is what holds.
    firsts = sorted(min(at for at, call_id in sent_at if call_id == i) for i in ids)
    assert firsts[-1] - firsts[0] >= 0.9 * (len(firsts) - 1) / 20, firsts

    only = ["rules", "backtest", str(candidates), "--since", "1h", "--rule", "transfer-burst"]
    assert await asyncio.to_thread(cli_main, [*only, "--json"]) == 0
    report = capsys.readouterr().out
    assert '"rule": "transfer-burst"' in report and "transfer-throttled" not in report
    assert await asyncio.to_thread(cli_main, [*only[:-1], "nope"]) == 2
    assert "no rule 'nope'" in capsys.readouterr().err


async def test_the_api_and_the_console_backtest_for_operators(
    rules: RuleSet,
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
    api_for: Callable[..., ApiServer],
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    await six_calls(api, diga, rules, redis_url, hook)
    operator = await token(redis_url, "olga", "operator")
    viewer = await token(redis_url, "vera", "viewer")
    auth = {"Authorization": f"Bearer {operator}"}
    async with httpx.AsyncClient(base_url=api.url, headers=auth, timeout=30) as client:
        answer = await client.post(
            "/api/v1/rules/backtest", json={"since": "1h", "rules": CANDIDATES, "rate": "50/s"}
        )
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        assert (report["calls"], report["fetched"], report["unfetched"]) == (6, 6, 0)
        burst = next(r for r in report["rules"] if r["rule"] == "transfer-burst")
        assert (burst["matched"], burst["alerts"]) == (5, 1)
        assert burst["days"][0]["top_groups"][0] == {"group": "agent_id=ag-1", "calls": 4}
        in_force = await client.post("/api/v1/rules/backtest", json={"since": "1h"})
        assert [(r["rule"], r["alerts"]) for r in in_force.json()["rules"]] == [
            ("transfer-failed", 5)
        ]
        bad = await client.post("/api/v1/rules/backtest", json={"since": "soon"})
        assert bad.status_code == 422 and bad.json()["error_code"] == "INVALID_SINCE"
        broken = await client.post(
            "/api/v1/rules/backtest", json={"rules": "rules:\n  - name: x\n    notify: [nope]\n"}
        )
        assert broken.status_code == 422 and "line 3" in broken.json()["message"]
        audit = (await client.get("/api/v1/audit")).json()["entries"]
        assert [e["action"] for e in audit].count("rules.backtest") == 2
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {viewer}"}
    ) as client:
        refused = await client.post("/api/v1/rules/backtest", json={"since": "1h"})
        assert refused.status_code == 403
    async with signed_in(api.url, operator) as browser:
        page = await browser.get("/ui/rules/transfer-failed")
        assert ">Backtest</button>" in page.text
        result = await browser.post(
            "/ui/rules/transfer-failed/backtest",
            data={"since": "1h", "max_calls": "100", "_csrf_token": csrf_of(page.text)},
        )
        assert result.status_code == 200, result.text
        assert "alerts that would have been sent" in result.text
        assert "<td>5</td><td>5</td>" in result.text  # matched 5, sent 5
    assert len(hook.received) == 5


async def test_the_gate_lets_one_backtest_in_and_says_when_to_come_back() -> None:
    now = [1000.0]
    gate = BacktestGate(clock=lambda: now[0])
    async with gate.slot():
        now[0] += 30
        with pytest.raises(BacktestBusy) as busy:
            async with gate.slot():
                pass
        assert busy.value.retry_after == MAX_SECONDS - 30
    async with gate.slot():  # free again, failed or not
        pass


def test_the_cli_refuses_a_rate_over_50_a_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidates = tmp_path / "candidates.yaml"
    candidates.write_text(CANDIDATES)
    argv = ["rules", "backtest", str(candidates), "--since", "1h", "--rate", "100000/s"]
    assert cli_main(argv) == 2
    assert "faster than 50/s" in capsys.readouterr().err
