"""The console in a real browser (Debian's chromium, driven by Playwright): an on-call
engineer's path from signing in to silencing, expiring, retrying and testing a rule.

Skipped, saying why, where no chromium is installed (`.ci/run` installs it). Set
ALERTER_SCREENSHOTS=docs to refresh the screenshots in docs/.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from alerter.rules.model import RuleSet
from tests.conftest import ApiServer, make_settings
from tests.http.console_kit import console_rules, process, token
from tests.standins import DigaStandIn, Fault, Receiver, make_log

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)"
)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
async def browser_page() -> AsyncIterator[tuple[object, list[str]]]:
    """A fresh page, and the problems it reported (script errors, CSP refusals, dialogs)."""
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console: {msg.text}") if msg.type == "error" else None
                ),
            )

            async def dialog(d: object) -> None:
                problems.append(f"dialog: {d.message}")
                await d.dismiss()

            page.on("dialog", dialog)
            yield page, problems
        finally:
            await browser.close()


async def shot(page: object, name: str) -> None:
    if os.environ.get("ALERTER_SCREENSHOTS") == "docs":
        # caret="initial": Playwright would otherwise inject a style our CSP (rightly) refuses.
        await page.screenshot(
            path=str(DOCS / f"console-{name}.png"), full_page=True, caret="initial"
        )


async def webhook(api: ApiServer, diga: DigaStandIn, agent: str, logs: list[dict]) -> str:
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [{**log, "call_id": call_id} for log in logs])
    async with httpx.AsyncClient(base_url=api.url) as client:
        body = {"event": "call.ended", "call_id": call_id, "agent_id": agent}
        assert (await client.post("/webhooks/diga", json=body)).status_code == 202
    return call_id


async def test_on_call_path_through_the_console(
    browser_page: tuple[object, list[str]],
    api_for: Callable[..., ApiServer],
    tmp_path: Path,
    hook: Receiver,
    diga: DigaStandIn,
    redis_url: str,
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    rules: RuleSet = console_rules(tmp_path, hook)
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    settings = make_settings(diga.url)
    secret = await token(redis_url, "olga", "operator")
    p = page

    # Sign in with a token: any page leads to the login form, then back.
    await p.goto(f"{api.url}/ui/silences")
    await expect(p).to_have_url(f"{api.url}/ui/login?next=%2Fui%2Fsilences")
    await shot(p, "login")
    await p.get_by_label("Token").fill(secret)
    await p.get_by_role("button", name="Sign in").click()
    await expect(p.get_by_role("heading", name="Silences")).to_be_visible()
    assert await p.evaluate("typeof htmx") == "object"

    # An alerted call: its page says it was sent, and offers Silence….
    first = await webhook(api, diga, "ag-7", [make_log("x")])
    await process(settings, rules, redis_url)
    await p.goto(f"{api.url}/ui/calls/{first}")
    await expect(p.locator("table").first).to_contain_text("sent")
    await shot(p, "call")
    await p.get_by_role("link", name="Silence…").click()
    await expect(p.get_by_label("Rule")).to_have_value("transfer-failed")
    await expect(p.get_by_label("Matchers")).to_have_value("agent_id=ag-7")
    await p.get_by_label("Duration").fill("2h")
    await p.get_by_role("button", name="Preview").click()
    await expect(p.locator("#preview")).to_contain_text("Would have silenced 1 of the 1 calls")
    await p.get_by_label("Comment").fill("agent ag-7 is being redeployed")
    await shot(p, "silence-new")
    await p.get_by_role("button", name="Create silence").click()
    await expect(p.locator(".notice")).to_contain_text("created")

    # The next call of that group is silenced, and its page says by which silence.
    second = await webhook(api, diga, "ag-7", [make_log("x")])
    await process(settings, rules, redis_url)
    await p.goto(f"{api.url}/ui/calls/{second}")
    await expect(p.locator("table").first).to_contain_text("silenced")
    await expect(p.locator("table").first).to_contain_text("silence ")
    assert len(hook.received) == 1

    # Expire it: it moves to the expired list, where it can be recreated.
    await p.goto(f"{api.url}/ui/silences")
    await shot(p, "silences")
    await p.get_by_role("button", name="Expire").click()
    await expect(p.locator(".notice")).to_contain_text("expired")
    await expect(p.get_by_role("link", name="Recreate")).to_be_visible()

    # A failed call, retried from the Failed page, then alerts.
    diga.inject(Fault(401, {"status": "error", "error_code": "UNAUTHORIZED", "message": "no"}))
    failed = await webhook(api, diga, "ag-9", [make_log("x")])
    await process(settings, rules, redis_url)
    await p.goto(f"{api.url}/ui/failed")
    await expect(p.locator("table")).to_contain_text(failed)
    await shot(p, "failed")
    await p.get_by_role("button", name="Retry", exact=True).click()
    await expect(p.locator(".notice")).to_contain_text("queued again")
    await process(settings, rules, redis_url)
    assert len(hook.wait_for(2)) == 2

    # Test a rule on a pasted log, hostile text included: shown as text, never run.
    hostile = make_log(
        "x", data={"message_text": '<script>alert(1)</script><img src=x onerror="alert(2)">'}
    )
    await p.goto(f"{api.url}/ui/rules/transfer-failed")
    await p.get_by_label("Logs").fill(json.dumps([hostile]))
    await p.get_by_role("button", name="Test", exact=True).click()
    await expect(p.locator("#test-result")).to_contain_text("1 matching logs")
    await expect(p.locator("#test-result")).to_contain_text("<script>alert(1)</script>")
    await shot(p, "rule-test")
    assert len(hook.received) == 2  # a dry run sends nothing

    # Backtest the rule over the calls of the last hour: the table, and nothing sent.
    await p.get_by_label("Since").fill("1h")
    await p.get_by_role("button", name="Backtest").click()
    await expect(p.locator("#backtest-result")).to_contain_text("calls replayed")
    await expect(p.locator("#backtest-result")).to_contain_text("alerts that would have been sent")
    await shot(p, "rule-backtest")
    assert len(hook.received) == 2

    for path, name in (
        ("/ui/", "overview"),
        ("/ui/history", "history"),
        ("/ui/signatures", "signatures"),
    ):
        await p.goto(f"{api.url}{path}")
        await shot(p, name)
    assert problems == []  # no script error, no CSP refusal, no alert() ever ran


# npm's axe-core, pinned in tests/http/axe/package.json and installed there by `make test`.
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


async def axe_violations(page: object) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each. axe is given
    to the page through the DevTools protocol: the console's CSP (scripts from its own
    origin only) stays in force."""
    if not await page.evaluate("typeof axe === 'object'"):
        await page.evaluate(AXE.read_text())
    found = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes, e.g. {v['nodes'][0]['html'][:120]}"
        for v in found["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.skipif(
    not AXE.exists() and not os.environ.get("CI"),
    reason="axe-core not installed: `make test` installs it where npm is (apt-get install npm)",
)
async def test_every_page_passes_axe_in_light_and_dark_mode(
    browser_page: tuple[object, list[str]],
    api_for: Callable[..., ApiServer],
    tmp_path: Path,
    hook: Receiver,
    diga: DigaStandIn,
    redis_url: str,
) -> None:
    page, problems = browser_page
    rules: RuleSet = console_rules(tmp_path, hook)
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token")
    settings = make_settings(diga.url)
    secret = await token(redis_url, "olga", "operator")
    sent = await webhook(api, diga, "ag-7", [make_log("x")])
    diga.inject(Fault(401, {"status": "error", "error_code": "UNAUTHORIZED", "message": "no"}))
    failed = await webhook(api, diga, "ag-9", [make_log("x")])
    await process(settings, rules, redis_url)
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {secret}"}
    ) as c:
        body = {"rule": "transfer-failed", "matchers": {"agent_id": "ag-1"}, "comment": "x"}
        assert (await c.post("/api/v1/silences", json={**body, "duration": "1h"})).is_success
    pages = [
        "/ui/",
        f"/ui/calls/{sent}",
        f"/ui/calls/{failed}",
        "/ui/history",
        "/ui/rules",
        "/ui/rules/transfer-failed",
        "/ui/signatures",
        "/ui/silences",
        "/ui/silences/new",
        "/ui/failed",
        "/ui/destinations",
        "/ui/audit",
        "/ui/nowhere",
    ]
    found: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.context.clear_cookies()
        await page.goto(f"{api.url}/ui/login")
        found[f"{scheme} /ui/login"] = await axe_violations(page)
        await page.get_by_label("Token").fill(secret)
        await page.get_by_role("button", name="Sign in").click()
        await playwright_api.expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        for path in pages:
            await page.goto(f"{api.url}{path}")
            found[f"{scheme} {path}"] = await axe_violations(page)
            # Every column says what it holds, the actions columns too (axe: "minor").
            if await page.locator("thead th:empty").count():
                found[f"{scheme} {path}"].append("a table header without text")
    failing = "\n".join(f"{where}: {line}" for where, v in found.items() for line in v)
    assert not failing, failing
    # /ui/nowhere answers 404, which the browser reports; nothing else may be reported.
    assert [p for p in problems if "status of 404" not in p] == []


