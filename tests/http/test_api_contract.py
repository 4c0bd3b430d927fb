"""The JSON API as a contract (DESIGN.md): wrong types are refused with 422 in the error shape,
never a 500 and never a wider action than asked; call ids are UUIDs; 405 names what is
allowed; `/openapi.json` describes every `/api/v1` route with the bearer scheme."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerter.rules.model import RuleSet
from tests.conftest import ApiServer
from tests.http.console_kit import console_rules, token
from tests.standins import Receiver

pytestmark = pytest.mark.usefixtures("redis_url")


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return console_rules(tmp_path, hook)


@pytest.fixture
def api(api_for: Callable[..., ApiServer], rules: RuleSet) -> ApiServer:
    return api_for(rules, ALERTER_CONSOLE_AUTH="token")


@pytest.fixture
async def client(api: ApiServer, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A script with an operator's token (no cookie, so no CSRF token needed)."""
    secret = await token(redis_url, "olga", "operator")
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=10) as client:
        yield client


def assert_error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"status", "error_code", "message"} and body["status"] == "error"
    assert body["error_code"].isupper() and body["message"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/silences", "/api/v1/silences/preview"])
@pytest.mark.parametrize("rule", [["transfer-failed"], {"name": "transfer-failed"}])
async def test_a_rule_that_is_a_list_or_an_object_is_422_not_500(
    client: httpx.AsyncClient, path: str, rule: object
) -> None:
    body = {"rule": rule, "matchers": {"agent_id": "ag-1"}, "comment": "x", "duration": "1h"}
    assert_error(await client.post(path, json=body), 422)


@pytest.mark.parametrize("rule", [[], "", False, 0, {}])
async def test_a_rule_of_no_use_never_silences_every_rule(
    client: httpx.AsyncClient, rule: object
) -> None:
    body = {"rule": rule, "matchers": {"agent_id": "ag-1"}, "comment": "x", "duration": "1h"}
    assert_error(await client.post("/api/v1/silences", json=body), 422)
    assert (await client.get("/api/v1/silences")).json() == {"silences": []}


async def test_a_null_rule_with_matchers_still_silences_every_rule(
    client: httpx.AsyncClient,
) -> None:
    body = {"rule": None, "matchers": {"agent_id": "ag-1"}, "comment": "x", "duration": "1h"}
    made = await client.post("/api/v1/silences", json=body | {"created_by": "mallory"})
    assert made.status_code == 201, made.text
    assert made.json()["rule"] is None and made.json()["matchers"] == {"agent_id": "ag-1"}
    assert made.json()["created_by"] == "olga"


@pytest.mark.parametrize("extra", [{"rules": "transfer-failed"}, {"rule_name": "x"}])
async def test_a_silence_body_with_a_field_it_does_not_take_is_refused(
    client: httpx.AsyncClient, extra: dict[str, str]
) -> None:
    body = {"matchers": {"agent_id": "ag-1"}, "comment": "x", "duration": "1h"} | extra
    assert_error(await client.post("/api/v1/silences", json=body), 422)
    assert (await client.get("/api/v1/silences")).json() == {"silences": []}


@pytest.mark.parametrize("query", ["since=21000d", "since=99999999999999999999d"])
async def test_history_since_before_all_that_is_kept_reads_it_all(
    client: httpx.AsyncClient, query: str
) -> None:
    answer = await client.get(f"/api/v1/history?{query}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"entries": [], "next": None}


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "limit=1001", "since=1y", "since=[]"])
async def test_history_parameters_of_the_wrong_kind_are_422(
    client: httpx.AsyncClient, query: str
) -> None:
    assert_error(await client.get(f"/api/v1/history?{query}"), 422)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/calls/not-a-uuid", None),
        ("GET", "/api/v1/calls/%2E%2E", None),
        ("POST", "/api/v1/failed/not-a-uuid/retry", None),
        ("GET", "/api/v1/history?call_id=..%2Fx", None),
        ("POST", "/api/v1/rules/transfer-failed/test", {"call_id": ".."}),
        ("POST", "/api/v1/rules/transfer-failed/test", {"call_id": "../v1/log"}),
        ("POST", "/api/v1/rules/transfer-failed/test", {"call": {"id": "../v1/log"}}),
        ("POST", "/api/v1/rules/transfer-failed/test", {"logs": [], "call": {"id": ".."}}),
    ],
)
async def test_a_call_id_that_is_not_a_uuid_is_422(
    client: httpx.AsyncClient, method: str, path: str, body: Any
) -> None:
    assert_error(await client.request(method, path, json=body), 422)


