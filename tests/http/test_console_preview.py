"""The silence preview counts calls: a digest's or an episode's history entries name no
call, and must not swell the "calls looked at" an operator weighs a silence by."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from alerter.http.console.views import preview_silence
from alerter.models import CallEnded, Outcome
from alerter.rules.noise import incident_key
from alerter.store.history import Subject, digest_subject, episode_subject
from alerter.store.ops import Operations
from alerter.store.silences import Silence
from alerter.store.state import State


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _one_call_a_digest_and_an_episode(state: State) -> str:
    call = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "ag-7"})
    await state.evaluated(call, 3, 1, None, {"calls-failing": {"agent_id": "ag-7"}})
    await state.record(call.call_id, Outcome.SENT, rule="calls-failing", destination="slack")
    digest = digest_subject("w1")
    await state.record(digest, Outcome.SENT, rule="calls-failing", destination="slack")
    episode = episode_subject(incident_key("calls-failing", "g1", "1700000000000"), "resolved")
    await state.record(episode, Outcome.SENT, rule="calls-failing", destination="slack")
    return call.call_id


async def test_the_preview_looks_at_calls_not_digests_or_episodes(redis: Redis) -> None:
    state = State(redis)
    await _one_call_a_digest_and_an_episode(state)
    now = time.time()
    silence = Silence("s", "calls-failing", (), now, now + 3600, "")
    assert await preview_silence(state, silence, now) == (1, 1)


async def test_rules_report_matches_calls_not_digests_or_episodes(redis: Redis) -> None:
    state = State(redis)
    await _one_call_a_digest_and_an_episode(state)
    report = await Operations(redis).rules_report(time.time() - 60)
    assert report["calls-failing"]["matched"] == 1
    assert report["calls-failing"]["sent"] == 3


async def test_history_entries_say_what_their_subject_is(redis: Redis) -> None:
    state = State(redis)
    call_id = await _one_call_a_digest_and_an_episode(state)
    rows = await state.history(rule="calls-failing")
    assert [(row.kind, row.outcome) for row in rows] == [
        (Subject.EPISODE, "sent"),
        (Subject.DIGEST, "sent"),
        (Subject.CALL, "sent"),
    ]
    assert rows[-1].subject == call_id and rows[-1].id  # read from the stream: a cursor
    assert rows[-1].fields()["call_id"] == call_id  # the stream's (and the API's) field
