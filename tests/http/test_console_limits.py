"""No single request or rule can freeze the api or the worker (issue 23), on a real api, real
Redis, the real worker and stand-ins: regexes run on RE2, rule text is bounded, templates
cannot compute large values, backtests are gated, silences capped.

Timing checks are bounds ("answers within N s while the hostile input is processed"), far
above what the fixed code needs and far below what the hostile input costs without it."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from alerter.rules.model import RuleSet
from alerter.store import keys
from alerter.store.windows import MAX_GROUPS
from tests.conftest import ApiServer, make_settings, rules_from
from tests.http.console_kit import process, send_call, token
from tests.kit.clock import DrivenClock
from tests.standins import DigaStandIn, Receiver, make_log

pytestmark = pytest.mark.usefixtures("redis_url")

RULES = r"""
destinations:
  hook: json://127.0.0.1:{port}/hooks/limits
rules:
  - name: transfer-failed
    match: {{category: TRANSFER}}
    group_by: [agent_id]
    notify: [hook]
  - name: pasted-words
    match:
      category: [CALL_TOOLS]
      data:
        text: {{regex: '^(\w+\s?)*$'}}
    notify: [hook]
  - name: workflow-failed
    match: {{category: WORKFLOWS}}
    title: "Workflow failed {{{{ 7 ** call.exponent }}}} times"
    notify: [hook]
"""
# 29 `a`s and a `!`: Python's backtracking `re` takes seconds on `(a+)+` against it.
HOSTILE_AGENT = "a" * 29 + "!"
EXPONENTIAL = "(a+)+"


@pytest.fixture
def rules(tmp_path: Path, hook: Receiver) -> RuleSet:
    return rules_from(tmp_path, RULES.format(port=hook.httpd.server_address[1]))


@pytest.fixture
async def operator_api(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    # Bodies up to 3 MiB reach the handlers, so the rule-text bound itself is what refuses.
    api = api_for(rules, ALERTER_CONSOLE_AUTH="token", ALERTER_MAX_BODY_BYTES=3 << 20)
    secret = await token(redis_url, "olga", "operator")
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=60) as client:
        yield client


def assert_error(answer: httpx.Response, status: int, code: str | None = None) -> str:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"status", "error_code", "message"} and body["status"] == "error"
    if code is not None:
        assert body["error_code"] == code, body
    return str(body["message"])


async def health_while(
    client: httpx.AsyncClient, hostile: Any, bound: float = 3.0, done_within: float = 10.0
) -> Any:
    """Send the hostile request, then ask /health: it must have answered within `bound`
    seconds of the hostile request's start. (Measured from that start: the api serves in a
    thread of this process, so a loop stuck in a C call holds this test's loop too.) The
    hostile request itself must be done within `done_within`: /health alone could pass when
    asked before the hostile work began, a slow machine's case; the whole request cannot."""
    started = time.monotonic()
    task = asyncio.create_task(hostile)
    await asyncio.sleep(0.3)  # give the hostile request its start
    health = await client.get("/health")
    waited = time.monotonic() - started
    assert health.status_code == 200
    assert waited < bound, f"/health answered {waited:.1f}s after the hostile request began"
    answer = await task
    took = time.monotonic() - started
    assert took < done_within, f"the hostile request took {took:.1f}s"
    return answer


# ---------------------------------------------------------------- regexes on RE2


async def test_an_exponential_silence_regex_does_not_hold_up_the_worker(
    operator_api: httpx.AsyncClient,
    rules: RuleSet,
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
) -> None:
    made = await operator_api.post(
        "/api/v1/silences",
        json={"matchers": [f"agent_id=~{EXPONENTIAL}"], "duration": "1h", "comment": "test"},
    )
    assert made.status_code == 201, made.text
    await send_call(operator_api, diga, agent=HOSTILE_AGENT)
    await send_call(operator_api, diga, agent="ag-2")  # unrelated
    started = time.monotonic()
    await process(make_settings(diga.url), rules, redis_url)
    bodies = hook.wait_for(2, timeout=5)
    took = time.monotonic() - started
    # Neither agent is silenced (the regex must match the whole value), and both alerts
    # arrive in a bounded time: the hostile value costs RE2 microseconds.
    assert len(bodies) == 2
    assert took < 10, f"the worker took {took:.1f}s over a hostile silence regex"