async def test_a_body_of_the_wrong_type_is_422_and_unreadable_json_400(
    client: httpx.AsyncClient,
) -> None:
    for body in ([1, 2], "text", 5):
        assert_error(await client.post("/api/v1/silences", json=body), 422)
    unreadable = await client.post(
        "/api/v1/silences", content=b"{", headers={"content-type": "application/json"}
    )
    assert_error(unreadable, 400)
    wrong = {"duration": 5}
    assert_error(await client.post(f"/api/v1/silences/{uuid.uuid4()}/extend", json=wrong), 422)
    for bad in ({"since": []}, {"max_calls": "many"}, {"rules": 7}, {"rule": ["a"]}):
        assert_error(await client.post("/api/v1/rules/backtest", json=bad), 422)
    assert_error(await client.post("/api/v1/rules/transfer-failed/test", json={"logs": 3}), 422)
    # Found by the schemathesis run: call fields that no webhook could carry were a 500.
    odd_call = {"logs": [], "call": {"agent_id": [{"nested": [{}]}]}}
    assert_error(await client.post("/api/v1/rules/transfer-failed/test", json=odd_call), 422)


async def test_405_names_the_allowed_methods(client: httpx.AsyncClient) -> None:
    answer = await client.put("/api/v1/silences", json={})
    assert_error(answer, 405)
    assert {"GET", "POST"} <= {m.strip() for m in answer.headers["allow"].split(",")}
    webhook = await client.get("/webhooks/diga")
    assert_error(webhook, 405)
    assert "POST" in webhook.headers["allow"]


async def test_openapi_describes_every_api_route_with_the_bearer_scheme(
    api: ApiServer, client: httpx.AsyncClient
) -> None:
    doc = (await client.get("/openapi.json")).json()
    routes = {
        (method.lower(), route.path_format)
        for route in api.app.routes
        if route.path.startswith("/api/v1/")
        for method in getattr(route, "methods", ())
        if method not in ("OPTIONS", "HEAD")
    }
    assert len(routes) >= 19
    described = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert routes <= described, routes - described
    schemes = doc["components"]["securitySchemes"]
    bearer = [n for n, s in schemes.items() if s.get("type") == "http" and s["scheme"] == "bearer"]
    assert bearer
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            assert any(set(r) & set(bearer) for r in operation["security"]), (method, path)
            assert {"401", "422"} <= set(operation["responses"]), (method, path)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:  # every error in the one shape, none in Litestar's
                    assert answer["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Error"
                    }, (method, path, status)
            if method in ("post", "delete"):
                assert "403" in operation["responses"], (method, path)
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"status", "error_code", "message"}
    silence_body = doc["paths"]["/api/v1/silences"]["post"]["requestBody"]["content"]
    assert silence_body["application/json"]["schema"]["$ref"].endswith("/SilenceIn")


async def test_openapi_webhook_body_takes_every_call_id_shape(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    operation = doc["paths"]["/webhooks/diga"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    webhook = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert "call_id" not in webhook.get("required", [])
    ids = []
    for shape in webhook["anyOf"]:
        (top,) = shape["required"]
        inner = shape["properties"][top].get("required", [])
        ids.append(".".join([top, *inner]))
    assert sorted(ids) == ["call.id", "call_id", "data.call_id", "data.id"]
    assert {"202", "200", "400", "401", "413", "415", "422", "503"} <= set(operation["responses"])
