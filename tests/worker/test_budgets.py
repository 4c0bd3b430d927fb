"""The worker's tries and waits are the `Budgets` it is given (`alerter.budgets`): the
guard's tries after errors and its backoff, the call job's waits for a call Diga does not
know yet. (The Sender's timeouts: tests/pipeline/test_webhooks.py; Diga's page and answer
sizes: tests/pipeline/test_fetch.py; all of them through a real worker:
tests/worker/test_stress.py.)"""

from __future__ import annotations

import uuid

import pytest
from arq import Retry

from alerter.budgets import PRODUCTION, Budgets
from alerter.models import CallEnded
from alerter.rules.load import load_rules_text
from alerter.store import keys
from alerter.worker.call import process_call
from alerter.worker.guard import GiveUp, backoff, guarded
from tests.kit.budgets import FAST
from tests.kit.redis import history
from tests.kit.stores import worker_deps
from tests.standins import DigaStandIn


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter() -> None:
    small = Budgets(backoff_base=1.0, backoff_cap=4.0)
    for job_try, top in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0), (12, 4.0)]:
        for _ in range(50):
            assert top / 2 <= backoff(job_try, budgets=small) <= top
    assert 150.0 <= backoff(20, budgets=PRODUCTION) <= 300.0
    # A server's Retry-After wins when it asks for longer, capped all the same.
    assert backoff(1, 30.0, budgets=small) == 30.0


async def test_the_guard_gives_up_after_the_budgets_error_tries() -> None:
    ended: list[GiveUp] = []

    async def broken() -> str:
        raise ValueError("a bug")

    async def give_up(why: GiveUp) -> str:
        ended.append(why)
        return "failed"

    two = Budgets(error_tries=2, backoff_base=0.5, backoff_cap=0.5)
    with pytest.raises(Retry) as retry:
        await guarded(broken, give_up, job_try=1, budget=5, budgets=two)
    assert 250 <= retry.value.defer_score <= 500  # milliseconds, from the budgets' backoff
    assert ended == []
    assert await guarded(broken, give_up, job_try=2, budget=5, budgets=two) == "failed"
    assert ended == [GiveUp("error", "unexpected ValueError")]


async def test_a_call_diga_does_not_know_waits_the_budgets_not_found_delays(
    diga: DigaStandIn, redis_url: str
) -> None:
    waits = Budgets(not_found_delays=(0.25, 0.5, 0.75))
    rules = load_rules_text(
        "destinations: {d: 'json://127.0.0.1:9/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )
    call_id = str(uuid.uuid4())  # never added to the stand-in: 404 CALL_NOT_FOUND
    async with worker_deps(redis_url, diga.url, rules, budgets=waits) as (deps, client):
        for job_try, ms in [(1, 250), (2, 500), (3, 750)]:
            ctx = {"deps": deps, "redis": client, "job_try": job_try}
            ctx["job_id"] = keys.call_job(call_id)
            with pytest.raises(Retry) as retry:
                await process_call(ctx, CallEnded(call_id=call_id).to_job())
            assert retry.value.defer_score == ms
    details = [row.detail for row in await history(redis_url, call_id)]
    assert sum("again in 0.5 s" in detail for detail in details) == 1


def test_the_suites_budgets_differ_from_production_only_in_waits() -> None:
    from dataclasses import replace

    waits = {"backoff_base": 2.0, "backoff_cap": 300.0, "not_found_delays": (10.0, 20.0, 30.0)}
    assert replace(FAST, **waits) == PRODUCTION
