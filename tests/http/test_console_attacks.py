"""The console and JSON API under attack, through the real api (uvicorn as `alerter serve`
configures it, real Redis): `none` mode only for requests made on this machine, the Host
allow-list (DNS rebinding), forwarding headers only from trusted proxies, cross-origin writes
and the CSRF exemption."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from alerter.http.app import create_app
from alerter.rules.model import RuleSet
from alerter.rules.reload import RulesHolder
from tests.conftest import ApiServer, make_settings
from tests.http.console_kit import (
    SILENCE_FORM,
    SILENCE_JSON,
    assert_error,
    bearer,
    console_rules,
    cookie_of,
    csrf_of,
    signed_in,
    token,
)
from tests.standins import DigaStandIn, Receiver

pytestmark = pytest.mark.usefixtures("redis_url")

FORWARDED = (
    {"X-Forwarded-For": "203.0.113.9"},
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Host": "alerter.example.com"},
    {"Forwarded": "for=203.0.113.9"},
)


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return console_rules(tmp_path, hook)


async def silences(api: ApiServer, secret: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        answer = await client.get("/api/v1/silences")
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["silences"]
        return found


# ---------------------------------------------------------------- none mode


async def test_none_mode_serves_only_requests_made_on_this_machine(
    api_for: Callable[..., ApiServer], rules: RuleSet
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="none", ALERTER_ALLOWED_HOSTS="alerter.example.com")
    async with httpx.AsyncClient(base_url=api.url) as client:
        for host in ("127.0.0.1", f"127.0.0.1:{api.port}", "localhost:1", "LOCALHOST", "[::1]:9"):
            me = await client.get("/api/v1/whoami", headers={"Host": host})
            assert me.json() == {"name": "local", "role": "operator", "via": "none"}, host
        # The review's attack: a local proxy's headers and the public name.
        attack = {"X-Forwarded-For": "203.0.113.9", "Host": "alerter.example.com"}
        refused = assert_error(await client.get("/api/v1/whoami", headers=attack), 401)
        assert "ALERTER_CONSOLE_AUTH=token" in refused
        for headers in FORWARDED:
            for path in (
                "/api/v1/whoami",
                "/ui/",
                "/ui/silences",
                "/ui/login",
                "/ui/static/console.css",
            ):
                answer = await client.get(path, headers={**headers, "Accept": "application/json"})
                assert "ALERTER_CONSOLE_AUTH=token" in assert_error(answer, 401), (headers, path)
        # An allowed name that is not a loopback one passes the Host check, not `none` mode.
        page = await client.get("/ui/", headers={"Host": "alerter.example.com"})
        assert page.status_code == 401 and "ALERTER_CONSOLE_AUTH=token" in page.text
        # Nor can such a request write.
        made = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=attack)
        assert_error(made, 401)


async def test_none_mode_refuses_a_peer_that_is_not_loopback(
    redis_url: str, diga: DigaStandIn, rules: RuleSet
) -> None:
    settings = make_settings(diga.url, ALERTER_CONSOLE_AUTH="none")
    app = create_app(settings, redis_url, RulesHolder.of(rules))
    # Litestar's test client connects as "testclient": no loopback address.
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        answer = await client.get("/api/v1/whoami", headers={"Host": "127.0.0.1:8000"})
        assert "ALERTER_CONSOLE_AUTH=token" in assert_error(answer, 401)
        page = await client.get("/ui/", headers={"Host": "127.0.0.1:8000"})
        assert page.status_code == 401


async def test_a_bearer_identity_is_itself_in_none_mode(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="none")
    secret = await token(redis_url, "ci-bot", "operator")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        me = (await client.get("/api/v1/whoami")).json()
        assert me == {"name": "ci-bot", "role": "operator", "via": "token"}
        made = await client.post("/api/v1/silences", json=SILENCE_JSON)
        assert made.status_code == 201, made.text
        assert made.json()["created_by"] == "ci-bot"
        audit = (await client.get("/api/v1/audit")).json()["entries"]
        assert [e["who"] for e in audit] == ["ci-bot"]
        # A token that does not sign in is not "local" either.
        wrong = await client.get("/api/v1/whoami", headers=bearer("alt_wrong"))
        assert_error(wrong, 401)


async def test_a_script_writes_in_none_mode_without_a_csrf_token(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="none")
    async with httpx.AsyncClient(base_url=api.url) as client:
        # As a new user would, with curl on 127.0.0.1.
        made = await client.post("/api/v1/silences", json=SILENCE_JSON)
        assert made.status_code == 201, made.text
        assert made.json()["created_by"] == "local"
        expired = await client.delete(f"/api/v1/silences/{made.json()['id']}")
        assert expired.status_code == 200, expired.text
        # A browser's write still needs the form's token, and may not come from elsewhere.
        form = await client.post("/ui/silences/new", data=SILENCE_FORM)
        assert form.status_code == 403
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": api.url},  # a browser's request: the token applies
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-origin"},
        ):
            answer = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=headers)
            assert_error(answer, 403)
    async with httpx.AsyncClient(base_url=api.url) as client:
        listed = (await client.get("/api/v1/silences")).json()["silences"]
        assert [s["active"] for s in listed] == [False]


# ---------------------------------------------------------------- Host allow-list


async def test_a_foreign_host_is_refused_on_the_console_only(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(
        rules,
        ALERTER_CONSOLE_AUTH="token",
        ALERTER_ALLOWED_HOSTS="alerter.internal",
        ALERTER_PUBLIC_URL="https://alerter.example.com",
    )
    secret = await token(redis_url, "olga", "operator")
    rebound = {"Host": f"attacker.example:{api.port}"}
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        for path in ("/api/v1/whoami", "/ui/", "/ui/login", "/ui/static/console.css"):
            answer = await client.get(path, headers=rebound)
            assert_error(answer, 400, "HOST_NOT_ALLOWED")
        made = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=rebound)
        assert_error(made, 400, "HOST_NOT_ALLOWED")
        assert_error(await client.get("/ui/", headers={"Host": "alerter.internal.evil"}), 400)
        browser = await client.get("/ui/silences", headers={**rebound, "Accept": "text/html"})
        assert browser.status_code == 400 and "ALERTER_ALLOWED_HOSTS" in browser.text
        for host in ("alerter.internal:8000", "ALERTER.example.com", "127.0.0.1", "localhost:80"):
            answer = await client.get("/api/v1/whoami", headers={"Host": host})
            assert answer.status_code == 200, (host, answer.text)
        # The webhook and the probes take any Host.
        for path in ("/health", "/ready", "/metrics"):
            assert (await client.get(path, headers=rebound)).status_code == 200, path
        hook = await client.post(
            "/webhooks/diga", json={"event": "call.started", "call_id": "x"}, headers=rebound
        )
        assert hook.status_code == 200, hook.text
    assert await silences(api, secret) == []


async def test_dns_rebinding_cannot_reach_none_mode(
    api_for: Callable[..., ApiServer], rules: RuleSet
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="none")
    async with httpx.AsyncClient(base_url=api.url) as client:
        rebound = {"Host": f"attacker.example:{api.port}"}
        made = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=rebound)
        assert_error(made, 400, "HOST_NOT_ALLOWED")
        assert_error(await client.get("/api/v1/whoami", headers=rebound), 400)
        assert (await client.get("/api/v1/silences")).json()["silences"] == []


# ---------------------------------------------------------------- forwarding headers


async def test_forwarding_headers_are_believed_only_from_trusted_proxies(
    api_for: Callable[..., ApiServer], rules: RuleSet
) -> None:
    # The proxy's network is trusted, this peer (127.0.0.1) is not: naming an address of
    # that network in X-Forwarded-For must not make it the proxy.
    untrusted = api_for(rules, ALERTER_CONSOLE_AUTH="proxy", ALERTER_TRUSTED_PROXIES="10.0.0.0/8")
    spoof = {"X-Forwarded-For": "10.1.2.3", "X-Forwarded-User": "alice"}
    async with httpx.AsyncClient(base_url=untrusted.url) as client:
        assert_error(await client.get("/api/v1/whoami", headers=spoof), 401)
    # From the trusted proxy, the user is believed with the client's address forwarded.
    trusted = api_for(
        rules,
        ALERTER_CONSOLE_AUTH="proxy",
        ALERTER_TRUSTED_PROXIES="127.0.0.1/32",
        ALERTER_CONSOLE_OPERATORS="alice",
    )
    forwarded = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-User": "alice"}
    async with httpx.AsyncClient(base_url=trusted.url) as client:
        me = await client.get("/api/v1/whoami", headers=forwarded)
        assert me.status_code == 200, me.text
        assert me.json() == {"name": "alice", "role": "operator", "via": "proxy"}


async def test_failed_tokens_are_counted_per_believed_client_address(
    api_for: Callable[..., ApiServer], rules: RuleSet
) -> None:
    # No trusted proxy: X-Forwarded-For changes nothing, every try counts against the peer.
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    async with httpx.AsyncClient(base_url=api.url) as client:
        for n in range(20):
            headers = {**bearer(f"alt_guess{n}"), "X-Forwarded-For": f"203.0.113.{n}"}
            assert_error(await client.get("/api/v1/whoami", headers=headers), 401)
        headers = {**bearer("alt_guess"), "X-Forwarded-For": "203.0.113.99"}
        assert_error(await client.get("/api/v1/whoami", headers=headers), 429)
    # Behind a trusted proxy, each client address has its own count.
    proxied = api_for(rules, ALERTER_CONSOLE_AUTH="token", ALERTER_TRUSTED_PROXIES="127.0.0.1")
    async with httpx.AsyncClient(base_url=proxied.url) as client:
        guesser = {**bearer("alt_guess"), "X-Forwarded-For": "198.51.100.1"}
        for _ in range(20):
            assert_error(await client.get("/api/v1/whoami", headers=guesser), 401)
        assert_error(await client.get("/api/v1/whoami", headers=guesser), 429)
        other = {**bearer("alt_guess"), "X-Forwarded-For": "198.51.100.2"}
        assert_error(await client.get("/api/v1/whoami", headers=other), 401)


# ---------------------------------------------------------------- cross-origin writes, CSRF


async def test_a_header_that_does_not_sign_in_exempts_nothing(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with signed_in(api.url, secret) as browser:
        # (`Bearer ` reaches the api as `Bearer`: trailing blanks are not part of a header.)
        for authorization, status in (
            ("Bearer", 403),
            ("Basic b2xnYTp4", 403),
            ("Bearer alt_x", 401),
        ):
            answer = await browser.post(
                "/api/v1/silences", json=SILENCE_JSON, headers={"Authorization": authorization}
            )
            assert_error(answer, status)
        # The session alone, as JSON: a browser's ambient credential, so the token applies.
        assert_error(await browser.post("/api/v1/silences", json=SILENCE_JSON), 403)
    assert await silences(api, secret) == []
    # Without the session, a script with a wrong token (or none) hears 401, not CSRF's 403.
    async with httpx.AsyncClient(base_url=api.url) as client:
        for headers in (bearer("alt_wrong"), {}):
            answer = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=headers)
            assert_error(answer, 401, "UNAUTHORIZED")


async def test_a_signed_in_bearer_skips_the_token_only_for_a_scripts_json(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        form = await client.post("/ui/silences/new", data={**SILENCE_FORM, "action": "create"})
        assert form.status_code == 403, form.text
        for headers in ({"Origin": api.url}, {"Sec-Fetch-Site": "same-origin"}):
            answer = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=headers)
            assert_error(answer, 403)
        assert await silences(api, secret) == []
        made = await client.post(
            "/api/v1/silences",
            json=SILENCE_JSON,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert made.status_code == 201, made.text


async def test_cross_site_writes_are_refused(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url, headers=bearer(secret)) as client:
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": f"http://127.0.0.1:{api.port + 1}"},
            {"Origin": f"https://127.0.0.1:{api.port}"},
        ):
            answer = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=headers)
            assert_error(answer, 403, "CROSS_ORIGIN_REQUEST")
            deleted = await client.delete("/api/v1/silences/x", headers=headers)
            assert_error(deleted, 403, "CROSS_ORIGIN_REQUEST")
        # Reads are not writes.
        read = await client.get("/api/v1/whoami", headers={"Sec-Fetch-Site": "cross-site"})
        assert read.status_code == 200
    async with signed_in(api.url, secret) as browser:
        page = await browser.get("/ui/silences/new")
        data = {**SILENCE_FORM, "action": "create", "_csrf_token": csrf_of(page.text)}
        forged = await browser.post(
            "/ui/silences/new", data=data, headers={"Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        own = await browser.post(
            "/ui/silences/new",
            data=data,
            headers={"Origin": api.url, "Sec-Fetch-Site": "same-origin"},
        )
        assert own.status_code == 303, own.text
    assert len(await silences(api, secret)) == 1


async def test_proxy_mode_form_from_another_origin_is_refused(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(
        rules,
        ALERTER_CONSOLE_AUTH="proxy",
        ALERTER_TRUSTED_PROXIES="127.0.0.1/32",
        ALERTER_CONSOLE_OPERATORS="alice",
        ALERTER_PUBLIC_URL="https://alerter.example.com",
    )
    # What oauth2-proxy sends along: the user, and (pass_authorization_header) its own bearer.
    alice = {"X-Forwarded-User": "alice", "Authorization": "Bearer eyJhbGciOi.oidc.token"}
    async with httpx.AsyncClient(base_url=api.url, headers=alice) as client:
        assert (await client.get("/api/v1/whoami")).json()["name"] == "alice"
        page = await client.get("/ui/silences/new")
        data = {**SILENCE_FORM, "action": "create", "_csrf_token": csrf_of(page.text)}
        cookie = cookie_of(page)
        forged = await client.post(
            "/ui/silences/new", data=data, headers={"Origin": "https://evil.example", **cookie}
        )
        assert forged.status_code == 403
        without_token = await client.post("/ui/silences/new", data=SILENCE_FORM, headers=cookie)
        assert without_token.status_code == 403
        as_json = await client.post("/api/v1/silences", json=SILENCE_JSON, headers=cookie)
        assert_error(as_json, 403)
        # From the console's public address (TLS ends at the proxy), the form works.
        public = await client.post(
            "/ui/silences/new",
            data=data,
            headers={"Origin": "https://alerter.example.com", **cookie},
        )
        assert public.status_code == 303, public.text
        listed = (await client.get("/api/v1/silences")).json()["silences"]
        assert [s["created_by"] for s in listed] == ["alice"]
