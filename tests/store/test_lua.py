"""Each Lua script beside the store modules, run on the real server through the module that
loads it: its answer, what it writes, and that a second run for the same call counts nothing
twice (the decision key)."""

from __future__ import annotations

import asyncio
import time
import uuid
from importlib.resources import files

from redis.asyncio import Redis

from alerter.models import CallEnded
from alerter.rules.baseline import Baseline
from alerter.rules.noise import GroupKey, Noise
from alerter.store import keys, lua
from alerter.store.baseline import Baselines, ended_counter
from alerter.store.episodes import WHOLE_RULE, Episodes, Note, flatline_note
from alerter.store.incidents import Incidents
from alerter.store.queue import CallQueue
from alerter.store.signature_counts import SignatureCounts
from alerter.store.state import Claim, State
from alerter.store.windows import MAX_GROUPS, OVERFLOW, Windows

COVERED = {
    "enqueue",
    "group_admit",
    "flatline_prune",
    "release",
    "throttle",
    "frequency",
    "rate",
    "digest_add",
    "digest_take",
    "signature",
    "claim",
    "episode_close",
    "flatline",
    "episode",  # included by frequency and rate, run through them
    "outbox_put",
    "failed_send",
    "baseline",
    "ring",  # included by enqueue and baseline, run through them
    "match_window",  # included by rate and baseline, run through them
    "correlate",
    "log",  # tests/store/test_sent.py
}


async def evalsha_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def rule() -> str:
    return f"r-{uuid.uuid4().hex[:8]}"


def test_every_script_has_a_test_here() -> None:
    names = [p.name for p in files("alerter.store").iterdir()]
    assert {name.removesuffix(".lua") for name in names if name.endswith(".lua")} == COVERED
    assert all(lua.source(name).strip() for name in COVERED)
    assert "--#include" not in lua.source("rate") and "keep_episode" in lua.source("rate")


async def test_enqueue_writes_once_and_counts_ended_calls(redis: Redis) -> None:
    queue = CallQueue(redis, settle_seconds=0, queue_name=f"q-{uuid.uuid4().hex[:6]}")
    call = CallEnded(call_id=str(uuid.uuid4()), event="call.ended", fields={})
    counter = keys.rate_ended(rule(), GroupKey(()).digest)
    assert await queue.enqueue(call, ended_counters=[(counter, 60.0)])
    assert not await queue.enqueue(call, ended_counters=[(counter, 60.0)])
    assert await redis.zcard(counter) == 1  # the same call counted once however often it comes


async def test_outbox_put_queues_each_send_once_and_never_over_a_running_one(
    redis: Redis,
) -> None:
    from arq.constants import in_progress_key_prefix, job_key_prefix

    from alerter.store.queue import put_sends

    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    sends = [(f"send:{uuid.uuid4().hex}", b'{"f":"deliver_send"}') for _ in range(2)]
    assert await put_sends(redis, sends, queue_name=queue_name) == 2
    assert await put_sends(redis, sends, queue_name=queue_name) == 0  # a decision run twice
    assert sorted(await redis.zrange(queue_name, 0, -1)) == sorted(j.encode() for j, _ in sends)
    assert await redis.get(job_key_prefix + sends[0][0]) == b'{"f":"deliver_send"}'
    assert await redis.exists(in_progress_key_prefix + sends[0][0]) == 0  # for any worker
    # A send whose job finished (a send's job keeps no result) is queued again: its marker,
    # not the queue, stops a second send.
    await redis.zrem(queue_name, sends[1][0])
    await redis.delete(job_key_prefix + sends[1][0])
    assert await put_sends(redis, sends[1:], queue_name=queue_name) == 1