async def test_no_page_outlives_signing_out(
    browser_page: tuple[object, list[str]],
    api_for: Callable[..., ApiServer],
    tmp_path: Path,
    hook: Receiver,
    redis_url: str,
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    api = api_for(console_rules(tmp_path, hook), ALERTER_CONSOLE_AUTH="token")
    secret = await token(redis_url, "olga", "operator")
    p = page
    await p.goto(f"{api.url}/ui/login")
    await p.get_by_label("Token").fill(secret)
    await p.get_by_role("button", name="Sign in").click()
    # Signed in before the first click: the login page shows the same links, and a click
    # there while the sign-in was still on its way was sent to sign in again.
    await expect(p.get_by_role("button", name="Sign out")).to_be_visible()
    # Boosted links, as someone on call clicks through the console.
    for name in ("History", "Rules", "Audit"):
        await p.get_by_role("link", name=name, exact=True).click()
        await expect(p.get_by_role("heading", name=name)).to_be_visible()
    await p.get_by_role("button", name="Sign out").click()
    await expect(p.get_by_label("Token")).to_be_visible()
    # No snapshot of a page was kept, and going back shows none: the server asks to sign in.
    assert await p.evaluate("sessionStorage.getItem('htmx-history-cache')") is None
    await p.go_back()
    await expect(p.get_by_label("Token")).to_be_visible()
    await expect(p.get_by_role("heading", name="Audit")).to_have_count(0)
    assert problems == []
