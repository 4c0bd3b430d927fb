"""The operator commands: rules test (offline and against the stand-in), failed, history."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio

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
    # The default first page: the call's logs fit one page of every level, one request.
    [request] = diga.requests_for(call_id)
    assert "level" not in request["query"]


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


MISLEADING = """
destinations:
  open: json://127.0.0.1:9/open
  private: {url: "json://127.0.0.1:9/private", redact: [phone]}
rules:
  - name: rate-rule
    match: {category: TRANSFER}
    when: {rate: 0.2, within: 15m, min_calls: 40}
    notify: [open]
  - name: quiet-rule
    mode: shadow
    match: {category: TRANSFER}
    notify: [open]
  - name: both
    match: {category: TRANSFER}
    notify: [open, private]
"""


def test_rules_test_shows_what_the_service_would_do(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTER_RULES", str(write_rules(env, MISLEADING, "m.yaml")))
    call_id = str(uuid.uuid4())
    text = {"message_text": "transfer to +34 600 123 456 failed"}
    page = [make_log(call_id, data=text), make_log(call_id, level="WARNING", data=text)]
    (env / "logs.json").write_text(json.dumps(page))
    assert main(["rules", "test", "--call-id", call_id, "--logs", "logs.json"]) == 0
    out = capsys.readouterr().out
    assert f"call {call_id}: 1 ERROR/CRITICAL logs" in out  # the WARNING is not counted
    assert "1 logs of other levels ignored" in out
    rate = out.split("== rate-rule")[1].split("==")[0]
    assert "FIRES" not in rate and "counts toward its `when` window" in rate
    shadow = out.split("== quiet-rule")[1].split("==")[0]
    assert "shadow rule: recorded as would-send" in shadow and "would notify" not in shadow
    both = out.split("== both")[1]
    as_open = both.split("-- as private")[0]
    as_private = both.split("-- as private")[1].split("==")[0]
    assert "600 123 456" in as_open and "600 123 456" not in as_private, out
    assert "[phone]" in as_private


def test_rules_test_refuses_a_call_json_of_another_call(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "logs.json").write_text("[]")
    (env / "call.json").write_text(json.dumps({"call_id": str(uuid.uuid4())}))
    code = main(
        [
            "rules",
            "test",
            "--call-id",
            str(uuid.uuid4()),
            "--logs",
            "logs.json",
            "--call-json",
            "call.json",
        ]
    )
    assert code == 2
    assert "not of --call-id" in capsys.readouterr().err


def test_rules_check_env_optional_checks_the_rest(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = env / "ci-rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "destinations: {s: '${SLACK_SECRET_URL}'}\nrules:\n  - {name: r, notify: [s]}\n"
    )
    monkeypatch.delenv("SLACK_SECRET_URL", raising=False)
    assert main(["rules", "check", str(folder)]) == 1
    assert "${SLACK_SECRET_URL} is not set" in capsys.readouterr().err
    assert main(["rules", "check", "--env-optional", str(folder)]) == 0
    assert "not checked: SLACK_SECRET_URL" in capsys.readouterr().out
    (folder / "r.yaml").write_text(
        "destinations: {s: '${SLACK_SECRET_URL}'}\nrules:\n  - {name: r, notify: [s], sevrity: x}\n"
    )
    assert main(["rules", "check", "--env-optional", str(folder)]) == 1
    assert "rule 'r': unknown key 'sevrity'; did you mean 'severity'?" in capsys.readouterr().err


def test_a_refused_destination_says_why_without_its_secrets(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = env / "mail-rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "destinations: {m: 'mailtos://alerts:Pa55word99@127.0.0.1:2525?to=oncall@example.com'}\n"
        "rules:\n  - {name: r, notify: [m]}\n"
    )
    assert main(["rules", "check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "From" in err and "add from=" in err and "Pa55word99" not in err


def test_silence_add_refuses_unknown_rules_and_unitless_durations(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before any Redis is needed (none runs here).
    assert (
        main(["silence", "add", "--rule", "transfer-faild", "--for", "1h", "--comment", "x"]) == 2
    )
    assert "no rule 'transfer-faild'; did you mean 'transfer-failed'?" in capsys.readouterr().err
    assert (
        main(["silence", "add", "--rule", "transfer-failed", "--for", "90", "--comment", "x"]) == 2
    )
    assert "give a unit" in capsys.readouterr().err
    assert main(["silence", "add", "--match", "agent_id=~(", "--for", "1h", "--comment", "x"]) == 2
    assert "bad regular expression" in capsys.readouterr().err
    backreference = r"agent_id=~(a)\1"
    assert main(["silence", "add", "--match", backreference, "--for", "1h", "--comment", "x"]) == 2
    assert "no backreferences" in capsys.readouterr().err
    long = ["silence", "add", "--rule", "transfer-failed", "--for", "91d", "--comment", "x"]
    assert main(long) == 2
    assert "at most 90 days from now" in capsys.readouterr().err


async def test_silence_add_warns_on_a_field_nothing_carries(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    monkeypatch.setenv("REDIS_URL", redis_url)
    args = ["silence", "add", "--match", "agnet_id!=ag-1", "--for", "2h", "--comment", "x"]
    assert await asyncio.to_thread(main, args) == 0
    said = capsys.readouterr()
    assert "no rule uses the field 'agnet_id'" in said.err and "silence " in said.out
    assert await asyncio.to_thread(main, ["silence", "list"]) == 0
    assert "agnet_id!=ag-1" in capsys.readouterr().out


async def test_history_is_a_table_on_a_terminal_and_json_when_piped(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import sys

    from alerter.models import Outcome

    monkeypatch.setenv("REDIS_URL", redis_url)
    call_id = str(uuid.uuid4())
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await State(client).record(
            call_id, Outcome.RETRYING, detail="Diga answered 404 CALL_NOT_FOUND; again in 10 s"
        )
    assert await asyncio.to_thread(main, ["history", "--call-id", call_id, "--since", "1h"]) == 0
    [line] = capsys.readouterr().out.splitlines()  # piped: one JSON object a line
    assert json.loads(line)["outcome"] == "retrying"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert await asyncio.to_thread(main, ["history", "--call-id", call_id]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["at", "outcome", "rule"]
    assert "retrying" in row and "404 CALL_NOT_FOUND" in row and call_id in row
    assert await asyncio.to_thread(main, ["history", "--call-id", call_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["call_id"] == call_id
    assert await asyncio.to_thread(main, ["history", "--since", "soon"]) == 2


async def test_cli_changes_are_audited_with_their_actor(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from alerter.store.audit import Audit
    from alerter.store.silences import Silences

    monkeypatch.setenv("REDIS_URL", redis_url)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # what getpass.getuser reads first
        monkeypatch.setenv(name, "ana")
    add = ["silence", "add", "--rule", "transfer-failed", "--for", "2h", "--comment", "deploy"]
    assert await asyncio.to_thread(main, add) == 0
    silence_id = capsys.readouterr().out.split()[1]
    expire = ["silence", "expire", silence_id, "--as", "bob@ops"]
    assert await asyncio.to_thread(main, expire) == 0
    call = CallEnded(call_id=str(uuid.uuid4()), fields={})
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        await State(client).record_failure(call, "diga_auth", "Diga answered 401", 1)
    assert await asyncio.to_thread(main, ["failed", "retry", call.call_id, "--as", "carl"]) == 0
    token = ["console", "token", "add", "grafana", "--role", "viewer"]
    assert await asyncio.to_thread(main, token) == 0
    assert await asyncio.to_thread(main, ["notify", "test", "ops", "--as", "dana"]) == 1
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        entries = list(reversed(await Audit(client).latest()))
        made = await Silences(client).get(silence_id)
    assert [(e.who, e.action, e.target) for e in entries] == [
        ("cli:ana", "silence.create", silence_id),
        ("bob@ops", "silence.expire", silence_id),
        ("carl", "failed.retry", call.call_id),
        ("cli:ana", "token.add", "grafana"),
        ("dana", "destination.test", "ops"),
    ]
    assert (
        entries[0].detail["rule"] == "transfer-failed" and entries[0].detail["comment"] == "deploy"
    )
    assert made is not None and made.created_by == "cli:ana"


def test_notify_test_goes_out_unaudited_when_redis_is_down(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from alerter.store.embedded import free_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert main(["notify", "test", "ops"]) == 1  # sent (and refused by the closed port)
    said = capsys.readouterr()
    assert "ops: FAILED" in said.out and "not audited" in said.err


async def test_a_command_reads_the_one_clock_its_main_was_given(
    env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A silence's start and end, its audit entry and whether `silence list` calls it active
    all come from the clock `main` passes down, not from the system clock."""
    import asyncio

    from alerter.store.audit import Audit
    from alerter.store.silences import Silences
    from tests.kit.clock import DrivenClock

    monkeypatch.setenv("REDIS_URL", redis_url)
    clock = DrivenClock(2_000_000_000.0)  # years ahead: Redis keeps the silence past it
    comment = f"clock-{uuid.uuid4().hex[:6]}"
    add = ["silence", "add", "--rule", "transfer-failed", "--for", "2h", "--comment", comment]
    assert await asyncio.to_thread(main, add, clock) == 0
    silence_id = capsys.readouterr().out.split()[1]
    async with redis.asyncio.Redis.from_url(redis_url) as client:
        made = await Silences(client).get(silence_id)
        [entry] = [e for e in await Audit(client).latest() if e.target == silence_id]
    assert made is not None and (made.starts, made.ends) == (clock.now, clock.now + 7200)
    assert entry.at == clock.now
    assert await asyncio.to_thread(main, ["silence", "list", "--all"], clock) == 0
    assert f"{silence_id}  active" in capsys.readouterr().out
    clock.advance(7201)
    assert await asyncio.to_thread(main, ["silence", "list", "--all"], clock) == 0
    assert f"{silence_id}  expired" in capsys.readouterr().out
