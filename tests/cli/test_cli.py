"""The operator commands: rules test (offline and against the stand-in), failed, history."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis

from alerter.cli import main
from alerter.models import CallEnded
from alerter.store.state import State
from tests.conftest import DIGA_KEY, write_rules
from tests.standins import DigaStandIn, make_log

RULES = """
destinations:
  ops: json://user:hooksecret@127.0.0.1:9/x
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [ops]
  - name: two-agent-errors
    match: {category: AGENT}
    min_matches: 2
    notify: [ops]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("REDIS_URL", "DIGA_API_URL", "DIGA_API_KEY", "ALERTER_RULES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALERTER_RULES", str(write_rules(tmp_path, RULES)))
    return tmp_path


def test_rules_test_offline_with_saved_logs(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_id = str(uuid.uuid4())
    page = {
        "data": [make_log(call_id), make_log(call_id, category="AGENT", event="llm")],
        "has_more": False,
    }
    (env / "logs.json").write_text(json.dumps(page))
    (env / "call.json").write_text(
        json.dumps({"event": "call.ended", "call": {"id": call_id, "agent_id": "ag-9"}})
    )
    code = main(
        ["rules", "test", "--call-id", call_id, "--logs", "logs.json", "--call-json", "call.json"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "transfer-failed: 1 matching logs (min_matches 1) → FIRES" in out
    assert "two-agent-errors: 1 matching logs (min_matches 2) → below min_matches" in out
    assert "would notify: ops" in out and "agent_id: ag-9" in out
    assert "hooksecret" not in out


def test_rules_test_fetches_from_diga(
    env: Path,
    diga: DigaStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    monkeypatch.setenv("DIGA_API_URL", diga.url)
    monkeypatch.setenv("DIGA_API_KEY", DIGA_KEY)
    assert main(["rules", "test", "--call-id", call_id]) == 0
    captured = capsys.readouterr()
    assert "transfer-failed" in captured.out and DIGA_KEY not in captured.out + captured.err
    assert len(diga.requests_for(call_id)) == 2


def test_rules_test_reports_diga_errors(
    env: Path,
    diga: DigaStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DIGA_API_URL", diga.url)
    monkeypatch.setenv("DIGA_API_KEY", DIGA_KEY)
    assert main(["rules", "test", "--call-id", str(uuid.uuid4())]) == 2
    assert "CALL_NOT_FOUND" in capsys.readouterr().err
    assert main(["rules", "test", "--call-id", "nope"]) == 2


async def test_failed_list_and_retry(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    call = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "a"})
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await State(client).record_failure(call, "diga_auth", "Diga answered 401", 1)
    import asyncio

    code = await asyncio.to_thread(main, ["failed", "list"])
    assert code == 0 and call.call_id in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["failed", "retry", call.call_id]) == 0
    assert f"queued {call.call_id}" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["failed", "list"]) == 0
    assert "no failed calls" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["history", "--call-id", call.call_id]) == 0
    assert '"outcome": "failed"' in capsys.readouterr().out


def test_state_commands_without_redis_say_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["failed", "list"]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
    assert main(["worker"]) == 2


def test_terminal_output_never_carries_control_sequences() -> None:
    from alerter.cli.common import terminal_safe

    hostile = "ok\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x9b1m\rhidden\nnext\x00"
    single = terminal_safe(hostile)
    assert "\x1b" not in single and "\x07" not in single and "\x9b" not in single
    assert "\r" not in single and "\n" not in single and "\x00" not in single
    assert "ok" in single and "red" in single and "next" in single
    assert "\n" in terminal_safe(hostile, lines=True)
