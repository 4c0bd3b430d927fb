"""What the console tests share: rules with a grouped rule and a JSON hook, a way to run a
call through the real pipeline, tokens, and a signed-in browser-like client."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from alerter.rules.model import RuleSet
from alerter.settings import Settings
from alerter.store import connect
from alerter.store.console_auth import ConsoleAuth
from tests.conftest import rules_from, run_worker_until_idle
from tests.standins import DigaStandIn, Receiver, make_log

RULES = """
destinations:
  hook: json://127.0.0.1:{port}/hooks/secret-path-4f2a
rules:
  - name: transfer-failed
    description: Transfers to a human that failed
    match: {{category: TRANSFER}}
    group_by: [agent_id]
    notify: [hook]
"""


def console_rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return rules_from(tmp_path, RULES.format(port=hook.httpd.server_address[1]))


async def send_call(
    client: httpx.AsyncClient,
    diga: DigaStandIn,
    *,
    agent: str = "ag-1",
    logs: list[dict[str, Any]] | None = None,
    fields: dict[str, Any] | None = None,
) -> str:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, logs if logs is not None else [make_log(call_id)])
    body = {"event": "call.ended", "call_id": call_id, "agent_id": agent, **(fields or {})}
    answer = await client.post("/webhooks/diga", json=body)
    assert answer.status_code == 202, answer.text
    return call_id


async def process(settings: Settings, rules: RuleSet, redis_url: str) -> None:
    await run_worker_until_idle(settings, rules, redis_url)


async def token(redis_url: str, name: str, role: str) -> str:
    async with connect.client(redis_url) as redis:
        return await ConsoleAuth(redis).add_token(name, role)


def csrf_of(page: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@asynccontextmanager
async def signed_in(base_url: str, secret: str) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client signed in at /ui/login, as a browser would."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        login = await client.get("/ui/login")
        answer = await client.post(
            "/ui/login",
            data={"token": secret, "next": "/ui/", "_csrf_token": csrf_of(login.text)},
        )
        assert answer.status_code == 303, answer.text
        yield client


# A silence as the API takes it, and as the console's form does.
SILENCE = {"rule": "transfer-failed", "matchers": {"agent_id": "a"}, "duration": "1h"}
SILENCE_JSON = {**SILENCE, "comment": "deploy"}
SILENCE_FORM = {"rule": "transfer-failed", "comment": "deploy", "duration": "1h"}


def cookie_of(answer: httpx.Response) -> dict[str, str]:
    """The cookie an answer sets, as a request header (a Secure cookie, which httpx keeps
    off plain http, as the proxy in front would pass it)."""
    return {"Cookie": answer.headers["set-cookie"].split(";", 1)[0]}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> str:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"status", "error_code", "message"} and body["status"] == "error"
    assert code is None or body["error_code"] == code, body
    message: str = body["message"]
    return message
