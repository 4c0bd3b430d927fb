"""The api on a real port: answers and error shapes of every endpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from alerter.rules.model import RuleSet
from alerter.store.embedded import free_port
from tests.conftest import ApiServer, make_settings, metric_samples, rules_from

RULES = "destinations: {d: 'json://127.0.0.1/x'}\nrules:\n  - {name: r, notify: [d]}\n"


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return rules_from(tmp_path, RULES)


@pytest.fixture
def api(redis_url: str, rules: RuleSet) -> Iterator[ApiServer]:
    server = ApiServer(
        make_settings("http://127.0.0.1:9", ALERTER_MAX_BODY_BYTES=2048), redis_url, rules
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api_without_redis(rules: RuleSet) -> Iterator[ApiServer]:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    server = ApiServer(make_settings("http://127.0.0.1:9"), dead, rules)
    server.start()
    yield server
    server.stop()


def assert_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"status", "error_code", "message"}
    assert body["status"] == "error" and body["error_code"] == code and body["message"]


async def test_queued_duplicate_ignored(api: ApiServer, api_client: httpx.AsyncClient) -> None:
    call_id = str(uuid.uuid4())
    url = f"{api.url}/webhooks/diga"
    first = await api_client.post(url, json={"event": "call.ended", "call_id": call_id})
    assert (first.status_code, first.json()) == (202, {"status": "queued", "call_id": call_id})
    again = await api_client.post(url, json={"type": "call_ended", "data": {"id": call_id}})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate", "call_id": call_id})
    other = await api_client.post(url, json={"event": "call.started", "call_id": call_id})
    assert other.status_code == 200 and other.json()["status"] == "ignored"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{nope", "application/json", 400, "INVALID_JSON"),
        (b"[1]", "application/json", 400, "INVALID_PAYLOAD"),
        (b'{"event": "call.ended"}', "application/json", 422, "MISSING_CALL_ID"),
        (b'{"call_id": "42"}', "application/json; charset=utf-8", 422, "INVALID_CALL_ID"),
        (b'{"call_id": "42"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"call_id": "42"}', "", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"pad": "' + b"x" * 4096 + b'"}', "application/json", 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_refusals_have_the_error_shape(
    api: ApiServer,
    api_client: httpx.AsyncClient,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    answer = await api_client.post(
        f"{api.url}/webhooks/diga", content=content, headers={"Content-Type": content_type}
    )
    assert_error(answer, status, code)


async def test_a_body_sent_in_chunks_is_read_whole_and_held_to_the_limit(
    api: ApiServer, api_client: httpx.AsyncClient
) -> None:
    """Without a Content-Length (chunked), the body is joined from its chunks, and the
    limit (2,048 bytes here) is enforced on the bytes that arrive."""
    call_id = str(uuid.uuid4())
    body = f'{{"event": "call.ended", "call_id": "{call_id}", "note": "{"n" * 1500}"}}'.encode()

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 500):
            yield data[start : start + 500]
            await asyncio.sleep(0.02)  # each chunk its own read on the server

    headers = {"Content-Type": "application/json"}
    url = f"{api.url}/webhooks/diga"
    whole = await api_client.post(url, content=chunks(body), headers=headers)
    assert whole.request.headers.get("transfer-encoding") == "chunked"
    assert (whole.status_code, whole.json()) == (202, {"status": "queued", "call_id": call_id})
    assert whole.headers["content-type"] == "application/json"
    over = body.replace(b"n" * 1500, b"n" * 2100)
    assert_error(
        await api_client.post(url, content=chunks(over), headers=headers), 413, "PAYLOAD_TOO_LARGE"
    )
    values = metric_samples((await api_client.get(f"{api.url}/metrics")).text)
    assert values[("alerter_webhooks_total", (("outcome", "error_413"),))] == 1


async def test_unknown_routes_and_methods(api: ApiServer, api_client: httpx.AsyncClient) -> None:
    assert_error(await api_client.get(f"{api.url}/nowhere"), 404, "NOT_FOUND")
    assert_error(await api_client.get(f"{api.url}/webhooks/diga"), 405, "METHOD_NOT_ALLOWED")


async def test_health_ready_metrics(
    api: ApiServer, api_client: httpx.AsyncClient, rules: RuleSet
) -> None:
    assert (await api_client.get(f"{api.url}/health")).status_code == 200
    ready = await api_client.get(f"{api.url}/ready")
    assert ready.status_code == 200 and ready.json()["rules_version"] == rules.version
    await api_client.post(f"{api.url}/webhooks/diga", json={"call_id": str(uuid.uuid4())})
    values = metric_samples((await api_client.get(f"{api.url}/metrics")).text)
    assert values[("alerter_webhooks_total", (("outcome", "queued"),))] == 1
    assert values[("alerter_queue_depth", ())] == 1


async def test_redis_down_means_503_not_loss(
    api_without_redis: ApiServer, api_client: httpx.AsyncClient
) -> None:
    url = api_without_redis.url
    answer = await api_client.post(f"{url}/webhooks/diga", json={"call_id": str(uuid.uuid4())})
    assert_error(answer, 503, "QUEUE_UNAVAILABLE")
    assert_error(await api_client.get(f"{url}/ready"), 503, "REDIS_UNAVAILABLE")
    assert (await api_client.get(f"{url}/health")).status_code == 200


def test_openapi_describes_the_webhook_signatures_beside_what_litestar_wrote() -> None:
    from alerter.http.openapi import with_webhook

    generated = {"paths": {"/health": {"get": {}}}, "components": {"schemas": {"Error": {}}}}
    doc = with_webhook(generated)
    assert (
        set(doc["paths"]) == {"/health", "/webhooks/diga"}
        and "Error" in doc["components"]["schemas"]
    )
    assert generated == {
        "paths": {"/health": {"get": {}}},
        "components": {"schemas": {"Error": {}}},
    }
    webhook = doc["paths"]["/webhooks/diga"]["post"]
    headers = {p["name"] for p in webhook["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerSecret"]["scheme"] == "bearer"
    assert schemes["standardWebhooks"]["name"] == "webhook-signature"
    assert {"bearerSecret": []} in webhook["security"] and {} in webhook["security"]
