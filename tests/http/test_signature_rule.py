"""A rule from a failure signature, on real servers: the API's YAML passes `rules check`
beside the rules in force, and its backtest counts the calls that made the signature; the
console's **Create rule…** page shows it with **Backtest**."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alerter.cli import main
from alerter.models import parse_logs
from alerter.rules.signatures import signature
from tests.conftest import make_settings, write_rules
from tests.http.console_kit import (
    RULES,
    console_rules,
    csrf_of,
    process,
    send_call,
    signed_in,
    token,
)
from tests.standins import DigaStandIn, Receiver, make_log


def failing(text: str) -> list[dict[str, Any]]:
    return [make_log("x", data={"message_text": text})]


async def test_a_rule_from_a_signature_checks_and_backtests_the_calls_that_made_it(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = console_rules(tmp_path, hook)
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    async with httpx.AsyncClient(base_url=api.url) as client:
        for n in range(3):  # one kind of failure, three callers
            await send_call(client, diga, logs=failing(f"transfer to +34 600 00{n} failed"))
        for reason in ("sip trunk 503 from carrier", "tts vendor timeout"):  # other kinds
            await send_call(client, diga, logs=failing(reason))
    settings = make_settings(diga.url)
    await process(settings, rules, redis_url)
    sig = signature(parse_logs(failing("transfer to +34 600 001 failed"))[0])
    viewer = {"Authorization": f"Bearer {await token(redis_url, 'ana', 'viewer')}"}
    async with httpx.AsyncClient(base_url=api.url, headers=viewer) as client:
        answer = await client.get(f"/api/v1/signatures/{sig.digest}/rule")
        missing = await client.get("/api/v1/signatures/0000000000000000/rule")
    assert answer.status_code == 200, answer.text
    assert missing.status_code == 404 and missing.json()["error_code"] == "SIGNATURE_NOT_FOUND"
    text = answer.json()["yaml"]
    (rule,) = yaml.safe_load(text)["rules"]
    # The API's Backtest takes it as it is: beside the rules in force.
    operator = {"Authorization": f"Bearer {await token(redis_url, 'ops-api', 'operator')}"}
    async with httpx.AsyncClient(base_url=api.url, headers=operator, timeout=30) as client:
        backtested = await client.post(
            "/api/v1/rules/backtest", json={"since": "1h", "rules": text}
        )
    assert backtested.status_code == 200, backtested.text
    (replayed,) = backtested.json()["rules"]
    assert sum(day["matched"] for day in replayed["days"]) == 3
    assert rule["mode"] == "shadow" and rule["notify"] == ["hook"]
    # Beside the rules in force, as a file of its own.
    folder = write_rules(tmp_path, RULES.format(port=hook.httpd.server_address[1]))
    (folder / "from-signature.yaml").write_text(text)
    for name in ("REDIS_URL", "DIGA_API_URL", "DIGA_API_KEY", "ALERTER_RULES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERTER_RULES", str(folder))
    assert main(["rules", "check"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DIGA_API_URL", diga.url)
    monkeypatch.setenv("DIGA_API_KEY", settings.diga_api_key.get_secret_value())
    argv = ["rules", "backtest", "--rule", rule["name"], "--since", "1h", "--json"]
    assert await asyncio.to_thread(main, argv) == 0
    report = yaml.safe_load(capsys.readouterr().out)
    (result,) = report["rules"]
    assert sum(day["matched"] for day in result["days"]) == 3  # the calls that made it
    # The console: Create rule… on the signatures page, the rule with Backtest.
    secret = await token(redis_url, "ops", "operator")
    async with signed_in(api.url, secret) as browser:
        listing = await browser.get("/ui/signatures")
        assert f"/ui/signatures/{sig.digest}/rule" in listing.text
        shown = await browser.get(f"/ui/signatures/{sig.digest}/rule")
        assert shown.status_code == 200 and "Backtest" in shown.text
        replayed = await browser.post(
            f"/ui/signatures/{sig.digest}/rule/backtest",
            data={"yaml": text, "since": "1h", "_csrf_token": csrf_of(shown.text)},
        )
    assert replayed.status_code == 200, replayed.text
    assert "<tfoot><tr><th>total</th><td>3</td>" in replayed.text  # of the five calls
