"""Every Redis key name the project writes or reads, in one place.

The strings are the deployment's data: a running one upgrades without a migration, so a name
here never changes (tests/store/test_keys.py pins each shape). Functions are named for what
the key holds; arguments are the parts the key is made of (digests, not group keys: this
module imports nothing of the project).
"""

from __future__ import annotations

ROOT = "alerter:"

# -- calls: records, timelines, counts (store.calls)
CALLS = ROOT + "calls"  # sorted set: call id -> when accepted (the backtest's index)
# hash: `rule:<name>` -> when the rule last sent (or would have), `destination:<name>` -> its
# last delivery's result: one HSET per send for both (issue 30). The two hashes before it are
# read under it (`LAST_FIRED`, `DESTINATIONS_LAST`): a running deployment's values stay shown.
LAST = ROOT + "last"
LAST_RULE = "rule:"  # LAST's field prefixes
LAST_DESTINATION = "destination:"
LAST_FIRED = ROOT + "rules:last_fired"  # hash: rule -> when it last sent; read, no longer written


def call_record(call_id: str) -> str:
    """The call (id, fields, accepted time, first events) as JSON."""
    return f"{ROOT}call:{call_id}"


def call_events(call_id: str) -> str:
    """The call's later timeline events: a list of JSON events."""
    return f"{ROOT}call:{call_id}:events"


def outcome_counts(bucket: int) -> str:
    """A 10-minute bucket's counts by "rule|outcome" (hash)."""
    return f"{ROOT}counts:{bucket}"


def matched_calls(rule: str, bucket: int) -> str:
    """A HyperLogLog of the calls a rule fired on in a 10-minute bucket."""
    return f"{ROOT}matched:{rule}:{bucket}"


# -- decisions, failures, destinations (store.state)
HISTORY = ROOT + "history"  # stream of every decision
FAILED = ROOT + "failed"  # hash: call id -> its recorded failure
DESTINATIONS_LAST = ROOT + "destinations:last"  # hash: destination -> last result; read only
AUDIT = ROOT + "audit"  # stream of operator changes
WORKERS = ROOT + "workers"  # sorted set: worker name -> its last heartbeat

SENT_PREFIX = ROOT + "sent:"


def sent_marker(call_id: str, rule: str, destination: str, url: str | None = None) -> str:
    """A send's marker per (subject, rule, destination), and per URL id when a destination
    has several (`markers.url_id`: never the URL, it holds secrets)."""
    key = f"{SENT_PREFIX}{call_id}:{rule}:{destination}"
    return key if url is None else f"{key}:{url}"


# -- noise windows and decisions (store.windows, baseline, signature_counts, incidents)
def decision(call_id: str, rule: str, step: str) -> str:
    """A decision one script took for (call, rule, step), kept so a retry gets it again."""
    return f"{ROOT}decision:{call_id}:{rule}:{step}"


def rule_groups(rule: str) -> str:
    """Sorted set: a rule's live groups -> when each was last seen (its group cap)."""
    return f"{ROOT}groups:{rule}"


def throttle(rule: str, digest: str) -> str:
    return f"{ROOT}throttle:{rule}:{digest}"


def frequency_window(rule: str, digest: str) -> str:
    """Sorted set: a frequency rule's counted calls by event time."""
    return f"{ROOT}freq:{rule}:{digest}"


def frequency_fired(rule: str, digest: str) -> str:
    return f"{frequency_window(rule, digest)}:fired"


def frequency_kinds(rule: str, digest: str) -> str:
    """Hash: each counted call's "event<US>reason" (the alert's breakdown)."""
    return f"{frequency_window(rule, digest)}:calls"


def _rate(rule: str, digest: str) -> str:
    return f"{ROOT}rate:{rule}:{digest}"


def rate_matched(rule: str, digest: str) -> str:
    return f"{_rate(rule, digest)}:matched"


def rate_ended(rule: str, digest: str) -> str:
    """Sorted set: calls ended per (rate or baseline rule, group), written on intake."""
    return f"{_rate(rule, digest)}:ended"


def rate_fired(rule: str, digest: str) -> str:
    return f"{_rate(rule, digest)}:fired"


def rate_kinds(rule: str, digest: str) -> str:
    """Hash: each matched call's "event<US>reason" (the alert's breakdown)."""
    return f"{_rate(rule, digest)}:calls"


def baseline_ring(rule: str, group: str, what: str) -> str:
    """Hourly ring of a baseline rule's `what` ("matched" | "ended") calls, per group digest
    or for the fleet."""
    return f"{ROOT}baseline:{rule}:{group}:{what}"


def baseline_fired(rule: str, digest: str) -> str:
    return f"{ROOT}baseline:{rule}:{digest}:fired"


def digest_open(rule: str, digest: str) -> str:
    """Hash: a digest rule's open window (its calls, counts, labels)."""
    return f"{ROOT}digest:{rule}:{digest}"


