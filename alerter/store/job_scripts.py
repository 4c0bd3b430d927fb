"""KEYS and ARGV by name of the scripts that queue, claim and settle jobs and their sends
(claim, outbox_put, release, failed_send), as `scripts` has the decision scripts': a
frozen dataclass each, its fields in the order the script reads them (`lua.Script`
spreads them, a tuple's items in place). Positions are the scripts' contract; fields are
named at every call (keyword-only), so only their declared order places them.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- claim.lua: the queue, then each job's three keys; ARGV's job ids in the same order


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimJobKeys:
    in_progress: str  # arq's in-progress (lock) key
    job: str
    retry: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimKeys:
    queue: str
    jobs: tuple[ClaimJobKeys, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimArgs:
    now_ms: int  # a job scored later was deferred since it was read: not claimed
    lock_ms: int  # the in-progress lock's life
    job_ids: tuple[str, ...]  # the number of jobs is their count: no count sent


# -- outbox_put.lua: the queue, then each send's three keys (not claim.lua's order);
# ARGV's sends, two values each, after four shared values


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxSendKeys:
    job: str
    in_progress: str
    retry: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPutKeys:
    queue: str
    sends: tuple[OutboxSendKeys, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxSendArgs:
    job_id: str
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxPutArgs:
    expires_ms: int  # the job keys' life
    score: int  # when the jobs are due
    lock_ms: int  # a claimed send's in-progress lock's life
    claims: int  # how many of the first sends to claim as well (0: none)
    sends: tuple[OutboxSendArgs, ...]


# -- release.lua


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseKeys:
    marker: str  # a send's marker, deleted only while it holds this sender's claim token


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseArgs:
    token: str


# -- failed_send.lua


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedSendKeys:
    failed: str  # keys.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedSendArgs:
    call_id: str
    call: str  # the call's job (JSON)
    send: str  # JSON: rule, destination, reason, job_id, payload
    at: float  # now (seconds)
    attempts: int
