"""No secret (Diga key, webhook secret, destination URLs and passwords) in any log line,
answer, metric or command output, across a full pipeline and its failure paths."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from alerter.cli import main
from alerter.http.webhook_auth import sign
from alerter.store import keys
from tests.conftest import ApiServer, SmtpSink, make_settings, rules_from, run_worker_until_idle
from tests.standins import DigaStandIn, Fault, Receiver, make_log

DIGA_SECRET = "dk_live_ZX81secretDIGAkey"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"SIGNINGsecretZX81").decode()
SLACK_TOKEN = "slackTOKENzx81secret"
SMTP_PASSWORD = "smtpPASSzx81"
SECRETS = [DIGA_SECRET, WEBHOOK_SECRET, "SIGNINGsecretZX81", SLACK_TOKEN, SMTP_PASSWORD]

RULES = """
destinations:
  slack-ops: ${SLACK_URL}
  mail: ${MAIL_URL}
  broken: json://user:${SMTP_PASS}@127.0.0.1:9/nowhere
rules:
  - name: transfer-failed
    match: {category: TRANSFER}
    notify: [slack-ops, mail, broken]
"""


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked in {where}"


async def test_no_secret_anywhere(
    tmp_path: Path,
    redis_url: str,
    diga: DigaStandIn,
    slack: Receiver,
    smtp: tuple[SmtpSink, int],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, port = smtp
    env = {
        "SLACK_URL": f"slack://T0ALERTER/B0ALERTER/{SLACK_TOKEN}",
        "MAIL_URL": f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:{port}?to=o@example.com&from=a@example.com",
        "SMTP_PASS": SMTP_PASSWORD,
    }
    rules = rules_from(tmp_path, RULES, env)
    diga.api_key = DIGA_SECRET
    settings = make_settings(
        diga.url, DIGA_API_KEY=DIGA_SECRET, ALERTER_WEBHOOK_SECRET=WEBHOOK_SECRET
    )
    api = ApiServer(settings, redis_url, rules)
    api.start()
    answers: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=api.url) as client:
            ok_call, fail_call, auth_call = (str(uuid.uuid4()) for _ in range(3))
            diga.add_call(ok_call, [make_log(ok_call)])
            diga.add_call(fail_call, [make_log(fail_call)])
            for call_id in (ok_call, fail_call):
                body = json.dumps({"event": "call.ended", "call_id": call_id}).encode()
                signed = {
                    "webhook-id": "m",
                    "webhook-timestamp": str(int(__import__("time").time())),
                }
                signed["webhook-signature"] = sign(
                    WEBHOOK_SECRET, "m", int(signed["webhook-timestamp"]), body
                )
                answer = await client.post(
                    "/webhooks/diga",
                    content=body,
                    headers={"Content-Type": "application/json", **signed},
                )
                answers.append(answer.text)
            # Refused requests, including one quoting the secret wrongly.
            for headers in ({}, {"Authorization": f"Bearer {WEBHOOK_SECRET}x"}):
                answers.append((await client.post("/webhooks/diga", json={}, headers=headers)).text)
            # Slack keeps failing for fail_call... and the first call too: all in one run.
            slack.inject(*[Fault(500, {"error": "x"})] * 3)
            diga.inject(
                Fault(401, {"status": "error", "error_code": "UNAUTHORIZED", "message": "bad key"})
            )
            await run_worker_until_idle(settings, rules, redis_url)
            await client.post(
                "/webhooks/diga",
                json={"call_id": auth_call},
                headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
            )
            await run_worker_until_idle(
                make_settings(diga.url, DIGA_API_KEY=DIGA_SECRET + "-wrong"), rules, redis_url
            )
            for path in ("/metrics", "/ready", "/health", "/nowhere"):
                answers.append((await client.get(path)).text)
    finally:
        api.stop()

    assert slack.received  # the pipeline really ran
    for name, value in {**env, "DIGA_API_KEY": DIGA_SECRET, "REDIS_URL": redis_url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALERTER_RULES", str(tmp_path / "rules"))
    monkeypatch.setenv("DIGA_API_URL", diga.url)
    import asyncio

    for argv in (
        ["failed", "list"],
        ["history"],
        ["rules", "check"],
        ["rules", "test", "--call-id", ok_call],
    ):
        await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    with redis.Redis.from_url(redis_url) as client:
        stored = json.dumps([str(v) for v in client.hgetall(keys.FAILED).values()])
        stored += json.dumps([str(e) for e in client.xrange(keys.HISTORY)])

    assert_clean("\n".join(answers), "HTTP answers")
    assert_clean(captured.out + captured.err, "command output")
    assert_clean(stored, "Redis history and failures")
    assert_clean("\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records), "logs")
