"""Signing in to the console, through the real api: every page sends whoever is not signed
in to the login, failed sign-ins and bearer tokens are logged and limited per client
address, cookies are Secure behind https, and no page outlives signing out in a cache."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from alerter.rules.model import RuleSet
from tests.conftest import ApiServer
from tests.http.console_kit import (
    SILENCE_FORM,
    assert_error,
    bearer,
    console_rules,
    cookie_of,
    csrf_of,
    signed_in,
    token,
)
from tests.standins import Receiver

pytestmark = pytest.mark.usefixtures("redis_url")


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return console_rules(tmp_path, hook)


# ---------------------------------------------------------------- sign-in limit


async def test_the_21st_failed_sign_in_is_refused_and_none_is_logged_with_its_token(
    api_for: Callable[..., ApiServer],
    rules: RuleSet,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    caplog.set_level(logging.WARNING)
    async with httpx.AsyncClient(base_url=api.url) as client:
        csrf = csrf_of((await client.get("/ui/login")).text)
        for n in range(20):
            wrong = {"token": f"alt_wrong-guess-{n}", "next": "/ui/", "_csrf_token": csrf}
            answer = await client.post("/ui/login", data=wrong)
            assert answer.status_code == 401, (n, answer.text)
        limited = await client.post(
            "/ui/login", data={"token": secret, "next": "/ui/", "_csrf_token": csrf}
        )
        assert_error(limited, 429, "TOO_MANY_SIGN_IN_FAILURES")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # A bearer token from that address waits too, even a good one.
        assert_error(await client.get("/api/v1/whoami", headers=bearer(secret)), 429)
        page = await client.post(
            "/ui/login",
            data={"token": secret, "_csrf_token": csrf},
            headers={"Accept": "text/html"},
        )
        assert page.status_code == 429 and "retry-after" in page.headers
    failures = [r for r in caplog.records if "not valid" in r.getMessage()]
    assert len(failures) == 20 and "127.0.0.1" in failures[0].getMessage()
    assert not any(
        "alt_wrong-guess" in r.getMessage() or secret in r.getMessage() for r in caplog.records
    )


async def test_good_tokens_and_bearer_failures_share_the_limit(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url) as client:
        for _ in range(30):  # good tokens are never counted
            assert (await client.get("/api/v1/whoami", headers=bearer(secret))).status_code == 200
        csrf = csrf_of((await client.get("/ui/login")).text)
        for n in range(10):
            login = await client.post("/ui/login", data={"token": f"x{n}", "_csrf_token": csrf})
            assert login.status_code == 401
            assert_error(await client.get("/api/v1/rules", headers=bearer(f"alt_{n}")), 401)
        assert_error(await client.get("/api/v1/whoami", headers=bearer(secret)), 429)


# ---------------------------------------------------------------- cookies, headers, history


async def test_cookies_are_secure_behind_https_and_static_files_carry_the_headers(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(
        rules, ALERTER_CONSOLE_AUTH="token", ALERTER_PUBLIC_URL="https://alerter.example.com"
    )
    secret = await token(redis_url, "olga", "operator")
    async with httpx.AsyncClient(base_url=api.url) as client:
        login = await client.get("/ui/login")
        csrf_cookie = login.headers["set-cookie"]
        assert csrf_cookie.startswith("alerter_csrf=") and "secure" in csrf_cookie.lower()
        signed = await client.post(
            "/ui/login",
            data={"token": secret, "next": "/ui/", "_csrf_token": csrf_of(login.text)},
            headers=cookie_of(login),
        )
        assert signed.status_code == 303, signed.text
        session_cookie = signed.headers["set-cookie"]
        assert session_cookie.startswith("alerter_session=") and "secure" in session_cookie.lower()
        for path in ("/ui/static/console.css", "/ui/static/htmx-2.0.11.min.js", "/ui/login"):
            answer = await client.get(path)
            assert answer.status_code == 200, path
            assert "script-src 'self'" in answer.headers["content-security-policy"], path
            assert answer.headers["x-content-type-options"] == "nosniff", path
            assert answer.headers["x-frame-options"] == "DENY", path
    plain = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    async with httpx.AsyncClient(base_url=plain.url) as client:
        assert "secure" not in (await client.get("/ui/login")).headers["set-cookie"].lower()


async def test_console_pages_stay_out_of_htmx_history_and_caches(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    async with signed_in(api.url, secret) as browser:
        page = await browser.get("/ui/silences")
        assert '"historyCacheSize": 0' in page.text and 'hx-history="false"' in page.text
        assert page.headers["cache-control"] == "no-store"
        api_answer = await browser.get("/api/v1/whoami")
        assert api_answer.headers["cache-control"] == "no-store"


# ---------------------------------------------------------------- sign-in redirect

PAGES = (
    "/ui/",
    "/ui/calls?call_id=3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "/ui/calls/3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "/ui/history?rule=transfer-failed&outcome=sent",
    "/ui/rules",
    "/ui/rules/transfer-failed",
    "/ui/signatures",
    "/ui/silences",
    "/ui/silences/new?rule=transfer-failed&matchers=agent_id%3Da",
    "/ui/failed",
    "/ui/destinations",
    "/ui/audit",
)


def login_target(path: str) -> str:
    # (The router names the overview `/ui`; the login sends `/ui` on to `/ui/`.)
    return "/ui/login?next=" + quote("/ui" if path == "/ui/" else path, safe="")


async def test_every_page_sends_whoever_is_not_signed_in_to_the_login(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    revoked = await token(redis_url, "gone", "operator")
    async with signed_in(api.url, revoked) as stale:
        await token(redis_url, "gone", "viewer")  # a new token of that name revokes the old
        stale_cookie = {"Cookie": f"alerter_session={stale.cookies['alerter_session']}"}
    forged = {"Cookie": "alerter_session=" + "A" * 43}
    async with httpx.AsyncClient(base_url=api.url) as client:
        for headers in ({}, forged, stale_cookie):
            for path in PAGES:
                page = await client.get(path, headers=headers)
                assert page.status_code == 303, (headers, path, page.text)
                assert page.headers["location"] == login_target(path), (headers, path)
            api_answer = await client.get("/api/v1/whoami", headers=headers)
            assert_error(api_answer, 401)
        # A form posted without a session (its CSRF token good) is sent to sign in too.
        login = await client.get("/ui/login")
        posted = await client.post(
            "/ui/silences/new", data={**SILENCE_FORM, "_csrf_token": csrf_of(login.text)}
        )
        assert posted.status_code == 303
        assert posted.headers["location"].startswith("/ui/login?next=")
    # Signing in lands on the page asked for, never outside the console.
    async with httpx.AsyncClient(base_url=api.url) as client:
        login = await client.get(login_target(PAGES[3]))
        assert f'value="{PAGES[3].replace("&", "&amp;")}"' in login.text
        csrf = csrf_of(login.text)
        for wanted, landed in (
            (PAGES[3], PAGES[3]),
            ("//evil.example/ui/", "/ui/"),
            ("https://evil.example/ui/", "/ui/"),
            ("/api/v1/whoami", "/ui/"),
        ):
            answer = await client.post(
                "/ui/login", data={"token": secret, "next": wanted, "_csrf_token": csrf}
            )
            assert answer.status_code == 303 and answer.headers["location"] == landed, wanted
        assert (await client.get("/ui/audit")).status_code == 200
        signed_out = await client.post("/ui/logout", data={"_csrf_token": csrf})
        assert signed_out.headers["location"] == "/ui/login"
        assert (await client.get("/ui/audit")).headers["location"] == login_target("/ui/audit")