def digest_closed(rule: str, digest: str, window: str) -> str:
    """The window being sent, renamed from `digest_open` once."""
    return f"{digest_open(rule, digest)}:closed:{window}"


def digest_sent(rule: str, digest: str) -> str:
    """When the group's last digest was sent (ms)."""
    return f"{ROOT}digest-sent:{rule}:{digest}"


def signature_seen(digest: str) -> str:
    return f"{ROOT}sig:seen:{digest}"


def signature_calls(digest: str) -> str:
    """Sorted set: calls that carried a signature in the last hour (by time, in ms; trimmed
    once a minute, so read by score)."""
    return f"{ROOT}sig:calls:{digest}"


def signatures_of_day(day: str) -> str:
    """Sorted set: a day's (`%Y%m%d`, UTC) signatures by count."""
    return f"{ROOT}sigs:{day}"


def signature_example(digest: str) -> str:
    return f"{ROOT}sig:example:{digest}"


def incident_groups(rule: str, digest: str) -> str:
    """Sorted set: the groups that alerted with a (rule, signature) incident, by time."""
    return f"{ROOT}incident:{rule}:{digest}:groups"


# -- episodes (store.episodes)
EPISODES_DUE = ROOT + "episodes:due"  # sorted set: open episodes by when they would resolve
EPISODES_OUTBOX = ROOT + "episodes:outbox"  # sorted set: notes to send


def episode(rule: str, digest: str) -> str:
    """Hash: a (rule, group)'s open episode."""
    return f"{ROOT}episode:{rule}:{digest}"


def episode_notified(rule: str, digest: str, episode_id: str) -> str:
    return f"{episode(rule, digest)}:{episode_id}:notified"


def flatline_seen(rule: str) -> str:
    """Hash: a flatline rule's groups -> when each last had a call, written on intake."""
    return f"{ROOT}flatline:{rule}:seen"


def flatline_muted(rule: str) -> str:
    return f"{ROOT}flatline:{rule}:muted"


# -- silences (store.silences)
SILENCES = ROOT + "silences"  # set: silence ids


def silence(silence_id: str) -> str:
    return f"{ROOT}silence:{silence_id}"


def silence_hits(silence_id: str) -> str:
    return f"{ROOT}silence:{silence_id}:hits"


# -- Slack threads, acknowledgements and escalations (store.slack)
SLACK = ROOT + "slack:"
SLACK_ESCALATIONS = SLACK + "escalations"  # sorted set: episode key -> when it is due


def slack_thread(thread: str, destination: str) -> str:
    return f"{SLACK}thread:{thread}:{destination}"


def slack_first_post(thread: str, destination: str) -> str:
    return f"{SLACK}posting:{thread}:{destination}"


def slack_escalated(thread: str) -> str:
    return f"{SLACK}escalated:{thread}"


def slack_escalation(thread: str) -> str:
    return f"{SLACK}escalation:{thread}"


def ack(rule: str, group: str) -> str:
    return f"{ROOT}ack:{rule}:{group}"


# -- the console's sign-in (store.console_auth)
CONSOLE_TOKENS = ROOT + "console:tokens"  # hash: token digest -> {name, role, created}


def console_session(session_digest: str) -> str:
    return f"{ROOT}console:session:{session_digest}"


def console_failures(address: str) -> str:
    return f"{ROOT}console:failures:{address}"


# -- arq's layout: its names, not ours, written here once (test_keys checks them against
# arq's own constants). Our jobs' ids are ours.
ARQ_QUEUE = "arq:queue"
ARQ_JOB = "arq:job:"
ARQ_RESULT = "arq:result:"
ARQ_IN_PROGRESS = "arq:in-progress:"
ARQ_RETRY = "arq:retry:"
CALL_JOB_PREFIX = "call:"
SEND_JOB_PREFIX = "send:"


def arq_health_check(worker: str, queue: str = ARQ_QUEUE) -> str:
    """One heartbeat key per worker (arq's default is one for every worker of a queue)."""
    return f"{queue}:health-check:{worker}"


def call_job(call_id: str) -> str:
    """A call's job id: one job per call, so a redelivered webhook is a duplicate."""
    return CALL_JOB_PREFIX + call_id


def held_sends(call_id: str) -> str:
    """A call's decided sends, held while its own job makes their first tries
    (`store.outbox`); gone when the call's job finishes."""
    return f"{ROOT}held:{call_id}"


def send_job(marker: str) -> str:
    """An outbox send's job id, named for its marker (queued twice, it is still one job)."""
    return SEND_JOB_PREFIX + marker.removeprefix(SENT_PREFIX)


def episode_job(rule: str, digest: str, episode_id: str, kind: str) -> str:
    return f"episode:{rule}:{digest}:{episode_id}:{kind}"
