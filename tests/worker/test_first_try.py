"""A send's first try made in its call's own job (`worker.first_try`): no second arq job when
the destination answers, the outbox's tries when it does not, and each crash window of the
module's docstring ending in one alert, the call fetched and decided once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from alerter.pipeline.deliver import Sender
from alerter.store import keys
from alerter.store.markers import MarkerWriter
from alerter.store.state import FailedCall, State
from alerter.worker import call as call_job
from alerter.worker import first_try
from alerter.worker.app import RecordingWorker
from tests.conftest import make_settings, rules_from, run_worker_until_idle
from tests.kit.build import hook_url
from tests.kit.redis import history
from tests.kit.webhook import post_webhook
from tests.standins import DigaStandIn, Fault, Receiver, make_log

ONE_RULE = """
destinations:
  hook: ${HOOK}
rules:
  - name: transfer-failed
    match: {category: [TRANSFER]}
    notify: [hook]
"""
# The call job's time budget is 1 s (a 2 s job timeout): a hung try ends there, as a crash
# ends it, and the job runs again; a claim left behind lapses after 1 s.
CRASHY = {"ALERTER_JOB_TIMEOUT": 2}


async def failure_of(redis_url: str, call_id: str) -> FailedCall | None:
    async with Redis.from_url(redis_url) as client:
        return await State(client).failure(call_id)


def fetched_once(diga: DigaStandIn, call_id: str) -> bool:
    """Each of the call's pages asked once: a second fetch (a second decision) asks again."""
    asked = [sorted(r["query"].items()) for r in diga.requests_for(call_id)]
    return bool(asked) and all(asked.count(one) == 1 for one in asked)


async def one_call(tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver) -> str:
    rules = rules_from(tmp_path, ONE_RULE, {"HOOK": hook_url(hook)})
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    assert (await post_webhook(api.url, call_id)).status_code == 202
    return call_id


async def drain(tmp_path: Path, diga: DigaStandIn, hook: Receiver, redis_url: str) -> None:
    rules = rules_from(tmp_path, ONE_RULE, {"HOOK": hook_url(hook)})
    settings = make_settings(diga.url, **CRASHY)
    await run_worker_until_idle(settings, rules, redis_url, claim_lease_seconds=1)


