"""Hostile input at the api over real HTTP: hypothesis throwing arbitrary bytes, JSON and
headers at the intake (schemathesis runs the whole document: test_openapi.py).
Nothing a client sends may produce a 500 or an answer outside the error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.rules.model import RuleSet
from tests.conftest import ApiServer, make_settings, rules_from

RULES = "destinations: {d: 'json://127.0.0.1/x'}\nrules:\n  - {name: r, notify: [d]}\n"


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[ApiServer]:
    rules: RuleSet = rules_from(tmp_path_factory.mktemp("rules"), RULES)
    server = ApiServer(
        make_settings("http://127.0.0.1:9", ALERTER_MAX_BODY_BYTES=4096), redis_server, rules
    )
    server.start()
    yield server
    server.stop()


def check_answer(answer: httpx.Response) -> None:
    assert answer.status_code < 500 or answer.status_code == 503, answer.text
    body = answer.json()
    if answer.status_code >= 400:
        assert set(body) == {"status", "error_code", "message"}
        assert body["status"] == "error"
    assert "Traceback" not in answer.text


header_names = st.sampled_from(
    [
        "content-type",
        "content-length-x",
        "authorization",
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
        "transfer-encoding-x",
        "x-anything",
    ]
)
# What a client can put on the wire (httpx refuses leading or trailing blanks itself).
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60
).map(str.strip)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=30),
            lambda c: (
                st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3)
            ),
            max_leaves=10,
        ).map(lambda v: json.dumps(v).encode()),
        st.binary(min_size=4097, max_size=6000),
    ),
    headers=st.dictionaries(header_names, header_values, max_size=4),
    json_type=st.booleans(),
)
def test_intake_survives_arbitrary_bytes_json_and_headers(
    module_api: ApiServer, body: bytes, headers: dict[str, str], json_type: bool
) -> None:
    if json_type:
        headers["content-type"] = "application/json"
    with httpx.Client(base_url=module_api.url, timeout=10) as client:
        check_answer(client.post("/webhooks/diga", content=body, headers=headers))


@pytest.mark.parametrize(
    "path,method",
    [("/webhooks/diga", "PUT"), ("/health", "POST"), ("/nope", "GET"), ("/%ff", "GET")],
)
def test_unknown_routes_and_methods_keep_the_shape(
    module_api: ApiServer, path: str, method: str
) -> None:
    with httpx.Client(base_url=module_api.url) as client:
        check_answer(client.request(method, path))
