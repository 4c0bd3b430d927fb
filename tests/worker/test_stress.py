"""The promise under the conditions an incident creates: every accepted call ends visibly,
once per URL, bounded work, event time. Each test here failed before its fix."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.constants import default_queue_name, result_key_prefix
from redis.exceptions import ConnectionError as RedisConnectionError

from alerter.models import CallEnded
from alerter.pipeline import deliver
from alerter.rules.model import RuleSet
from alerter.store import keys
from alerter.store.queue import CallQueue
from alerter.store.state import State
from tests.conftest import make_settings, rules_from, run_worker_until_idle
from tests.kit.budgets import FAST
from tests.kit.build import hook_url
from tests.kit.redis import history
from tests.kit.webhook import post_webhook
from tests.standins import DigaStandIn, Fault, Receiver, make_log

ONE_RULE = """
destinations:
  hooks: ${HOOKS}
rules:
  - name: transfer-failed
    match: {category: [TRANSFER]}
    notify: [hooks]
"""


def rules_to(tmp_path: Path, *urls: str, text: str = ONE_RULE) -> RuleSet:
    if len(urls) == 1:
        return rules_from(tmp_path, text, {"HOOKS": urls[0]})
    names = [f"HOOK_{i}" for i in range(len(urls))]
    listed = "[" + ", ".join(f'"${{{name}}}"' for name in names) + "]"
    return rules_from(
        tmp_path, text.replace("${HOOKS}", listed), dict(zip(names, urls, strict=True))
    )


async def test_a_redis_error_as_an_accepted_send_is_marked_neither_loses_nor_repeats_it(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = rules_to(tmp_path, hook_url(hook))
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    real = State.mark_sent
    calls = {"n": 0}

    async def flaky(self: State, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RedisConnectionError("connection reset mid-job")
        await real(self, *args, **kwargs)

    monkeypatch.setattr(State, "mark_sent", flaky)
    assert (await post_webhook(api.url, call_id)).status_code == 202
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url, claim_lease_seconds=1)
    # The first send landed but its marker did not: the marker is written again in place, so
    # neither a loss nor a repeat (a retry would resend once the claim's lease ended).
    assert len(hook.wait_for(1)) == 1
    outcomes = [row.outcome for row in await history(redis_url, call_id)]
    assert outcomes == ["sent"]
    assert calls["n"] == 2


async def test_an_accepted_send_is_marked_on_its_sending_thread_before_the_event_loop(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event loop never gets to mark the send (as if the worker died right after the
    destination accepted): the marker the sending thread wrote at once stops a second send
    when the job runs again after its claim's lease."""
    rules = rules_to(tmp_path, hook_url(hook))
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])

    async def never(self: State, *args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("the worker is gone")

    monkeypatch.setattr(State, "mark_sent", never)
    assert (await post_webhook(api.url, call_id)).status_code == 202
    settings = make_settings(diga.url, ALERTER_JOB_TIMEOUT=2)
    await run_worker_until_idle(settings, rules, redis_url, claim_lease_seconds=1)
    assert len(hook.wait_for(1)) == 1
    async with aioredis.Redis.from_url(redis_url) as client:
        markers = [await client.get(key) async for key in client.scan_iter(keys.SENT_PREFIX + "*")]
    assert markers == [b"sent"]


async def test_a_diga_slower_than_the_time_budget_ends_in_a_recorded_failure(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
) -> None:
    rules = rules_to(tmp_path, hook_url(hook))
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    diga.latency = 1.5  # every page; the budget of a 2 s job timeout is 1 s
    assert (await post_webhook(api.url, call_id)).status_code == 202
    settings = make_settings(diga.url, ALERTER_JOB_TIMEOUT=2)
    await run_worker_until_idle(settings, rules, redis_url, budgets=replace(FAST, error_tries=2))
    async with aioredis.Redis.from_url(redis_url) as client:
        failed = await State(client).failure(call_id)
    assert failed is not None and failed.kind == "timeout" and failed.attempts == 2
    assert [r.outcome for r in await history(redis_url, call_id)] == ["failed"]


async def test_a_job_that_arq_ends_itself_is_recorded_and_can_run_again(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    """A job whose payload expired in the queue: recorded failed, no result kept, so Diga's
    redelivery is queued, not answered `duplicate`."""
    rules = rules_to(tmp_path, hook_url(hook))
    call_id = str(uuid.uuid4())
    async with aioredis.Redis.from_url(redis_url) as client:
        await client.zadd(default_queue_name, {keys.call_job(call_id): int(time.time() * 1000)})
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    async with aioredis.Redis.from_url(redis_url) as client:
        failed = await State(client).failure(call_id)
        assert await client.exists(result_key_prefix + keys.call_job(call_id)) == 0
    assert failed is not None and failed.kind == "expired"
    api = api_for(rules)
    diga.add_call(call_id, [make_log(call_id)])
    answer = await post_webhook(api.url, call_id)
    assert answer.status_code == 202 and answer.json()["status"] == "queued"
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(hook.wait_for(1)) == 1


async def test_a_destination_with_several_urls_never_resends_to_one_that_accepted(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    second = Receiver()
    second.start()
    try:
        second.inject(Fault(500), Fault(500))
        rules = rules_to(tmp_path, hook_url(hook, "/a"), hook_url(second, "/b"))
        api = api_for(rules)
        call_id = str(uuid.uuid4())
        diga.add_call(call_id, [make_log(call_id)])
        assert (await post_webhook(api.url, call_id)).status_code == 202
        await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
        assert len(second.wait_for(1)) == 1
        assert len(hook.received) == 1  # accepted on the first try, never sent again
    finally:
        second.stop()


async def test_a_send_with_no_answer_keeps_its_claim_and_a_late_accept_counts(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
) -> None:
    hook.inject(Fault(200, delay=1.0))  # accepted, after the worker stopped waiting
    rules = rules_to(tmp_path, hook_url(hook))
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    assert (await post_webhook(api.url, call_id)).status_code == 202
    # The retry waits out the claim's lease, then finds the send marked by its late accept.
    await run_worker_until_idle(
        make_settings(diga.url),
        rules,
        redis_url,
        claim_lease_seconds=3,
        budgets=replace(FAST, send_timeout=0.3),
    )
    # No wait for "nothing else": a destination's accept is received before the send counts
    # (marked), and the burst worker ends only once no send is left to retry, so a resend
    # would be here already.
    assert len(hook.received) == 1
    rows = await history(redis_url, call_id)
    assert rows[0].outcome == "sent"
    assert any(
        "timeout; not resent before its claim's lease ends" in r.detail
        for r in rows
        if r.outcome == "retrying"
    )


async def test_a_digest_window_closes_though_its_opening_call_never_scheduled_it(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    text = ONE_RULE.replace("notify: [hooks]", "group_wait: 1s\n    notify: [hooks]")
    rules = rules_to(tmp_path, hook_url(hook), text=text)
    api = api_for(rules, ALERTER_SETTLE_SECONDS=0)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for call_id in (first, second):
        diga.add_call(call_id, [make_log(call_id)])
    assert (await post_webhook(api.url, first)).status_code == 202
    worker_settings = make_settings(diga.url)
    await run_worker_until_idle(worker_settings, rules, redis_url)
    assert len(hook.wait_for(1)) == 1  # the first digest, one call
    # Open a window as a call that then failed would: grouped, but no flush scheduled.
    async with aioredis.Redis.from_url(redis_url) as client:
        from alerter.rules.noise import GroupKey
        from alerter.store.windows import Windows

        await Windows(client).add_to_digest(
            "transfer-failed", GroupKey(()), "lost-call", {}, "transfer_failed", "", 1, time.time()
        )
    assert (await post_webhook(api.url, second)).status_code == 202
    await run_worker_until_idle(worker_settings, rules, redis_url)
    digests = hook.wait_for(2)
    assert len(digests) == 2 and "2 calls" in json.dumps(digests[1])


async def test_a_backlog_spread_over_hours_does_not_fire_a_frequency_rule(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    """Calls accepted 10 minutes apart, drained at once after an outage: never 3 within 15
    minutes by when they ended, so the rule stays quiet."""
    text = ONE_RULE.replace("notify: [hooks]", "when: {count: 3, within: 15m}\n    notify: [hooks]")
    rules = rules_to(tmp_path, hook_url(hook), text=text)
    start = time.time() - 6 * 3600
    async with aioredis.Redis.from_url(redis_url) as client:
        queue = CallQueue(client, settle_seconds=0)
        for i in range(12):
            call_id = str(uuid.uuid4())
            diga.add_call(call_id, [make_log(call_id)])
            call = CallEnded(call_id=call_id, fields={}, accepted_at=start + i * 600)
            assert await queue.enqueue(call, defer_ms=0)
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert hook.received == []
    # The same calls by processing time would all share one window: 3 within 15 minutes.


async def test_a_300kb_log_line_neither_stalls_other_calls_nor_escapes_the_cut(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    rules = rules_to(tmp_path, hook_url(hook))
    api = api_for(rules)
    huge, plain = str(uuid.uuid4()), str(uuid.uuid4())
    crafted = "a" * 300_000  # the e-mail pattern's worst case: a long run of word characters
    diga.add_call(huge, [make_log(huge, data={"message_text": crafted, "failure_reason": crafted})])
    diga.add_call(plain, [make_log(plain)])
    for call_id in (huge, plain):
        assert (await post_webhook(api.url, call_id)).status_code == 202
    # Before the cut, normalising this line alone blocked the event loop for over a minute.
    await asyncio.wait_for(run_worker_until_idle(make_settings(diga.url), rules, redis_url), 30)
    messages = hook.wait_for(2)
    assert len(messages) == 2
    for message in messages:
        assert len(json.dumps(message)) < 20_000


async def test_pages_over_the_byte_cap_stop_paging_and_the_cap_is_recorded(
    tmp_path: Path,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
) -> None:
    # Ten logs a page: about 31 KB each.
    budgets = replace(FAST, max_response_bytes=64 * 1024, page_limit=10)
    rules = rules_to(tmp_path, hook_url(hook))
    call_id = str(uuid.uuid4())
    logs = [make_log(call_id, data={"message_text": "x" * 3000}) for _ in range(30)]
    logs.append(make_log(call_id, data={"message_text": "y" * 80_000}))  # a page over the cap
    diga.add_call(call_id, logs)
    async with aioredis.Redis.from_url(redis_url) as client:
        assert await CallQueue(client, settle_seconds=0).enqueue(CallEnded(call_id=call_id))
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url, budgets=budgets)
    assert len(hook.wait_for(1)) == 1  # alerted on the three pages fetched before the cap
    rows = await history(redis_url, call_id)
    assert [r.outcome for r in rows] == ["sent"]
    assert "30 matching logs" in rows[0].detail and "over 65536 bytes" in rows[0].detail


async def test_context_lines_come_newest_first_in_a_few_small_pages(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    from datetime import UTC, datetime, timedelta

    text = ONE_RULE.replace("notify: [hooks]", "context: 2\n    notify: [hooks]")
    rules = rules_to(tmp_path, hook_url(hook), text=text)
    call_id = str(uuid.uuid4())
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    # 2,000 WARNING lines before the failure, 150 after: the old way paged through all.
    warnings = [
        make_log(call_id, level="WARNING", event=f"w{i}", at=start + timedelta(seconds=i))
        for i in range(2150)
    ]
    failure = make_log(call_id, at=start + timedelta(seconds=1999, milliseconds=500))
    diga.add_call(call_id, [*warnings[:2000], failure, *warnings[2000:]])
    async with aioredis.Redis.from_url(redis_url) as client:
        assert await CallQueue(client, settle_seconds=0).enqueue(CallEnded(call_id=call_id))
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    [message] = hook.wait_for(1)
    shown = json.dumps(message)
    assert "w1998" in shown and "w1999" in shown and "w2000" not in shown and "w1997" not in shown
    warning_requests = [
        {k: v[0] for k, v in r["query"].items()}
        for r in diga.requests_for(call_id)
        if r["query"].get("level") == ["WARNING"]
    ]
    assert len(warning_requests) == 2
    assert all(r["order"] == "desc" and int(r["limit"]) <= 100 for r in warning_requests)


async def _run_try(
    holder: Any,
    diga: DigaStandIn,
    redis_url: str,
    call_id: str,
    job_try: int,
    digest: tuple[str, str, str] | None = None,
) -> str:
    """One try of the real job function (or of a digest's flush), as arq runs it, on a
    given rules holder."""
    from arq.connections import ArqRedis

    from alerter.metrics import Metrics
    from alerter.pipeline.decide import NoiseStores
    from alerter.pipeline.fetch import DigaClient
    from alerter.store.episodes import Episodes
    from alerter.store.signature_counts import SignatureCounts
    from alerter.store.silences import Silences
    from alerter.store.windows import Windows
    from alerter.worker.call import process_call
    from alerter.worker.deps import Deps
    from alerter.worker.digest import flush_digest
    from tests.conftest import DIGA_KEY

    client = ArqRedis.from_url(redis_url)
    deps = Deps(
        diga=DigaClient(diga.url, DIGA_KEY, budgets=FAST),
        state=State(client),
        noise=NoiseStores(
            Windows(client), Silences(client), SignatureCounts(client), Episodes(client)
        ),
        sender=deliver.Sender(threads=2, budgets=FAST),
        rules=holder,
        metrics=Metrics(),
        budget=30,
        budgets=FAST,
    )
    try:
        ctx = {"deps": deps, "job_try": job_try, "redis": client, "job_id": keys.call_job(call_id)}
        if digest is not None:
            return await flush_digest(ctx, *digest)
        return await process_call(ctx, CallEnded(call_id=call_id).to_job())
    finally:
        await deps.diga.aclose()
        deps.sender.close()
        await client.aclose()


RENAMED = """
destinations:
  hooks: ${HOOKS}
rules:
  - name: NAME
    match: {category: [TRANSFER]}
    notify: [hooks]
"""


async def test_a_send_queued_before_a_reload_goes_out_as_decided_or_is_recorded_dropped(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    from alerter.rules.reload import RulesHolder

    folder = tmp_path / "rules"
    folder.mkdir()
    env = {"HOOKS": hook_url(hook)}
    (folder / "r.yaml").write_text(RENAMED.replace("NAME", "old-name"))
    holder = RulesHolder(folder, environ=env)
    assert holder.reload("start")
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    # Decided under the old set: its send waits in the outbox.
    assert await _run_try(holder, diga, redis_url, call_id, job_try=1) == "sent"
    assert hook.received == []
    asked = len(diga.requests_for(call_id))
    (folder / "r.yaml").write_text(RENAMED.replace("NAME", "new-name"))
    assert holder.reload("change")  # the rule renamed before the send ran
    await run_worker_until_idle(make_settings(diga.url), holder, redis_url)  # type: ignore[arg-type]
    [message] = hook.wait_for(1)
    assert "old-name" in json.dumps(message) and "new-name" not in json.dumps(message)
    assert len(diga.requests_for(call_id)) == asked  # fetched and decided once

    # A destination gone from the rules (and a process that never held the old set): the
    # send is recorded dropped, not sent elsewhere.
    other = str(uuid.uuid4())
    diga.add_call(other, [make_log(other)])
    assert await _run_try(holder, diga, redis_url, other, job_try=1) == "sent"
    (folder / "r.yaml").write_text(RENAMED.replace("NAME", "n").replace("hooks", "elsewhere"))
    fresh = RulesHolder(folder, environ=env)
    assert fresh.reload("start")
    await run_worker_until_idle(make_settings(diga.url), fresh, redis_url)  # type: ignore[arg-type]
    assert len(hook.received) == 1
    rows = await history(redis_url, other)
    assert [(r.outcome, r.rule, r.destination) for r in rows] == [("dropped", "new-name", "hooks")]
    assert "no longer in the rules" in rows[0].detail


async def test_a_digest_whose_rule_went_away_is_closed_and_recorded(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    from alerter.rules.noise import GroupKey
    from alerter.rules.reload import RulesHolder
    from alerter.store.windows import Windows

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(RENAMED.replace("NAME", "kept"))
    holder = RulesHolder(folder, environ={"HOOKS": hook_url(hook)})
    assert holder.reload("start")
    key = GroupKey(())
    async with aioredis.Redis.from_url(redis_url) as client:
        slot = await Windows(client).add_to_digest(
            "renamed-away", key, "c1", {}, "transfer_failed", "", 60, time.time()
        )
    outcome = await _run_try(
        holder, diga, redis_url, "c1", 1, digest=("renamed-away", key.digest, slot.window)
    )
    assert outcome == "dropped" and hook.received == []
    rows = await history(redis_url, f"digest-{slot.window}")
    assert rows[0].outcome == "dropped" and "1 call(s) not sent" in rows[0].detail
    async with aioredis.Redis.from_url(redis_url) as client:
        assert await client.exists(keys.digest_open("renamed-away", key.digest)) == 0


async def test_a_later_try_that_decides_the_call_ends_its_recorded_failure(
    tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    """An earlier try may have recorded a failure (its write landed, its answer did not):
    the try that decides ends it. A first try has none of its own, and writes no HDEL."""
    from alerter.rules.reload import RulesHolder

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(RENAMED.replace("NAME", "r30"))
    holder = RulesHolder(folder, environ={"HOOKS": hook_url(hook)})
    assert holder.reload("start")
    first, later = str(uuid.uuid4()), str(uuid.uuid4())
    async with aioredis.Redis.from_url(redis_url) as client:
        state = State(client)
        for call_id in (first, later):
            diga.add_call(call_id, [])  # no log: a no-match
            await state.record_failure(CallEnded(call_id=call_id), "error", "lost answer", 1)
        assert await _run_try(holder, diga, redis_url, first, job_try=1) == "no_match"
        assert await _run_try(holder, diga, redis_url, later, job_try=2) == "no_match"
        assert await state.failure(first) is not None
        assert await state.failure(later) is None