async def test_an_accepted_first_try_needs_no_send_job_and_leaves_nothing_held(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis: Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queued: list[object] = []
    real = RecordingWorker.put_sends

    async def spy(self: RecordingWorker, sends: Any) -> int:
        queued.extend(sends)
        return await real(self, sends)

    monkeypatch.setattr(RecordingWorker, "put_sends", spy)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert len(hook.wait_for(1)) == 1
    assert queued == []  # sent by the call's job: no job put in the outbox
    assert [row.outcome for row in await history(redis_url, call_id)] == ["sent"]
    assert await redis.get(keys.sent_marker(call_id, "transfer-failed", "hook")) == b"sent"
    assert await redis.exists(keys.held_sends(call_id)) == 0  # deleted with the finished job


async def test_a_refused_first_try_goes_on_in_the_outbox_with_the_same_eight_tries(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis_url: str
) -> None:
    """Try 1 in the call's job, tries 2 to 8 the send job's: one failure after eight, not
    nine, recorded where an operator retries it."""
    hook.inject(*[Fault(500)] * 8)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert hook.received == []
    failed = await failure_of(redis_url, call_id)
    assert failed is not None and failed.kind == "delivery" and failed.attempts == 8
    details = [row.detail for row in await history(redis_url, call_id) if row.outcome == "retrying"]
    assert [d.rsplit("(", 1)[1] for d in reversed(details)] == [
        f"try {n} of 8)" for n in range(1, 8)
    ]
    assert fetched_once(diga, call_id)  # the call fetched once


async def test_a_crash_after_the_hold_and_claim_sends_once_without_deciding_again(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Window 2: held and claimed, the post never made (the try hangs past the job's budget,
    as a dead worker's would never end)."""
    real = Sender.send
    hung: list[int] = []

    async def hangs_once(self: Sender, *args: Any, **kwargs: Any) -> Any:
        if not hung:
            hung.append(len(diga.requests))
            await asyncio.Event().wait()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Sender, "send", hangs_once)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert len(hook.wait_for(1)) == 1 and hung
    assert len(diga.requests) == hung[0]  # the retry neither fetched nor decided again
    assert next(row.outcome for row in await history(redis_url, call_id)) == "sent"


async def test_a_post_on_the_loop_is_marked_from_the_loop_not_the_sending_threads(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis: Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Window 3: the destination accepted, the mark with the history never landed (Redis
    away for the rest of the try), and the sending threads' marker writer out of order: the
    event loop marked the accepted post before the post returned (its own client, no
    thread), so the retry's send job finds it sent and posts nothing again."""
    real = State.mark_sent
    failing = {"on": True}

    async def away(self: State, *args: Any, **kwargs: Any) -> None:
        if failing["on"]:
            raise RedisConnectionError("Redis away")
        await real(self, *args, **kwargs)

    real_resume = first_try.resume

    async def back(*args: Any) -> bool:
        failing["on"] = False
        return await real_resume(*args)

    def no_thread_writes(self: MarkerWriter, key: str) -> None:
        raise RedisConnectionError("the sending threads' writer is not used for this post")

    monkeypatch.setattr(MarkerWriter, "__call__", no_thread_writes)
    monkeypatch.setattr(State, "mark_sent", away)
    monkeypatch.setattr(call_job, "resume", back)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert len(hook.wait_for(1)) == 1
    assert fetched_once(diga, call_id)
    assert await redis.get(keys.sent_marker(call_id, "transfer-failed", "hook")) == b"sent"


async def test_a_crash_before_a_refused_send_is_handed_on_still_sends_it_once(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Window 4: refused on the first try, the try ends before the send reaches the outbox:
    the call job's retry puts it there from the held sends."""
    hook.inject(Fault(500))

    async def lost(*args: Any, **kwargs: Any) -> bool:
        raise RedisConnectionError("the hand-off never reached Redis")

    monkeypatch.setattr(first_try, "put_tried", lost)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert len(hook.wait_for(1)) == 1
    assert fetched_once(diga, call_id)
    assert await failure_of(redis_url, call_id) is None


async def test_a_crash_after_the_send_was_made_neither_sends_nor_decides_again(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Window 5: sent and marked, the call's job ends before it finishes: its retry's send
    job finds the marker and posts nothing."""
    real = first_try.send_decided
    ended: list[int] = []

    async def then_dies(*args: Any) -> int:
        answer = await real(*args)
        if not ended:
            ended.append(answer)
            raise RedisConnectionError("the worker's connection dropped before the finish")
        return answer

    monkeypatch.setattr(call_job, "send_decided", then_dies)
    call_id = await one_call(tmp_path, api_for, diga, hook)
    await drain(tmp_path, diga, hook, redis_url)
    assert ended == [1]
    assert len(hook.wait_for(1)) == 1
    assert fetched_once(diga, call_id)
    assert [row.outcome for row in await history(redis_url, call_id)] == ["sent"]


async def test_a_send_already_marked_sent_is_not_posted_by_a_later_run_of_its_call(
    tmp_path: Path, api_for: Any, diga: DigaStandIn, hook: Receiver, redis: Redis, redis_url: str
) -> None:
    """The claim taken with the hold never overwrites a marker: a call decided again (an
    operator's retry of a call whose send was made) finds it `sent` and posts nothing."""
    call_id = await one_call(tmp_path, api_for, diga, hook)
    marker = keys.sent_marker(call_id, "transfer-failed", "hook")
    await redis.set(marker, b"sent")
    await drain(tmp_path, diga, hook, redis_url)
    assert hook.received == []
    assert await redis.get(marker) == b"sent"