async def test_outbox_put_claims_the_sends_it_is_asked_to_for_the_worker_putting_them(
    redis: Redis,
) -> None:
    """The first sends asked for are queued already claimed (the lock taken, try 1 counted,
    as claim.lua would): no other worker can start them; the rest are queued for any."""
    from arq.constants import in_progress_key_prefix, retry_key_prefix

    from alerter.store.jobs import JobBook
    from alerter.store.queue import NOT_QUEUED, QUEUED

    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    book = JobBook(redis, queue_name)
    sends = [(f"send:{uuid.uuid4().hex}", f"job {i}".encode()) for i in range(3)]
    score, answers = await book.put_sends(sends, claim=2, lock_ms=60_000)
    assert answers == [1, 1, QUEUED]
    assert [await redis.zscore(queue_name, job_id) for job_id, _ in sends] == [score] * 3
    ids = [job_id for job_id, _ in sends]
    assert [await redis.get(retry_key_prefix + i) for i in ids] == [b"1", b"1", None]
    assert [await redis.exists(in_progress_key_prefix + i) for i in ids] == [1, 1, 0]
    # Polled by a worker: the claimed ones run here already; the third is its to claim.
    claims = await book.claim(ids, score, 60_000)
    assert claims[:2] == [None, None] and claims[2] is not None and claims[2].tries == 1
    # Put again (a decision run twice): nothing queued, nothing claimed.
    assert (await book.put_sends(sends, claim=3, lock_ms=60_000))[1] == [NOT_QUEUED] * 3


async def test_failed_send_keeps_every_send_of_a_call_that_gave_up_once_each(
    redis: Redis,
) -> None:
    from alerter.store.state import FailedSend

    state = State(redis)
    call = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "a1"})
    first = FailedSend("r", "slack-ops", "slack-ops (h): HTTP 503 down", "send:a", "{}")
    second = FailedSend("r", "mail", "mail (m): refused", "send:b", "{}")
    await state.record_send_failure(call, first, 8)
    await state.record_send_failure(call, second, 8)
    await state.record_send_failure(call, first, 8)  # the same send again replaces itself
    failed = await state.failure(call.call_id)
    assert failed is not None and failed.kind == "delivery" and failed.attempts == 8
    assert failed.call.fields == {"agent_id": "a1"}
    assert [s.job_id for s in failed.sends] == ["send:b", "send:a"]
    assert failed.reason == "mail (m): refused; slack-ops (h): HTTP 503 down"
    # Each give-up is one `failed` decision against its rule and destination.
    rows = await state.history(call.call_id)
    assert [(r.outcome, r.destination) for r in rows] == [
        ("failed", "slack-ops"),
        ("failed", "mail"),
        ("failed", "slack-ops"),
    ]