async def test_a_silence_preview_with_an_exponential_regex_does_not_stall_the_api(
    operator_api: httpx.AsyncClient, rules: RuleSet, redis_url: str, diga: DigaStandIn
) -> None:
    await send_call(operator_api, diga, agent=HOSTILE_AGENT)  # a call the preview looks at
    await process(make_settings(diga.url), rules, redis_url)
    body = {"matchers": [f"agent_id=~{EXPONENTIAL}"], "duration": "1h"}
    preview = await health_while(
        operator_api, operator_api.post("/api/v1/silences/preview", json=body)
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["would_have_silenced"] == 0
    matching = {"matchers": ["agent_id=~a+!"], "duration": "1h"}
    again = await operator_api.post("/api/v1/silences/preview", json=matching)
    assert again.json()["would_have_silenced"] == 1  # RE2 matches as `re` did


async def test_a_rule_regex_on_a_pasted_log_does_not_stall_the_api(
    operator_api: httpx.AsyncClient,
) -> None:
    log = make_log("c", category="CALL_TOOLS", event="tool_failed", data={"text": "a" * 26 + "!"})
    trial = operator_api.post("/api/v1/rules/pasted-words/test", json={"logs": [log]})
    answer = await health_while(operator_api, trial)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "pattern,reason",
    [(r"(a)\1", "backreferences"), ("(?=a)a", "lookaround"), ("(?<!x)a", "lookaround")],
)
async def test_a_silence_regex_re2_cannot_run_is_refused_with_the_reason(
    operator_api: httpx.AsyncClient, pattern: str, reason: str
) -> None:
    body = {"matchers": [f"agent_id=~{pattern}"], "duration": "1h", "comment": "test"}
    for path in ("/api/v1/silences", "/api/v1/silences/preview"):
        message = assert_error(await operator_api.post(path, json=body), 422, "INVALID_MATCHER")
        assert reason in message and "RE2" in message
    assert (await operator_api.get("/api/v1/silences")).json()["silences"] == []


# ---------------------------------------------------------------- templates


async def test_a_template_computing_a_huge_number_does_not_hold_up_the_worker(
    operator_api: httpx.AsyncClient,
    rules: RuleSet,
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
) -> None:
    workflow = [make_log("c", category="WORKFLOWS", event="workflow_failed")]
    await send_call(operator_api, diga, logs=workflow, fields={"exponent": 10_000_000})
    await send_call(operator_api, diga, agent="ag-2")  # unrelated
    started = time.monotonic()
    await process(make_settings(diga.url), rules, redis_url)
    bodies = hook.wait_for(2, timeout=5)
    took = time.monotonic() - started
    assert len(bodies) == 2
    assert took < 10, f"the worker took {took:.1f}s over a template"
    # The template was refused at render: the alert keeps its default title.
    assert any("workflow-failed" in str(body) for body in bodies)


# ---------------------------------------------------------------- rule text bounds

BOMB_LEVELS = "abcdef"  # 9**6 = 531,441 values from a few hundred bytes


