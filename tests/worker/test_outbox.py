"""The outbox as one worker runs it: the sends it queues and claims in the same script run
at once on its own places, and an accepted send's marker is written once, by whichever of
the sending thread and the event loop can."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from alerter.store import keys
from alerter.store.markers import SENT_TTL_SECONDS, MarkerWriter
from alerter.store.queue import serialize_job
from alerter.worker.app import RecordingWorker, make_worker
from tests.conftest import make_settings, rules_from, run_worker_until_idle
from tests.kit.build import hook_url
from tests.kit.redis import outcomes
from tests.kit.webhook import post_webhook
from tests.standins import DigaStandIn, Receiver, make_log

ONE_RULE = """
destinations:
  hook: ${HOOK}
rules:
  - name: transfer-failed
    match: {category: [TRANSFER]}
    notify: [hook]
"""


# A JSON hook is posted on the event loop, which marks it; with `verify=no` it is apprise's,
# posted and marked on a sending thread.
ON_LOOP_OR_THREAD = pytest.mark.parametrize("query", ["", "?verify=no"], ids=["loop", "thread"])


@ON_LOOP_OR_THREAD
async def test_a_send_marked_the_moment_it_was_accepted_keeps_its_marker_seven_days(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis: Redis,
    redis_url: str,
    query: str,
) -> None:
    """The mark made as the post is accepted (on the loop, or on the sending thread) is the
    only one the marker gets (the history is written alone after it): it must say `sent`
    for as long as the mark with the history would."""
    rules = rules_from(tmp_path, ONE_RULE, {"HOOK": hook_url(hook) + query})
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])
    assert (await post_webhook(api.url, call_id)).status_code == 202
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(hook.wait_for(1)) == 1
    marker = keys.sent_marker(call_id, "transfer-failed", "hook")
    assert await redis.get(marker) == b"sent"
    assert await redis.ttl(marker) > SENT_TTL_SECONDS - 600
    assert await outcomes(redis_url, call_id) == ["sent"]


async def test_a_send_its_thread_could_not_mark_is_marked_from_the_event_loop(
    tmp_path: Path,
    api_for: Any,
    diga: DigaStandIn,
    hook: Receiver,
    redis: Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event loop leaves the marker to the sending thread only when the thread wrote
    it: a failed write there (its own connection down) is made good in the history's trip.
    (`verify=no`: apprise's send, on a thread.)"""
    rules = rules_from(tmp_path, ONE_RULE, {"HOOK": hook_url(hook) + "?verify=no"})
    api = api_for(rules)
    call_id = str(uuid.uuid4())
    diga.add_call(call_id, [make_log(call_id)])

    def down(self: MarkerWriter, key: str) -> None:
        raise RedisConnectionError("the sending thread's connection is down")

    monkeypatch.setattr(MarkerWriter, "__call__", down)
    assert (await post_webhook(api.url, call_id)).status_code == 202
    await run_worker_until_idle(make_settings(diga.url), rules, redis_url)
    assert len(hook.wait_for(1)) == 1
    assert await redis.get(keys.sent_marker(call_id, "transfer-failed", "hook")) == b"sent"
    assert await outcomes(redis_url, call_id) == ["sent"]


async def test_a_worker_runs_at_once_only_the_sends_it_claimed_the_rest_are_the_queues(
    tmp_path: Path, diga: DigaStandIn, redis: Redis, redis_url: str
) -> None:
    """With one place left, the first send is claimed and run here; the second is queued
    unclaimed, for whichever worker polls it first (here none: the worker is idle)."""
    rules = rules_from(tmp_path, ONE_RULE, {"HOOK": "json://127.0.0.1:9/none"})
    settings = make_settings(diga.url, ALERTER_WORKER_JOBS=2)
    worker = make_worker(settings, rules, redis_url, burst=True)
    assert isinstance(worker, RecordingWorker)
    try:
        await asyncio.wait_for(worker.main(), timeout=30)  # an empty queue: the pool is made
        held = await worker.reserve_now(1)  # as a running call job holds its place
        payload = serialize_job({"t": None, "f": "not-a-job", "a": [], "k": {}, "et": 0})
        ids = [f"test-outbox:{uuid.uuid4().hex}:{i}" for i in range(2)]
        assert await worker.put_sends([(job_id, payload) for job_id in ids]) == 2
        assert ids[0] in worker.tasks and ids[1] not in worker.tasks
        await worker.tasks[ids[0]]
        assert await redis.exists(keys.ARQ_IN_PROGRESS + ids[1]) == 0
        assert await redis.zscore(keys.ARQ_QUEUE, ids[1]) is not None
        assert await redis.zscore(keys.ARQ_QUEUE, ids[0]) is None  # run and ended here
        worker.give_back(held)
        assert worker.job_counter == 0
    finally:
        await worker.close()