async def test_enqueue_runs_a_batch_of_calls_each_with_its_own_counters_and_groups(
    redis: Redis,
) -> None:
    """Calls that arrive together go in one run of the script; each keeps its own keys and
    arguments however many counters and groups the calls before it in the batch had."""
    queue_name = f"q-{uuid.uuid4().hex[:6]}"
    queue = CallQueue(redis, settle_seconds=0, queue_name=queue_name)
    calls = [CallEnded(call_id=str(uuid.uuid4()), event="call.ended", fields={}) for _ in range(3)]
    counters = [keys.rate_ended(rule(), GroupKey(()).digest) for _ in range(2)]
    groups = [f"flatline-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    baseline = Baseline(factor=2, within=900, over=3 * 3600, min_calls=2)
    counter = ended_counter(rule(), GroupKey((("agent_id", "ag-1"),)), baseline)
    await redis.script_load(lua.source("enqueue"))
    evalsha_before = await evalsha_calls(redis)
    # Enqueued in one turn of the loop: each is on its way as it is made.
    batch = [
        queue.enqueue(calls[0], ended_counters=[(counters[0], 60.0), (counters[1], 10.0)]),
        queue.enqueue(
            calls[1],
            flatline_marks=[(groups[0], "ag-1", '{"agent_id":"ag-1"}')],
            baseline_counters=[counter],
        ),
        queue.enqueue(calls[0], ended_counters=[(counters[1], 10.0)]),  # the same call again
        queue.enqueue(
            calls[2],
            ended_counters=[(counters[1], 10.0)],
            flatline_marks=[(groups[0], "ag-2", "{}"), (groups[1], "", "{}")],
        ),
    ]
    assert await asyncio.gather(*batch) == [True, True, False, True]
    assert await evalsha_calls(redis) == evalsha_before + 1  # one run for the four
    queued = await redis.zrange(queue_name, 0, -1)
    assert sorted(queued) == sorted(keys.call_job(c.call_id).encode() for c in calls)
    assert await redis.zrange(counters[0], 0, -1) == [calls[0].call_id.encode()]
    assert set(await redis.zrange(counters[1], 0, -1)) == {
        calls[0].call_id.encode(),
        calls[2].call_id.encode(),
    }
    assert 0 < await redis.pttl(counters[1]) <= 30_000 < await redis.pttl(counters[0])
    marks = await redis.hgetall(groups[0])
    assert set(marks) == {b"ag-1", b"ag-2"}
    assert marks[b"ag-1"].endswith(b' {"agent_id":"ag-1"}') and marks[b"ag-2"].endswith(b" {}")
    assert list(await redis.hgetall(groups[1])) == [b""]
    # The baseline counter, between one call's group and the next call's counters.
    assert await redis.zrange(counter.window_key, 0, -1) == [calls[1].call_id.encode()]
    for ring in (counter.group_ring, counter.fleet_ring):
        assert [v.split(b":")[1] for v in (await redis.hgetall(ring)).values()] == [b"1"]
        assert 0 < await redis.pttl(ring) <= counter.keep_ms


async def test_claim_takes_due_jobs_once_reads_them_and_finish_clears_them(redis: Redis) -> None:
    from arq.constants import (
        in_progress_key_prefix,
        job_key_prefix,
        result_key_prefix,
        retry_key_prefix,
    )

    from alerter.compat.arq import Claimed
    from alerter.store.jobs import JobBook

    queue = f"q-{uuid.uuid4().hex[:6]}"
    jobs = JobBook(redis, queue)
    now = int(time.time() * 1000)
    await redis.zadd(queue, {"due": now - 5, "later": now + 60_000, "again": now - 7})
    await redis.set(job_key_prefix + "due", b"payload")
    await redis.set(retry_key_prefix + "again", 2)  # tried twice before
    claims = await jobs.claim(["due", "later", "gone", "again"], now, 30_000)
    assert claims == [
        Claimed(now - 5, b"payload", 1),
        None,  # deferred: not yet
        None,  # finished and out of the queue
        Claimed(now - 7, None, 3),  # its job expired: arq records it failed
    ]
    assert 0 < await redis.pttl(in_progress_key_prefix + "due") <= 30_000
    assert 86_400 < await redis.ttl(retry_key_prefix + "due") <= 88_400
    # Not runnable: no lock left behind (the claim takes it first, then gives it back).
    assert (
        await redis.exists(in_progress_key_prefix + "later", in_progress_key_prefix + "gone") == 0
    )
    assert await jobs.claim(["due"], now, 30_000) == [None]  # already running (here or elsewhere)
    assert await redis.get(retry_key_prefix + "due") == b"1"  # a refused claim counts no try
    assert await jobs.claim([], now, 30_000) == []
    await jobs.finish("due", b"done", 60_000, None)
    assert await redis.zscore(queue, "due") is None
    assert await redis.exists(in_progress_key_prefix + "due", job_key_prefix + "due") == 0
    assert await redis.get(result_key_prefix + "due") == b"done"
    assert 0 < await redis.pttl(result_key_prefix + "due") <= 60_000


async def test_release_deletes_only_our_own_claim(redis: Redis) -> None:
    state = State(redis)
    key = keys.sent_marker(str(uuid.uuid4()), "r", "d")
    claim, token = await state.claim(key)
    assert claim is Claim.MINE
    await state.release(key, "sending:someone-else")
    assert await redis.exists(key) == 1
    await state.release(key, token)
    assert await redis.exists(key) == 0


async def test_throttle_sends_then_counts_suppressed(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey((("agent_id", "a"),))
    first = await windows.throttle(name, key, "c1", 60, 1000.0)
    again = await windows.throttle(name, key, "c1", 60, 1001.0)  # the same call: same answer
    second = await windows.throttle(name, key, "c2", 60, 1010.0)
    third = await windows.throttle(name, key, "c3", 60, 1061.0)
    assert first.send and again == first
    assert not second.send and second.suppressed == 1
    assert third.send and third.suppressed == 1 and third.last_sent == 1000.0


async def test_frequency_fires_once_at_the_count(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey(())
    results = [await windows.frequency(name, key, f"c{i}", 60, 3, 1000.0 + i) for i in range(4)]
    assert [r.fire for r in results] == [False, False, True, False]
    assert (await windows.frequency(name, key, "c2", 60, 3, 1010.0)).fire  # remembered


async def test_rate_compares_matched_with_ended(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey(())
    now = time.time()
    for i in range(10):
        await redis.zadd(keys.rate_ended(name, key.digest), {f"e{i}": int(now * 1000)})
    below = await windows.rate(name, key, "m1", 60, 0.2, 5, now)
    fired = await windows.rate(name, key, "m2", 60, 0.2, 5, now)
    assert (below.fire, below.counted, below.total) == (False, 1, 10)
    assert (fired.fire, fired.counted, fired.total) == (True, 2, 10)


async def test_a_rate_episode_opens_counts_its_calls_and_resolves_a_window_after(
    redis: Redis,
) -> None:
    windows, episodes, name = Windows(redis), Episodes(redis), rule()
    key = GroupKey((("agent_id", "a"),))
    now = time.time()
    for i in range(4):
        await redis.zadd(keys.rate_ended(name, key.digest), {f"e{i}": int(now * 1000)})
    opened = await windows.rate(name, key, "m1", 60, 0.2, 2, now, track=True)
    again = await windows.rate(name, key, "m1", 60, 0.2, 2, now, track=True)  # a retry
    later = await windows.rate(name, key, "m2", 60, 0.2, 2, now + 5, track=True)
    assert opened.fire and opened.episode and again == opened
    assert later.episode == opened.episode  # the same episode, one more call covered
    assert await episodes.resolve_due(now + 64) == 0  # held at now + 5: due at now + 65
    assert (
        await redis.zscore(keys.EPISODES_DUE, f"{name}\x1f{key.digest}")
        == round((now + 5) * 1000) + 60_000
    )
    assert await episodes.resolve_due(now + 66) == 1
    assert await episodes.resolve_due(now + 67) == 0  # resolved once
    (note,) = await episodes.outbox()
    assert (note.kind, note.calls, note.id, note.labels) == (
        "resolved",
        2,
        opened.episode,
        (("agent_id", "a"),),
    )
    assert await redis.exists(keys.episode(name, key.digest)) == 0
    await episodes.taken(note)
    assert await redis.zcard(keys.EPISODES_OUTBOX) == 0
    untracked = await windows.rate(name, GroupKey(()), "m3", 60, 0.01, 1, now, track=False)
    assert untracked.fire and untracked.episode == ""


async def test_a_flatline_episode_opens_and_closes_once(redis: Redis) -> None:
    episodes, name = Episodes(redis), rule()
    note = flatline_note("firing", name, "d1", "1000", 1000, 5000, "[]")
    assert await episodes.flatline("open", name, "d1", "1000", note, 5.0)
    assert not await episodes.flatline("open", name, "d1", "1000", note, 6.0)
    assert await episodes.open_ids(name, ["d1", "d2"]) == {"d1": "1000"}
    closing = flatline_note("resolved", name, "d1", "1000", 1000, 9000, "[]")
    assert not await episodes.flatline("close", name, "d1", "999", closing, 9.0)
    assert await episodes.flatline("close", name, "d1", "1000", closing, 9.0)
    assert [n.kind for n in await episodes.outbox()] == ["firing", "resolved"]
    assert Note.parse(closing).job_id == f"episode:{name}:d1:1000:resolved"


async def test_digest_add_then_take_once(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey((("agent_id", "a"),))
    first = await windows.add_to_digest(name, key, "c1", {"call_id": "c1"}, "ev", "why", 60, 1.0)
    second = await windows.add_to_digest(name, key, "c2", {"call_id": "c2"}, "ev", "", 60, 2.0)
    assert first.opened and not second.opened and second.window == first.window
    taken = await windows.take_digest(name, key.digest, first.window)
    assert taken is not None and taken.count == 2 and taken.events == (("ev", 2),)
    assert taken.reasons == (("why", 1),) and taken.labels == (("agent_id", "a"),)
    again = await windows.take_digest(name, key.digest, first.window)  # a retried flush
    assert again == taken
    assert await windows.take_digest(name, key.digest, "other-window") is None


async def test_signature_new_then_known_counted_per_hour(redis: Redis) -> None:
    counts, digest = SignatureCounts(redis), uuid.uuid4().hex[:16]
    now = time.time()
    assert await counts.seen(digest, "TRANSFER x: <n>", "c1", 14, now, "e.g.") == (True, 1)
    assert await counts.seen(digest, "TRANSFER x: <n>", "c1", 14, now, "e.g.") == (True, 1)
    assert await counts.seen(digest, "TRANSFER x: <n>", "c2", 14, now, "e.g.") == (False, 2)
    top = await counts.top(now - 60, now, limit=1000)
    assert ("TRANSFER x: <n>", 2, "e.g.") in top  # c1 counted once


async def test_a_window_keeps_what_its_calls_were_for_the_breakdown(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey((("agent_id", "a"),))
    kinds = [("transfer_failed", "busy"), ("transfer_failed", "timeout"), ("llm_error", "busy")]
    for i, kind in enumerate(kinds):
        await windows.frequency(name, key, f"c{i}", 60, 10, 1000.0 + i, kind)
    await windows.frequency(name, key, "old", 60, 10, 1000.0 - 3600, ("ancient", "x"))  # trimmed
    window = await windows.breakdown(name, key, 60, 1003.0, rate=False)
    assert window.calls == ("c2", "c1", "c0")
    assert window.events == (("transfer_failed", 2), ("llm_error", 1))
    assert window.reasons == (("busy", 2), ("timeout", 1))


async def test_a_rate_fires_whatever_order_its_calls_are_decided_in(redis: Redis) -> None:
    """Jobs run concurrently: the call accepted last may be decided first. The last decision
    sees the window that holds them all, not only the one ending at its own call."""
    windows, name, key = Windows(redis), rule(), GroupKey(())
    base = 1_000_000.0
    for i in range(40):
        await redis.zadd(keys.rate_ended(name, key.digest), {f"e{i}": int((base + i) * 1000)})
    order = [39, 38, 37, 36, 35, 34]  # six failing calls, decided newest first
    results = [await windows.rate(name, key, f"m{i}", 900, 0.15, 40, base + i) for i in order]
    assert [r.fire for r in results] == [False] * 5 + [True]
    assert (results[-1].counted, results[-1].total) == (6, 40)
    # The window counted ends at the newest call; the alert's breakdown reads that window:
    # ending at the deciding call's own time it would miss the five after it.
    assert results[-1].window_end == base + 39
    window = await windows.breakdown(name, key, 900, base + 39, rate=True)
    assert sorted(window.calls) == [f"m{i}" for i in range(34, 40)]


async def test_a_frequency_fires_whatever_order_its_calls_are_decided_in(redis: Redis) -> None:
    windows, name, key = Windows(redis), rule(), GroupKey(())
    results = [await windows.frequency(name, key, f"c{i}", 60, 3, 1000.0 + i) for i in (2, 1, 0)]
    assert [r.fire for r in results] == [False, False, True]
    assert [r.window_end for r in results] == [1002.0, 1002.0, 1002.0]
    window = await windows.breakdown(name, key, 60, 1002.0, rate=False)
    assert sorted(window.calls) == ["c0", "c1", "c2"]


async def mark(redis: Redis, rule: str, group: str) -> bool:
    """A call-ended webhook of `group`, as the intake records it."""
    call = CallEnded(call_id=str(uuid.uuid4()), fields={})
    return await CallQueue(redis, 0).enqueue(
        call, flatline_marks=[(keys.flatline_seen(rule), group, "[]")]
    )


async def test_groups_unseen_for_the_retention_are_dropped_with_their_episodes(
    redis: Redis,
) -> None:
    episodes = Episodes(redis, retention_seconds=60)
    for group in ("old", WHOLE_RULE):
        await mark(redis, "quiet", group)
    await episodes.flatline("open", "quiet", "old", "1", "{}", time.time())
    later = time.time() + 61
    await redis.hset(keys.flatline_seen("quiet"), "fresh", f"{int(later * 1000)} []")
    assert set(await episodes.seen("quiet", later)) == {"fresh", WHOLE_RULE}
    assert set(await redis.hkeys(keys.flatline_seen("quiet"))) == {b"fresh", WHOLE_RULE.encode()}
    assert not await redis.exists(keys.episode("quiet", "old"))
    # Within the retention nothing is dropped.
    assert set(await Episodes(redis, retention_seconds=600).seen("quiet", later)) == {
        "fresh",
        WHOLE_RULE,
    }


async def test_a_rule_keeps_at_most_max_groups(redis: Redis) -> None:
    key = keys.flatline_seen("per-caller")
    await redis.hset(key, mapping={f"g{i}": "1 []" for i in range(MAX_GROUPS)})
    await mark(redis, "per-caller", "one-too-many")
    assert await redis.hlen(key) == MAX_GROUPS
    assert not await redis.hexists(key, "one-too-many")
    await mark(redis, "per-caller", "g7")  # a group it keeps is still updated
    assert (await redis.hget(key, "g7") or b"").decode() != "1 []"


async def test_a_rule_keeps_state_for_at_most_max_groups_then_counts_the_rest_together(
    redis: Redis,
) -> None:
    windows, now, name = Windows(redis), time.time(), rule()
    noise = Noise(group_by=("agent_id",), repeat_interval=3600)
    index = keys.rule_groups(name)
    await redis.zadd(index, {f"g{i}": int(now * 1000) for i in range(MAX_GROUPS - 1)})
    last = GroupKey((("agent_id", "ag-last"),))
    assert await windows.admit(name, last, noise, now) == last  # the last free place
    extra = GroupKey((("agent_id", "ag-extra"),))
    assert await windows.admit(name, extra, noise, now) == OVERFLOW
    assert await windows.admit(name, last, noise, now) == last  # a known group keeps its own
    assert await redis.zcard(index) == MAX_GROUPS
    # Groups whose state expired make room again; rules that keep no state are not counted.
    later = now + 3600 + 7 * 86_400 + 1
    assert await windows.admit(name, extra, noise, later) == extra
    assert await windows.admit(name, extra, Noise(group_by=("agent_id",)), now) == extra


async def test_baseline_rings_count_each_call_once_in_bounded_fields(redis: Redis) -> None:
    name, key = rule(), GroupKey((("agent_id", "ag-1"),))
    baseline = Baseline(factor=2, within=900, over=3 * 3600, min_calls=2)
    clock = [1_795_000_000.0]
    queue = CallQueue(redis, 0, queue_name=f"q-{uuid.uuid4().hex[:6]}", clock=lambda: clock[0])
    counter = ended_counter(name, key, baseline)
    for hour in range(12):  # a call an hour for 12 hours, each webhook sent twice
        clock[0] = 1_795_000_000.0 + hour * 3600
        call = CallEnded(call_id=f"c{hour}", fields={"agent_id": "ag-1"})
        for _ in range(2):
            await queue.enqueue(call, baseline_counters=[counter])
    ring = await redis.hgetall(keys.baseline_ring(name, key.digest, "ended"))
    assert len(ring) == baseline.slots  # bounded: older hours were overwritten
    assert all(value.endswith(b":1") for value in ring.values())  # duplicates counted once
    baselines = Baselines(redis)
    judged = await baselines.judge(name, key, "c11", baseline, clock[0])
    again = await baselines.judge(name, key, "c11", baseline, clock[0])
    assert judged == again  # the decision is kept: nothing counted twice
    # The window holds one ended call (c11, matched); `over` 3 hours of one call each.
    assert (judged.shares.matched, judged.shares.ended) == (1, 1)
    assert (judged.shares.base_matched, judged.shares.base_ended) == (0, 3)
    assert not judged.fire  # one ended call in the window is under min_calls


async def test_correlate_opens_at_min_groups_then_folds_and_counts_each_call_once(
    redis: Redis,
) -> None:
    name, incidents, at = rule(), Incidents(redis), 1_795_000_000.0
    labels = (("incident", "transfer_failed: busy"),)

    async def join(call: str, group: str, t: float) -> tuple[str, int]:
        joined = await incidents.join(name, "sig", group, labels, call, t, within=600, min_groups=3)
        return joined.kind, joined.groups

    assert await join("c1", "ag-1", at) == ("single", 1)
    assert await join("c2", "ag-1", at + 1) == ("single", 1)  # the same group again
    assert await join("c2", "ag-1", at + 1) == ("single", 1)  # the same call: kept
    assert await join("c3", "ag-2", at + 300) == ("single", 2)
    assert await join("c4", "ag-3", at + 602) == ("single", 2)  # ag-1 left the window
    assert await join("c5", "ag-4", at + 603) == ("open", 3)
    assert await join("c6", "ag-1", at + 604) == ("fold", 4)
    assert await redis.zscore(keys.EPISODES_DUE, f"{name}\x1fsig") == (at + 604 + 600) * 1000