def alias_bomb() -> str:
    lines = ["destinations: {hook: 'json://127.0.0.1/x'}", "rules: [{name: r, notify: [hook]}]"]
    lines.append("a: &a [x,x,x,x,x,x,x,x,x]")
    for prev, name in itertools.pairwise(BOMB_LEVELS):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text,said",
    [
        (alias_bomb(), "YAML aliases (*name) are not accepted"),
        ("rules: &a [*a]\n", "recursive alias"),
        ("a: &a [*a]\n", "recursive alias"),
        ("rules: []\n#" + "x" * (1 << 20), "length <= 1048576"),
        ("destinations: &d {h: 'json://127.0.0.1/x'}\nrules: []\nx: *d\n", "YAML aliases"),
    ],
    ids=["alias-bomb", "recursive-rules", "recursive-alias", "over-1-MiB", "any-alias"],
)
async def test_rule_text_in_a_backtest_request_is_bounded(
    operator_api: httpx.AsyncClient, text: str, said: str
) -> None:
    started = time.monotonic()
    answer = await operator_api.post("/api/v1/rules/backtest", json={"rules": text})
    took = time.monotonic() - started
    # Past 1 MiB the body's schema refuses the text before the rules' own bounds see it.
    code = "INVALID_REQUEST" if len(text) > 1 << 20 else "INVALID_RULES"
    message = assert_error(answer, 422, code)
    assert said in message
    assert took < 3, f"refused only after {took:.1f}s"


# ---------------------------------------------------------------- backtests


