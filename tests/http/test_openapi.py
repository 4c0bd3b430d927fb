"""The api against its own `/openapi.json`, by schemathesis: every operation (the webhook, the
probes and the whole JSON API, with an operator's token), valid and invalid input, checked for
server errors and for answers off their documented schema. Bounded to a few examples per
operation so `make test` stays quick; the README says how to run it longer.

Each found failure is a bug in the api or in its document: fix the one that is wrong."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from alerter.models import CallEnded
from alerter.store.console_auth import ConsoleAuth
from alerter.store.state import State
from tests.conftest import ApiServer, make_settings, rules_from
from tests.standins import DigaStandIn, make_log

RULES = """
destinations: {d: 'json://127.0.0.1:9/x'}
rules:
  - {name: r, notify: [d], match: {category: TRANSFER}}
"""
# ALERTER_FUZZ_EXAMPLES=500 for a longer run (README, "Checking the API contract").
EXAMPLES = int(os.environ.get("ALERTER_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_api(
    tmp_path_factory: pytest.TempPathFactory, redis_server: str
) -> Iterator[tuple[ApiServer, dict[str, str], DigaStandIn]]:
    diga = DigaStandIn(api_key="key")
    diga.start()
    rules = rules_from(tmp_path_factory.mktemp("rules"), RULES)
    settings_ = make_settings(diga.url, DIGA_API_KEY="key", ALERTER_CONSOLE_AUTH="token")
    server = ApiServer(settings_, redis_server, rules)
    server.start()

    async def operator_token() -> str:
        client = aioredis.Redis.from_url(redis_server)
        try:
            return await ConsoleAuth(client).add_token("fuzzer", "operator")
        finally:
            await client.aclose()

    headers = {"Authorization": f"Bearer {asyncio.run(operator_token())}"}
    yield server, headers, diga
    server.stop()
    diga.stop()


def seeds(api: ApiServer, headers: dict[str, str], diga: DigaStandIn) -> dict[str, list[Any]]:
    """Valid requests, one or two per operation, on real state (a failed call, a processed
    call, a silence), so the success answers are checked against their schemas too: random
    input rarely names a rule or a silence that exists."""
    failed_id, ended_id = str(uuid.uuid4()), str(uuid.uuid4())
    diga.add_call(ended_id, [make_log(ended_id)])

    async def state() -> None:
        client = aioredis.Redis.from_url(api.redis_url)
        try:
            call = CallEnded(call_id=failed_id, fields={"agent_id": "a"})
            await State(client).record_failure(call, "diga_auth", "Diga answered 401", 1)
        finally:
            await client.aclose()

    asyncio.run(state())
    with httpx.Client(base_url=api.url, headers=headers, timeout=10) as client:
        made = client.post(
            "/api/v1/silences",
            json={"rule": "r", "matchers": {"agent_id": "a"}, "comment": "x", "duration": "1h"},
        )
        client.post("/webhooks/diga", json={"event": "call.ended", "call_id": ended_id})
    silence = {"silence_id": made.json()["id"]}
    body = {"rule": None, "matchers": ["agent_id=~a.*"], "comment": "c", "ends_at": "2h"}
    return {
        "GET /api/v1/calls/{call_id}": [{"path_parameters": {"call_id": failed_id}}],
        "GET /api/v1/history": [{"query": {"since": "1h", "limit": 5}}, {"query": {}}],
        "POST /api/v1/silences": [
            {"body": {"rule": "r", "comment": "deploy", "duration": "2h"}},
            {"body": body | {"ends_at": time.time() + 3600}},
        ],
        "POST /api/v1/silences/preview": [
            {"body": {"matchers": {"agent_id": "a"}, "duration": "1h"}}
        ],
        "GET /api/v1/silences/{silence_id}": [{"path_parameters": silence}],
        "POST /api/v1/silences/{silence_id}/extend": [
            {"path_parameters": silence, "body": {"duration": "1h"}}
        ],
        "DELETE /api/v1/silences/{silence_id}": [{"path_parameters": silence}],
        "POST /api/v1/rules/{name}/test": [
            {"path_parameters": {"name": "r"}, "body": {"call_id": ended_id}},
            {"path_parameters": {"name": "r"}, "body": {"logs": [make_log(ended_id)]}},
        ],
        "POST /api/v1/rules/backtest": [{"body": {"since": "1h", "rate": "50/s"}}],
        "GET /api/v1/signatures": [{"query": {"since": "2d"}}],
        "POST /api/v1/failed/{call_id}/retry": [{"path_parameters": {"call_id": failed_id}}],
        "POST /api/v1/destinations/{name}/test": [{"path_parameters": {"name": "d"}}],
        "GET /api/v1/audit": [{"query": {"limit": 3}}],
        "POST /webhooks/diga": [
            {"body": {"type": "call_ended", "data": {"id": str(uuid.uuid4()), "duration": 3}}},
            {"body": {"event": "call.started", "call": {"id": str(uuid.uuid4())}}},
        ],
    }


def bounded(case: schemathesis.Case) -> None:
    """A backtest fetches each recorded call's logs at the rate asked: a fuzzer's `0.001/s`
    would be a legitimately slow request (up to its time limit), not a bug; keep it quick."""
    if case.operation.label == "POST /api/v1/rules/backtest" and isinstance(case.body, dict):
        case.body["rate"] = "50/s"
        case.body["max_calls"] = 3


def test_every_operation_keeps_to_its_document(
    fuzzed_api: tuple[ApiServer, dict[str, str], DigaStandIn],
) -> None:
    api, headers, diga = fuzzed_api
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert "POST /webhooks/diga" in labels and "POST /api/v1/silences" in labels
    assert len([label for label in labels if " /api/v1/" in label]) >= 19
    failures: list[str] = []
    seeded = seeds(api, headers, diga)
    for operation in operations:
        for given_ in seeded.pop(operation.label, []):
            try:
                case = operation.Case(**given_)
                case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS)
            except Exception as exc:  # a valid request answered off its schema
                failures.append(f"{operation.label} with {given_}: {str(exc)[:1500]}")
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=strategy)
        def conforms(case: schemathesis.Case) -> None:
            bounded(case)
            case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS)

        try:
            conforms()
        except Exception as exc:  # one line per operation that broke its contract
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not seeded, f"seeds for operations not in the document: {list(seeded)}"
    assert not failures, "\n\n".join(failures)


def test_the_document_is_served_once_and_has_no_console_pages(
    fuzzed_api: tuple[ApiServer, dict[str, str], DigaStandIn],
) -> None:
    api = fuzzed_api[0]
    with httpx.Client(base_url=api.url) as client:
        doc: dict[str, Any] = client.get("/openapi.json").json()
        assert client.get("/schema/openapi.json").status_code == 404
        assert client.get("/openapi.json/openapi.json").json() == doc
    assert not [path for path in doc["paths"] if path.startswith("/ui")]
    assert {"/health", "/ready", "/metrics", "/webhooks/diga"} <= set(doc["paths"])
