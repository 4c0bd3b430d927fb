"""A call's sends, their first try made in the call's own job: in an alert storm, no second
arq job per send (its put, claim, run and finish) when the destination answers at once.

Once a call is decided, its sends are held (`store.outbox.hold`) and, in the same round
trip, the claims of those posted on the event loop (JSON and Slack incoming webhooks, Slack
apps) are taken; those are tried here, all at once, through the send job's own try
(`send.try_send`: post, mark `sent` with its history entry). A try that does not end the
send (refused, no answer, rate limited, another sender's claim) raises the `Retry` the send
job would have raised; the send is then put in the outbox as that job after its try 1
(`store.outbox.put_tried`: due when the `Retry` said, arq's try counter at 1), and goes on
exactly as a send job that failed its first try: its backoff, its tries, its recorded
failure an operator retries. Sends through apprise's threads (e-mail, every other URL) go to
the outbox at once, as before.

Crash windows, each a crash of the worker, the call job's time budget spent, or an error
the guard turns into a retry of the call's job (`tests/worker/test_first_try.py`):

1. Before the hold (fetched, decided, decisions recorded, rendered): nothing was sent. The
   retry decides again and is given the same decisions (each is kept per call and rule,
   `keys.decision`), then holds and tries.
2. Held and claimed, not yet posted: the retry finds the held sends (`resume`) and puts them
   in the outbox without fetching or deciding again; each send job finds this try's claim,
   waits its lease out (`CLAIM_LEASE_SECONDS`), then claims and sends. (Held, its claims not
   taken: Redis runs the trip's commands in order, the hold first; the send jobs send.)
3. Claimed, the post on the wire, or answered but not marked: as 2, and an accepted post is
   marked `sent` on the event loop before the post returns (`Sender.send`'s
   `on_accept_here`), so the send job finds it sent and ends; a post that never landed is
   made after the lease.
4. Tried and refused, the hand-off not yet written: as 2; the hand-off and the retry's put
   are one job id, whichever comes first is the send's one job.
5. Marked sent: the retry's send job finds the marker `sent` and ends without posting.
6. The call job finished: its held sends are deleted with its job's keys, in one DEL
   (`store.jobs`); arq runs a finished job no more, and Diga's redelivery is `duplicate`.
"""

from __future__ import annotations

import asyncio
import logging

from arq import Retry

from alerter.logs import bind
from alerter.store.outbox import held, hold, put_tried
from alerter.store.queue import send_payload
from alerter.worker.deps import Deps
from alerter.worker.guard import backoff
from alerter.worker.send import Send, target, to_outbox, try_send

log = logging.getLogger(__name__)


async def send_decided(deps: Deps, call_id: str, sends: list[Send]) -> int:
    """The call's sends held, then each tried here or put in the outbox; answers how many
    sends there were. An error of Redis's while handing a send on ends the call's try: its
    retry finds the held sends (`resume`)."""
    if not sends:
        return 0
    here: list[Send] = []
    later: list[Send] = []
    for send in sends:
        (here if _posted_here(deps, send) else later).append(send)
    state = deps.state
    jobs = [send.to_job() for send in sends]
    markers = [send.marker for send in here]
    claims = await hold(state.redis, call_id, jobs, markers, state.lease_seconds, state.coalescer)
    if later:
        await to_outbox(deps, later)
    tries = (_first_try(deps, send, claim) for send, claim in zip(here, claims, strict=True))
    ended = await asyncio.gather(*tries, return_exceptions=True)
    for one in ended:
        if isinstance(one, BaseException):
            raise one
    return len(sends)


async def resume(deps: Deps, call_id: str) -> bool:
    """The sends an earlier try of the call's job held, put in the outbox (a send that was
    made finds its marker `sent` there); False when it held none."""
    raw = await held(deps.state.redis, call_id)
    if raw is None:
        return False
    sends = [Send.from_job(one) for one in raw]
    log.info("%d decided send(s) of an earlier try put in the outbox", len(sends))
    if sends:
        await to_outbox(deps, sends)
    return True


def _posted_here(deps: Deps, send: Send) -> bool:
    """Sends posted on the event loop; a send whose destination is gone is dropped here."""
    found = target(deps, send)
    if found is None:
        return True
    destination, url = found
    if destination.slack_app is not None and deps.slack is not None:
        return True
    return deps.sender.posts_on_loop(url)


async def _first_try(deps: Deps, send: Send, claimed: str | None) -> None:
    with bind(rule=send.rule, destination=send.destination):
        try:
            await try_send(deps, send, 1, claimed)
            return
        except Retry as again:
            defer_ms = again.defer_score or 0
        except Exception as exc:
            # As the send job's guard would: another try after its backoff.
            log.warning("first try of a send ended by %s", type(exc).__name__, exc_info=True)
            defer_ms = round(backoff(1, budgets=deps.budgets) * 1000)
        payload = send_payload(send.to_job(), int(deps.clock() * 1000))
        await put_tried(deps.state.redis, send.job_id, payload, defer_ms=defer_ms, tries=1)