async def audit_actions(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    entries = (await client.get("/api/v1/audit")).json()["entries"]
    return [(e["action"], e["detail"].get("error", "")) for e in entries]


async def test_backtests_run_one_at_a_time_and_refusals_are_audited(
    operator_api: httpx.AsyncClient, rules: RuleSet, redis_url: str, diga: DigaStandIn
) -> None:
    for agent in ("ag-1", "ag-2"):
        await send_call(operator_api, diga, agent=agent)
    await process(make_settings(diga.url), rules, redis_url)
    diga.latency = 0.5  # each backtest fetches for a second or so
    body = {"since": "1h", "rate": "50/s"}
    first, second = await asyncio.gather(
        operator_api.post("/api/v1/rules/backtest", json=body),
        operator_api.post("/api/v1/rules/backtest", json=body),
    )
    answers = sorted([first, second], key=lambda a: a.status_code)
    assert answers[0].status_code == 200, answers[0].text
    assert_error(answers[1], 429, "BACKTEST_RUNNING")
    assert 1 <= int(answers[1].headers["Retry-After"]) <= 120
    # Once the first is done, the next one runs.
    diga.latency = 0
    assert (await operator_api.post("/api/v1/rules/backtest", json=body)).status_code == 200
    actions = await audit_actions(operator_api)
    assert actions.count(("rules.backtest", "")) == 2
    assert ("rules.backtest.failed", "BACKTEST_RUNNING") in actions


@pytest.mark.parametrize("rate", ["100000/s", "51/s", "3600/m"])
async def test_a_backtest_faster_than_50_a_second_is_refused_and_audited(
    operator_api: httpx.AsyncClient, diga: DigaStandIn, rate: str
) -> None:
    answer = await operator_api.post("/api/v1/rules/backtest", json={"since": "1h", "rate": rate})
    assert "50/s" in assert_error(answer, 422, "INVALID_RATE")
    assert diga.requests == []
    assert ("rules.backtest.failed", "INVALID_RATE") in await audit_actions(operator_api)


async def test_a_refused_rule_text_is_audited(operator_api: httpx.AsyncClient) -> None:
    answer = await operator_api.post("/api/v1/rules/backtest", json={"rules": "a: &a [*a]\n"})
    assert_error(answer, 422, "INVALID_RULES")
    assert ("rules.backtest.failed", "INVALID_RULES") in await audit_actions(operator_api)


async def test_a_backtest_replays_an_expired_hostile_silence_without_stalling_the_api(
    operator_api: httpx.AsyncClient, rules: RuleSet, redis_url: str, diga: DigaStandIn
) -> None:
    made = await operator_api.post(
        "/api/v1/silences",
        json={"matchers": [f"agent_id=~{EXPONENTIAL}"], "duration": "1h", "comment": "test"},
    )
    await send_call(operator_api, diga, agent=HOSTILE_AGENT)  # while the silence stood
    await process(make_settings(diga.url), rules, redis_url)
    expired = await operator_api.delete(f"/api/v1/silences/{made.json()['id']}")
    assert expired.status_code == 200
    trial = operator_api.post("/api/v1/rules/backtest", json={"since": "1h", "rate": "50/s"})
    answer = await health_while(operator_api, trial)
    assert answer.status_code == 200, answer.text
    assert answer.json()["calls"] == 1


# ---------------------------------------------------------------- silences


async def test_a_silence_never_ends_more_than_90_days_from_now(
    api_for: Callable[..., ApiServer], rules: RuleSet, redis_url: str
) -> None:
    """ "Now" is the api's clock: driven here, so the bound is exact and moves with it."""
    clock = DrivenClock(2_000_000_000.0)
    api = api_for(rules, clock=clock, ALERTER_CONSOLE_AUTH="token")
    headers = {"Authorization": f"Bearer {await token(redis_url, 'olga', 'operator')}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers) as operator_api:
        body = {"rule": "transfer-failed", "duration": "1h", "comment": "maintenance"}
        made = await operator_api.post("/api/v1/silences", json=body)
        assert made.status_code == 201, made.text
        assert (made.json()["starts_at"], made.json()["ends_at"]) == (clock.now, clock.now + 3600)
        silence_id = made.json()["id"]
        extend = f"/api/v1/silences/{silence_id}/extend"
        answers = [await operator_api.post(extend, json={"duration": "30d"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 422]
        assert "90 days from now" in assert_error(answers[2], 422, "INVALID_END")
        ends = (await operator_api.get(f"/api/v1/silences/{silence_id}")).json()["ends_at"]
        assert ends == clock.now + 3600 + 60 * 86_400
        # Up to the cap is fine, from now; past it is not, whichever way the end is given.
        extended = await operator_api.post(extend, json={"duration": "29d"})
        assert extended.status_code == 200, extended.text
        for late in ({"duration": "91d"}, {"duration": None, "ends_at": clock.now + 91 * 86_400}):
            refused = await operator_api.post("/api/v1/silences", json={**body, **late})
            assert_error(refused, 422, "INVALID_END")
        clock.advance(30 * 86_400)  # a month on, the cap is a month later too
        assert (await operator_api.post(extend, json={"duration": "30d"})).status_code == 200


# ---------------------------------------------------------------- groups

THROTTLED = """
destinations:
  hook: json://127.0.0.1:{port}/hooks/limits
rules:
  - name: per-agent
    match: {{category: TRANSFER}}
    group_by: [agent_id]
    repeat_interval: 1h
    notify: [hook]
"""


async def test_a_rule_past_its_group_cap_counts_new_groups_together(
    tmp_path: Path,
    api_for: Callable[..., ApiServer],
    redis_url: str,
    diga: DigaStandIn,
    hook: Receiver,
) -> None:
    """A rule grouped by something per caller cannot fill Redis: past MAX_GROUPS live groups,
    new groups share one (still alerting, throttled together)."""
    rules = rules_from(tmp_path, THROTTLED.format(port=hook.httpd.server_address[1]))
    api = api_for(rules)
    now_ms = int(time.time() * 1000)
    async with aioredis.Redis.from_url(redis_url) as client:
        full = {f"g{i}": now_ms for i in range(MAX_GROUPS)}
        await client.zadd(keys.rule_groups("per-agent"), full)
        async with httpx.AsyncClient(base_url=api.url) as web:
            for agent in ("new-1", "new-2"):
                await send_call(web, diga, agent=agent)
        await process(make_settings(diga.url), rules, redis_url)
        # The worker ran until idle, sends included: what was to arrive has arrived.
        assert len(hook.wait_for(1)) == 1  # the first alerts, the second is throttled with it
        assert len(hook.received) == 1
        assert await client.zcard(keys.rule_groups("per-agent")) == MAX_GROUPS
