"""The console and its JSON API on a real api, real Redis, the real worker and stand-ins:
the contract in DESIGN.md, and its security (roles, CSRF, proxy trust, hostile text)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from alerter.cli.main import main as cli_main
from alerter.cli.serve import console_exposure
from alerter.rules.model import RuleSet
from tests.conftest import ApiServer, make_settings
from tests.http.console_kit import (
    assert_error,
    bearer,
    console_rules,
    csrf_of,
    process,
    send_call,
    signed_in,
    token,
)
from tests.standins import DigaStandIn, Fault, Receiver, make_log

pytestmark = pytest.mark.usefixtures("redis_url")


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return console_rules(tmp_path, hook)


@pytest.fixture
async def token_api(api_for: Callable[..., ApiServer], rules: RuleSet) -> AsyncIterator[ApiServer]:
    yield api_for(rules, ALERTER_CONSOLE_AUTH="token")


async def test_unauthenticated_pages_redirect_to_login_and_api_answers_401(
    token_api: ApiServer,
) -> None:
    async with httpx.AsyncClient(base_url=token_api.url) as client:
        page = await client.get("/ui/silences?rule=x")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2Fsilences%3Frule%3Dx"
        assert_error(await client.get("/api/v1/rules"), 401)
        assert_error(await client.get("/api/v1/rules", headers=bearer("alt_wrong")), 401)
        login = await client.get("/ui/login")
        assert login.status_code == 200 and 'name="token"' in login.text
        # The webhook and the probes stay open: no sign-in, no CSRF.
        for path in ("/health", "/ready", "/metrics"):
            assert (await client.get(path)).status_code == 200


async def test_viewer_is_refused_every_mutation(token_api: ApiServer, redis_url: str) -> None:
    viewer = await token(redis_url, "vera", "viewer")
    mutations = [
        ("POST", "/api/v1/silences", {"rule": "transfer-failed", "comment": "x", "duration": "1h"}),
        ("POST", "/api/v1/silences/preview", {"rule": "transfer-failed"}),
        ("DELETE", "/api/v1/silences/abc", None),
        ("POST", "/api/v1/silences/abc/extend", {"duration": "1h"}),
        ("POST", "/api/v1/rules/transfer-failed/test", {"logs": []}),
        ("POST", "/api/v1/rules/backtest", {"since": "1h"}),
        ("POST", "/api/v1/failed/abc/retry", None),
        ("POST", "/api/v1/failed/retry", None),
        ("POST", "/api/v1/destinations/hook/test", None),
    ]
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(viewer)) as client:
        assert (await client.get("/api/v1/whoami")).json()["role"] == "viewer"
        for method, path, body in mutations:
            answer = await client.request(method, path, json=body)
            assert_error(answer, 403)
        assert (await client.get("/api/v1/silences")).status_code == 200  # reads are fine
    # The same in the browser: a signed-in viewer with a valid CSRF token is still refused.
    async with signed_in(token_api.url, viewer) as browser:
        form = await browser.get("/ui/silences")
        csrf = csrf_of(form.text)
        for path, data in (
            ("/ui/silences/new", {"rule": "transfer-failed", "comment": "x", "duration": "1h"}),
            ("/ui/failed/retry-all", {}),
            ("/ui/destinations/hook/test", {}),
            ("/ui/rules/transfer-failed/test", {"logs": "[]"}),
            ("/ui/rules/transfer-failed/backtest", {"since": "1h"}),
        ):
            answer = await browser.post(path, data={**data, "_csrf_token": csrf})
            assert answer.status_code == 403, (path, answer.text)
        assert "New silence" not in form.text  # no button a viewer cannot use


async def test_forms_without_a_csrf_token_are_refused(token_api: ApiServer, redis_url: str) -> None:
    operator = await token(redis_url, "olga", "operator")
    async with signed_in(token_api.url, operator) as browser:
        data = {"rule": "transfer-failed", "comment": "deploy", "duration": "1h"}
        refused = await browser.post("/ui/silences/new", data=data)
        assert refused.status_code == 403
        other = await browser.post("/ui/silences/new", data={**data, "_csrf_token": "forged"})
        assert other.status_code == 403
        page = await browser.get("/ui/silences/new")
        made = await browser.post(
            "/ui/silences/new", data={**data, "action": "create", "_csrf_token": csrf_of(page.text)}
        )
        assert made.status_code == 303 and made.headers["location"].startswith("/ui/silences")
        # Signing out ends the session: the cookie no longer opens pages.
        await browser.post("/ui/logout", data={"_csrf_token": csrf_of(page.text)})
        assert (await browser.get("/ui/")).status_code == 303
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(operator)) as api:
        silences = (await api.get("/api/v1/silences")).json()["silences"]
        assert [s["created_by"] for s in silences] == ["olga"]
        audit = (await api.get("/api/v1/audit")).json()["entries"]
        assert [(e["who"], e["action"]) for e in audit] == [("olga", "silence.create")]


async def test_a_proxy_header_is_believed_only_from_a_trusted_address(
    api_for: Callable[..., ApiServer], rules: RuleSet
) -> None:
    untrusted = api_for(rules, ALERTER_CONSOLE_AUTH="proxy", ALERTER_TRUSTED_PROXIES="10.0.0.0/8")
    trusted = api_for(
        rules,
        ALERTER_CONSOLE_AUTH="proxy",
        ALERTER_TRUSTED_PROXIES="127.0.0.1/32",
        ALERTER_CONSOLE_OPERATORS="sre",
    )
    alice = {"X-Forwarded-User": "alice", "X-Forwarded-Groups": "dev, sre"}
    async with httpx.AsyncClient() as client:
        assert_error(await client.get(f"{untrusted.url}/api/v1/whoami", headers=alice), 401)
        page = await client.get(f"{untrusted.url}/ui/", headers=alice)
        assert page.status_code == 401
        me = await client.get(f"{trusted.url}/api/v1/whoami", headers=alice)
        assert me.json() == {"name": "alice", "role": "operator", "via": "proxy"}
        bob = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "dev"}
        assert (await client.get(f"{trusted.url}/api/v1/whoami", headers=bob)).json()["role"] == (
            "viewer"
        )


def test_none_is_refused_off_loopback_and_token_is_the_default_there() -> None:
    exposed = make_settings(
        "http://127.0.0.1:9", ALERTER_HOST="0.0.0.0", ALERTER_CONSOLE_AUTH="none"
    )
    assert "ALERTER_CONSOLE_AUTH=none" in (console_exposure(exposed) or "")
    default_off = make_settings("http://127.0.0.1:9", ALERTER_HOST="0.0.0.0")
    assert default_off.console_mode() == "token" and console_exposure(default_off) is None
    assert make_settings("http://127.0.0.1:9").console_mode() == "none"


async def test_the_call_page_says_why_and_a_silence_stops_the_group(
    token_api: ApiServer, rules: RuleSet, redis_url: str, diga: DigaStandIn, hook: Receiver
) -> None:
    settings = make_settings(diga.url)
    operator = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(operator)) as client:
        first = await send_call(client, diga, agent="ag-7")
        await process(settings, rules, redis_url)
        assert len(hook.wait_for(1)) == 1
        overview = (await client.get("/ui/")).text  # the worker that ran is listed, by name
        assert settings.worker_name in overview
        story = (await client.get(f"/api/v1/calls/{first}")).json()
        assert story["fields"]["agent_id"] == "ag-7" and story["accepted_at"]
        assert [(r["rule"], r["outcome"]) for r in story["rules"]] == [("transfer-failed", "sent")]
        assert story["rules"][0]["sends"][0]["destination"] == "hook"
        outcomes = [e["outcome"] for e in story["timeline"]]
        assert outcomes[:2] == ["fetched", "matched"] and "sent" in outcomes

        # The page's Silence… link carries the rule and the group's matchers.
        page = await client.get(f"/ui/calls/{first}")
        assert "/ui/silences/new?rule=transfer-failed&amp;matchers=agent_id%3Dag-7" in page.text

        body = {"rule": "transfer-failed", "matchers": {"agent_id": "ag-7"}, "duration": "2h"}
        preview = await client.post("/api/v1/silences/preview", json=body)
        assert preview.json()["would_have_silenced"] == 1
        other = {**body, "matchers": {"agent_id": "ag-8"}}
        assert (await client.post("/api/v1/silences/preview", json=other)).json()[
            "would_have_silenced"
        ] == 0
        assert_error(await client.post("/api/v1/silences", json=body), 422)  # no comment
        made = await client.post(
            "/api/v1/silences", json={**body, "comment": "agent redeploy", "created_by": "eve"}
        )
        assert made.status_code == 201, made.text
        silence = made.json()
        assert set(silence) >= {
            "id",
            "rule",
            "matchers",
            "starts_at",
            "ends_at",
            "created_by",
            "comment",
            "stopped",
        }
        assert silence["created_by"] == "olga"  # from the identity, never the body
        assert silence["matchers"] == {"agent_id": "ag-7"}
        assert 7190 < silence["ends_at"] - silence["starts_at"] <= 7200

        second = await send_call(client, diga, agent="ag-7")
        await process(settings, rules, redis_url)
        story = (await client.get(f"/api/v1/calls/{second}")).json()
        assert [(r["outcome"], r["reason"]) for r in story["rules"]] == [
            ("silenced", f"silence {silence['id']}")
        ]
        assert len(hook.received) == 1
        fetched = (await client.get(f"/api/v1/silences/{silence['id']}")).json()
        assert fetched["stopped"] == 1

        expired = await client.delete(f"/api/v1/silences/{silence['id']}")
        assert expired.status_code == 200 and expired.json()["active"] is False
        third = await send_call(client, diga, agent="ag-7")
        await process(settings, rules, redis_url)
        assert (await client.get(f"/api/v1/calls/{third}")).json()["rules"][0]["outcome"] == (
            "sent"
        )
        history = (await client.get("/api/v1/history", params={"outcome": "silenced"})).json()
        assert [e["call_id"] for e in history["entries"]] == [second]
        rules_now = (await client.get("/api/v1/rules")).json()["rules"][0]
        assert rules_now["day"]["matched"] == 3 and rules_now["day"]["sent"] == 2
        assert rules_now["day"]["silenced"] == 1 and "group_by" in rules_now["yaml"]
        assert_error(await client.get(f"/api/v1/calls/{uuid.uuid4()}"), 404)
        assert_error(await client.get("/api/v1/calls/never-seen"), 422)  # not a call id


async def test_a_failed_call_is_retried_from_the_api_and_audited(
    token_api: ApiServer, rules: RuleSet, redis_url: str, diga: DigaStandIn, hook: Receiver
) -> None:
    settings = make_settings(diga.url)
    operator = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(operator)) as client:
        diga.inject(Fault(401, {"status": "error", "error_code": "UNAUTHORIZED", "message": "no"}))
        call_id = await send_call(client, diga)
        await process(settings, rules, redis_url)
        failed = (await client.get("/api/v1/failed")).json()["failed"]
        assert [(f["call_id"], f["kind"]) for f in failed] == [(call_id, "diga_auth")]
        assert (await client.get(f"/api/v1/calls/{call_id}")).json()["failed"]["kind"] == (
            "diga_auth"
        )
        answer = await client.post(f"/api/v1/failed/{call_id}/retry")
        assert answer.status_code == 202 and answer.json()["call_ids"] == [call_id]
        await process(settings, rules, redis_url)
        assert len(hook.wait_for(1)) == 1
        assert (await client.get("/api/v1/failed")).json()["failed"] == []
        assert_error(await client.post(f"/api/v1/failed/{uuid.uuid4()}/retry"), 404)
        assert_error(await client.post("/api/v1/failed/nope/retry"), 422)  # not a call id
        audit = (await client.get("/api/v1/audit")).json()["entries"]
        assert [(e["action"], e["target"]) for e in audit] == [("failed.retry", call_id)]


async def test_rule_test_on_pasted_logs_and_destinations_without_urls(
    token_api: ApiServer, redis_url: str, hook: Receiver
) -> None:
    operator = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(operator)) as client:
        logs = [make_log("c1"), make_log("c1", category="LLM", event="llm_error")]
        answer = await client.post(
            "/api/v1/rules/transfer-failed/test", json={"logs": logs, "call": {"agent_id": "a"}}
        )
        assert answer.status_code == 200, answer.text
        trial = answer.json()["trials"][0]
        assert trial["fired"] and trial["matched_logs"] == 1
        assert "transfer to +34 600 failed" in trial["renderings"][0]["text"]
        assert hook.received == []  # a dry run sends nothing
        bad = await client.post("/api/v1/rules/transfer-failed/test", json={"logs": [{"id": 1}]})
        assert "logs.0" in assert_error(bad, 422)
        assert_error(await client.post("/api/v1/rules/nope/test", json={"logs": []}), 404)

        listed = (await client.get("/api/v1/destinations")).json()["destinations"]
        port = hook.url.rsplit(":", 1)[1].split("/")[0]
        assert listed[0]["targets"] == [f"json://127.0.0.1:{port}"]  # the port, not the path
        sent = await client.post("/api/v1/destinations/hook/test")
        assert sent.json()["sent"] is True and len(hook.wait_for(1)) == 1
        hook.inject(Fault(503, {"error": "over quota"}))  # Send test says why it failed
        refused = (await client.post("/api/v1/destinations/hook/test")).json()
        host = hook.url.removeprefix("http://")
        assert refused["sent"] is False
        assert refused["detail"] == f'hook ({host}): HTTP 503 {{"error": "over quota"}}'
        assert "secret-path-4f2a" not in refused["detail"]
        page = await client.get("/ui/destinations")
        assert "secret-path-4f2a" not in page.text and "secret-path-4f2a" not in sent.text


async def test_hostile_text_renders_inert(
    token_api: ApiServer, rules: RuleSet, redis_url: str, diga: DigaStandIn, hook: Receiver
) -> None:
    settings = make_settings(diga.url)
    operator = await token(redis_url, "olga", "operator")
    script, img = "<script>alert(1)</script>", '<img src=x onerror="alert(2)">'
    async with httpx.AsyncClient(base_url=token_api.url, headers=bearer(operator)) as client:
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id, data={"message_text": f"{script} {img}"})])
        accepted = await client.post(
            "/webhooks/diga",
            json={"call_id": call_id, "agent_id": img, "status": script},
        )
        assert accepted.status_code == 202, accepted.text
        await process(settings, rules, redis_url)
        hook.wait_for(1)
        for path in (f"/ui/calls/{call_id}", "/ui/signatures", "/ui/history", "/ui/"):
            page = await client.get(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        call_page = (await client.get(f"/ui/calls/{call_id}")).text
        assert "&lt;img src=x onerror=" in call_page and "&lt;script&gt;" in call_page
        assert "&lt;script&gt;alert(1)" in (await client.get("/ui/signatures")).text
        # Scripts only from our own origin, whatever a page holds.
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_console_token_commands(
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token_api: ApiServer,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert cli_main(["console", "token", "add", "grafana", "--role", "viewer"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("alt_")
    assert cli_main(["console", "token", "list"]) == 0
    listed = capsys.readouterr().out
    assert "grafana  viewer" in listed and secret not in listed
    with httpx.Client(base_url=token_api.url, headers=bearer(secret)) as client:
        assert client.get("/api/v1/whoami").json()["name"] == "grafana"
        assert cli_main(["console", "token", "revoke", "grafana"]) == 0
        assert client.get("/api/v1/whoami").status_code == 401
    assert cli_main(["console", "token", "revoke", "grafana"]) == 1


async def test_finding_a_call_escapes_its_id_into_the_page_address(
    token_api: ApiServer, redis_url: str
) -> None:
    """An id with `?`, `#` or `/` in it names that call's page, never another page or query."""
    viewer = await token(redis_url, "vera", "viewer")
    async with signed_in(token_api.url, viewer) as browser:
        found = await browser.get("/ui/calls", params={"call_id": " a?b=1#c/d "})
        assert found.status_code == 303
        assert found.headers["location"] == "/ui/calls/a%3Fb%3D1%23c%2Fd"
        page = await browser.get("/ui/calls/x%3Fy")
        assert page.status_code == 404 and "x?y" in page.text  # the call asked for, unknown


async def test_pages_say_how_long_ago_on_the_apis_clock(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    """A silence made at the api's (driven) now and ending two hours later reads "in 2 h" on
    the silences page, and "in 1 h" an hour on: the page's now is the api's clock."""
    from tests.kit.clock import DrivenClock

    clock = DrivenClock(2_000_000_000.0)
    api = api_for(rules, clock=clock, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    body = {"rule": "transfer-failed", "duration": "2h", "comment": f"c-{uuid.uuid4().hex}"}
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        made = await client.post("/api/v1/silences", json=body)
        assert made.status_code == 201, made.text
    async with signed_in(api.url, secret) as browser:
        row = _row_of(await browser.get("/ui/silences"), body["comment"])
        assert "(0 s ago)" in row and "(in 2 h)" in row
        clock.advance(3600)
        row = _row_of(await browser.get("/ui/silences"), body["comment"])
        assert "(1 h ago)" in row and "(in 1 h)" in row


def _row_of(page: httpx.Response, text: str) -> str:
    assert page.status_code == 200, page.text
    [row] = [r for r in page.text.split("<tr") if text in r]
    return row
