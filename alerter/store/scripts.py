"""Each Lua script's KEYS and ARGV by name: a frozen dataclass each, its fields in the order
the script reads them (`lua.Script` spreads them). A field the script no longer reads keeps
its place (and says so): positions are the scripts' contract.

A script that takes a batch (enqueue, flatline_prune) has a tuple field per repeated part,
spread in place; a count the script reads first is a field computed from its tuple, so the
two cannot disagree.

Replies are parsed beside each script's caller (`windows`, `baseline`, `incidents`,
`signature_counts`, `episodes`, `queue`), into typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# -- the episode a window script keeps (episode.lua), last in frequency, rate and baseline


@dataclass(frozen=True, slots=True)
class EpisodeKeys:
    episode: str  # keys.episode
    due: str  # keys.EPISODES_DUE


@dataclass(frozen=True, slots=True)
class EpisodeArgs:
    track: str  # "1": the rule sends resolved messages, keep its episode; "0": none
    labels: str  # the group's labels (JSON)
    due_member: str  # "rule<US>group digest"
    keep_ms: int


# -- throttle.lua


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    state: str
    decision: str


@dataclass(frozen=True, slots=True)
class ThrottleArgs:
    now_ms: int
    interval_ms: int
    decision_seconds: int
    keep_ms: int


# -- group_admit.lua


@dataclass(frozen=True, slots=True)
class GroupAdmitKeys:
    groups: str


@dataclass(frozen=True, slots=True)
class GroupAdmitArgs:
    group: str
    now_ms: int
    keep_ms: int
    max_groups: int


# -- frequency.lua


@dataclass(frozen=True, slots=True)
class FrequencyKeys:
    window: str
    fired: str
    decision: str
    kinds: str
    episode: EpisodeKeys


@dataclass(frozen=True, slots=True)
class FrequencyArgs:
    now_ms: int
    since_ms: int  # not read by the script any more
    call_id: str
    within_ms: int
    count: int
    decision_seconds: int
    kind: str  # "event<US>reason"
    episode: EpisodeArgs


# -- rate.lua


@dataclass(frozen=True, slots=True)
class RateKeys:
    matched: str
    ended: str
    fired: str
    decision: str
    kinds: str
    episode: EpisodeKeys


@dataclass(frozen=True, slots=True)
class RateArgs:
    now_ms: int
    since_ms: int  # not read by the script any more
    call_id: str
    within_ms: int
    rate_ppm: int  # parts per million
    min_calls: int
    decision_seconds: int
    kind: str  # "event<US>reason"
    episode: EpisodeArgs


# -- baseline.lua


@dataclass(frozen=True, slots=True)
class BaselineKeys:
    matched: str
    ended: str
    fired: str
    decision: str
    kinds: str
    group_matched: str  # hourly rings
    group_ended: str
    fleet_matched: str
    fleet_ended: str
    episode: EpisodeKeys


@dataclass(frozen=True, slots=True)
class BaselineArgs:
    now_ms: int
    unused: int  # a place kept: match_window.lua reads ARGV[3] and ARGV[8]
    call_id: str
    within_ms: int
    factor_milli: int
    min_calls: int
    decision_seconds: int
    kind: str  # "event<US>reason"
    hours: int
    slots: int
    ring_keep_ms: int
    episode: EpisodeArgs


# -- digest_add.lua


@dataclass(frozen=True, slots=True)
class DigestAddKeys:
    digest: str
    decision: str


@dataclass(frozen=True, slots=True)
class DigestAddArgs:
    now_ms: int
    new_window: str  # the window's id, should this call open one
    entry: str  # the call's line in the digest (JSON)
    event: str
    reason: str
    calls_cap: int
    decision_seconds: int
    labels: str  # the group's labels (JSON)
    counts_cap: int
    keep_ms: int


# -- correlate.lua


@dataclass(frozen=True, slots=True)
class CorrelateKeys:
    groups: str
    incident: str
    due: str
    decision: str


@dataclass(frozen=True, slots=True)
class CorrelateArgs:
    now_ms: int
    group: str
    within_ms: int
    min_groups: int
    decision_seconds: int
    labels: str  # the incident's labels (JSON)
    due_member: str  # "rule<US>signature digest"
    keep_ms: int


# -- signature.lua


@dataclass(frozen=True, slots=True)
class SignatureKeys:
    seen: str
    calls: str
    day: str
    example: str
    decision: str


@dataclass(frozen=True, slots=True)
class SignatureArgs:
    now_ms: int
    hour_ago_ms: int
    call_id: str
    seen_seconds: int
    digest: str
    per_day: int
    example: str  # the first example's text and labels (JSON)
    decision_seconds: int


# -- digest_take.lua


@dataclass(frozen=True, slots=True)
class DigestTakeKeys:
    open: str  # keys.digest_open
    closed: str  # keys.digest_closed


@dataclass(frozen=True, slots=True)
class DigestTakeArgs:
    window: str


# -- episode_close.lua


@dataclass(frozen=True, slots=True)
class EpisodeCloseKeys:
    episode: str
    due: str  # keys.EPISODES_DUE
    outbox: str  # keys.EPISODES_OUTBOX


@dataclass(frozen=True, slots=True)
class EpisodeCloseArgs:
    now_ms: int
    due_member: bytes  # "rule<US>group digest", as the due list keeps it
    rule: str
    digest: str


# -- flatline.lua


@dataclass(frozen=True, slots=True)
class FlatlineKeys:
    episode: str
    outbox: str  # keys.EPISODES_OUTBOX


@dataclass(frozen=True, slots=True)
class FlatlineArgs:
    action: str  # "open" | "close"
    episode: str  # the episode's id
    note: str  # the outbox note (JSON)
    now_ms: int


# -- flatline_prune.lua: KEYS[i] and ARGV[i] (i > 1) are the same group's


@dataclass(frozen=True, slots=True)
class FlatlinePruneKeys:
    seen: str  # keys.flatline_seen
    episodes: tuple[str, ...]  # each candidate's keys.episode


@dataclass(frozen=True, slots=True)
class FlatlinePruneArgs:
    cutoff_ms: int
    digests: tuple[str, ...]  # each candidate's group digest


# -- enqueue.lua: the queue and the number of calls, then each call's part in turn


@dataclass(frozen=True, slots=True)
class BaselineCounterKeys:
    window: str  # keys.baseline_ended
    group_ring: str
    fleet_ring: str


@dataclass(frozen=True, slots=True)
class EnqueueCallKeys:
    job: str  # arq's job key
    result: str  # arq's result key
    ended: tuple[str, ...]  # failure-rate rules' ended-call counters
    flatline: tuple[str, ...]  # flatline rules' group hashes
    baseline: tuple[BaselineCounterKeys, ...]


@dataclass(frozen=True, slots=True)
class EndedCounterArgs:
    oldest_ms: int  # the oldest score kept
    keep_ms: int


@dataclass(frozen=True, slots=True)
class FlatlineMarkArgs:
    group: str
    labels: str  # JSON
    max_groups: int


@dataclass(frozen=True, slots=True)
class BaselineCounterArgs:
    oldest_ms: int
    keep_ms: int
    slots: int  # the hourly rings' slots
    ring_keep_ms: int


@dataclass(frozen=True, slots=True)
class EnqueueCallArgs:
    counters: int = field(init=False)  # len(ended)
    groups: int = field(init=False)  # len(flatline)
    expires_ms: int
    payload: bytes
    score: int
    job_id: str
    now_ms: int
    call_id: str
    baselines: int = field(init=False)  # len(baseline)
    ended: tuple[EndedCounterArgs, ...]
    flatline: tuple[FlatlineMarkArgs, ...]
    baseline: tuple[BaselineCounterArgs, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "counters", len(self.ended))
        object.__setattr__(self, "groups", len(self.flatline))
        object.__setattr__(self, "baselines", len(self.baseline))


@dataclass(frozen=True, slots=True)
class EnqueueKeys:
    queue: str
    calls: tuple[EnqueueCallKeys, ...]


@dataclass(frozen=True, slots=True)
class EnqueueArgs:
    count: int = field(init=False)  # len(calls)
    calls: tuple[EnqueueCallArgs, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", len(self.calls))
