"""A script's named keys and arguments reach it in the order it reads them."""

from __future__ import annotations

from alerter.store import job_scripts as js
from alerter.store import keys, lua
from alerter.store import scripts as s


def test_named_fields_are_spread_in_declared_order_with_nested_ones_in_place() -> None:
    episode_keys = s.EpisodeKeys(keys.episode("r", "g"), keys.EPISODES_DUE)
    named = s.FrequencyKeys("w", "f", "d", "k", episode_keys)
    assert lua.flat(named) == ["w", "f", "d", "k", keys.episode("r", "g"), keys.EPISODES_DUE]
    args = s.FrequencyArgs(1000, 0, "c1", 60_000, 3, 7, "e\x1fr", s.EpisodeArgs("0", "", "", 0))
    assert lua.flat(args) == [1000, 0, "c1", 60_000, 3, 7, "e\x1fr", "0", "", "", 0]


def test_each_window_script_gets_as_many_values_as_it_reads() -> None:
    """The episode's arguments start where each script's Lua says they do (`keep_episode`'s
    `first`): frequency at ARGV[8], rate at 9, baseline at 12; its keys after the others."""
    episode = s.EpisodeArgs("1", "[]", "m", 5)
    frequency = lua.flat(s.FrequencyArgs(0, 0, "", 0, 0, 0, "", episode))
    rate = lua.flat(s.RateArgs(0, 0, "", 0, 0, 0, 0, "", episode))
    baseline = lua.flat(s.BaselineArgs(0, 0, "", 0, 0, 0, 0, "", 0, 0, 0, episode))
    assert frequency.index("1") + 1 == 8 and "ARGV, 8," in lua.source("frequency")
    assert rate.index("1") + 1 == 9 and "ARGV, 9," in lua.source("rate")
    assert baseline.index("1") + 1 == 12 and "ARGV, 12," in lua.source("baseline")


def test_each_window_script_finds_the_episode_keys_where_it_reads_them() -> None:
    episode = s.EpisodeKeys("E", "D")
    frequency = lua.flat(s.FrequencyKeys("", "", "", "", episode))
    rate = lua.flat(s.RateKeys("", "", "", "", "", episode))
    baseline = lua.flat(s.BaselineKeys("", "", "", "", "", "", "", "", "", episode))
    for name, flat, at in (
        ("frequency", frequency, 5),
        ("rate", rate, 6),
        ("baseline", baseline, 10),
    ):
        assert flat.index("E") + 1 == at
        assert f"keep_episode(KEYS[{at}], KEYS[{at + 1}]" in lua.source(name)


def _call(
    n: int, ended: int, groups: int, baselines: int
) -> tuple[s.EnqueueCallKeys, s.EnqueueCallArgs]:
    names = s.EnqueueCallKeys(
        f"job{n}",
        f"result{n}",
        tuple(f"ended{n}.{i}" for i in range(ended)),
        tuple(f"seen{n}.{i}" for i in range(groups)),
        tuple(
            s.BaselineCounterKeys(f"w{n}.{i}", f"g{n}.{i}", f"f{n}.{i}") for i in range(baselines)
        ),
    )
    args = s.EnqueueCallArgs(
        expires_ms=100 + n,
        payload=b"p",
        score=200 + n,
        job_id=f"id{n}",
        now_ms=300 + n,
        call_id=f"c{n}",
        ended=tuple(s.EndedCounterArgs(10 + i, 20 + i) for i in range(ended)),
        flatline=tuple(s.FlatlineMarkArgs(f"grp{i}", "[]", 9) for i in range(groups)),
        baseline=tuple(s.BaselineCounterArgs(30 + i, 40 + i, 24, 50 + i) for i in range(baselines)),
    )
    return names, args


def test_an_enqueue_batch_is_laid_out_call_after_call_as_enqueue_lua_reads_it() -> None:
    """KEYS: the queue, then per call its job, result, counters, group hashes and three keys
    per baseline counter; ARGV: the number of calls, then per call its three counts (in
    their places) and values, then two per counter, three per group, four per baseline."""
    first, second = (
        _call(1, ended=2, groups=0, baselines=1),
        _call(2, ended=0, groups=1, baselines=0),
    )
    named = s.EnqueueKeys("queue", (first[0], second[0]))
    args = s.EnqueueArgs((first[1], second[1]))
    assert lua.flat(named) == [
        "queue",
        *("job1", "result1", "ended1.0", "ended1.1", "w1.0", "g1.0", "f1.0"),
        *("job2", "result2", "seen2.0"),
    ]
    assert lua.flat(args) == [
        2,
        *(2, 0, 101, b"p", 201, "id1", 301, "c1", 1, 10, 20, 11, 21, 30, 40, 24, 50),
        *(0, 1, 102, b"p", 202, "id2", 302, "c2", 0, "grp0", "[]", 9),
    ]
    assert "for c = 1, tonumber(ARGV[1])" in lua.source("enqueue")
    assert "k = k + 2 + counters + groups + 3 * baselines" in lua.source("enqueue")


def test_the_counts_a_batch_script_reads_first_follow_its_parts() -> None:
    """A count is computed from the parts it counts: no caller can send one that disagrees."""
    _, args = _call(1, ended=3, groups=2, baselines=4)
    assert (args.counters, args.groups, args.baselines) == (3, 2, 4)
    assert s.EnqueueArgs((args, args, args)).count == 3
    assert s.EnqueueArgs(()).count == 0


def test_flatline_prune_pairs_each_episode_key_with_its_digest_by_position() -> None:
    names = lua.flat(s.FlatlinePruneKeys("seen", ("episode-a", "episode-b")))
    args = lua.flat(s.FlatlinePruneArgs(1000, ("a", "b")))
    assert names == ["seen", "episode-a", "episode-b"]
    assert args == [1000, "a", "b"]
    assert "redis.call('DEL', KEYS[i])" in lua.source("flatline_prune")


def test_the_episode_and_digest_scripts_get_their_values_where_they_read_them() -> None:
    close = lua.flat(s.EpisodeCloseArgs(5, b"r\x1fd", "r", "d"))
    assert close == [5, b"r\x1fd", "r", "d"]
    assert "rule = ARGV[3], digest = ARGV[4]" in lua.source("episode_close")
    flatline = lua.flat(s.FlatlineArgs("open", "1000", "{}", 7))
    assert flatline == ["open", "1000", "{}", 7]
    assert "redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])" in lua.source("flatline")
    assert lua.flat(s.DigestTakeKeys("open", "closed")) == ["open", "closed"]
    assert "redis.call('RENAME', KEYS[1], KEYS[2])" in lua.source("digest_take")


def test_a_claim_is_laid_out_as_claim_lua_reads_it() -> None:
    """KEYS: the queue, then per job its in-progress, job and retry keys (claim.lua's
    `KEYS[at], KEYS[at + 1], KEYS[at + 2]`); ARGV: now, the lock's life, then the ids."""
    jobs = tuple(
        js.ClaimJobKeys(in_progress=f"lock:{n}", job=f"job:{n}", retry=f"retry:{n}")
        for n in ("a", "b")
    )
    names = lua.flat(js.ClaimKeys(queue="queue", jobs=jobs))
    args = lua.flat(js.ClaimArgs(now_ms=1000, lock_ms=60_000, job_ids=("a", "b")))
    assert names == ["queue", "lock:a", "job:a", "retry:a", "lock:b", "job:b", "retry:b"]
    assert args == [1000, 60_000, "a", "b"]
    source = lua.source("claim")
    assert "local in_progress, job, retry = KEYS[at], KEYS[at + 1], KEYS[at + 2]" in source
    assert "'PX', ARGV[2], 'NX'" in source and "tonumber(ARGV[1])" in source


def test_an_outbox_put_is_laid_out_as_outbox_put_lua_reads_it() -> None:
    """KEYS: the queue, then per send its job, in-progress and retry keys (not claim.lua's
    order); ARGV: expiry, score, lock, claims, then per send its job id and payload."""
    names = js.OutboxPutKeys(
        queue="queue",
        sends=tuple(
            js.OutboxSendKeys(job=f"job:{n}", in_progress=f"lock:{n}", retry=f"retry:{n}")
            for n in ("a", "b")
        ),
    )
    args = js.OutboxPutArgs(
        expires_ms=5,
        score=6,
        lock_ms=7,
        claims=1,
        sends=(
            js.OutboxSendArgs(job_id="a", payload=b"A"),
            js.OutboxSendArgs(job_id="b", payload=b"B"),
        ),
    )
    assert lua.flat(names) == ["queue", "job:a", "lock:a", "retry:a", "job:b", "lock:b", "retry:b"]
    assert lua.flat(args) == [5, 6, 7, 1, "a", b"A", "b", b"B"]
    source = lua.source("outbox_put")
    assert "local job, in_progress, retry = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]" in source
    assert "redis.call('SET', job, ARGV[4 + 2 * i], 'PX', ARGV[1], 'NX')" in source
    assert "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3 + 2 * i])" in source
    assert "local claims = tonumber(ARGV[4])" in source


def test_a_release_and_a_failed_send_get_their_values_where_they_read_them() -> None:
    assert lua.flat(js.ReleaseKeys(marker="marker")) == ["marker"]
    assert lua.flat(js.ReleaseArgs(token="sending:1")) == ["sending:1"]
    assert "redis.call('GET', KEYS[1]) == ARGV[1]" in lua.source("release")
    assert lua.flat(js.FailedSendKeys(failed="failed")) == ["failed"]
    args = js.FailedSendArgs(call_id="c1", call="{}", send='{"job_id": "j"}', at=1.5, attempts=3)
    assert lua.flat(args) == ["c1", "{}", '{"job_id": "j"}', 1.5, 3]
    source = lua.source("failed_send")
    assert "redis.call('HGET', KEYS[1], ARGV[1])" in source
    assert "call = cjson.decode(ARGV[2])" in source and "cjson.decode(ARGV[3])" in source
    assert "record.at = tonumber(ARGV[4])" in source and "tonumber(ARGV[5])" in source


def test_a_quiet_call_is_laid_out_as_its_dataclasses_would_be() -> None:
    """The enqueue's shortcut for a call no rule counts gives the same KEYS and ARGV as the
    dataclasses enqueue.lua's layout is written in."""
    from alerter.store.queue import quiet_entry

    names = s.EnqueueCallKeys(
        job=keys.ARQ_JOB + "id1", result=keys.ARQ_RESULT + "id1", ended=(), flatline=(), baseline=()
    )
    args = s.EnqueueCallArgs(
        expires_ms=101, payload=b"p", score=201, job_id="id1", now_ms=301, call_id="c1",
        ended=(), flatline=(), baseline=(),
    )  # fmt: skip
    assert quiet_entry("id1", 101, b"p", 201, 301, "c1") == (lua.flat(names), lua.flat(args))


def test_any_dataclass_is_laid_out_as_its_fields_read_once_per_class_would_be() -> None:
    """One field, none, a list of dataclasses, text that is a subclass of str, a bool."""
    from dataclasses import dataclass
    from enum import StrEnum

    class Level(StrEnum):
        ERROR = "ERROR"

    @dataclass(frozen=True)
    class One:
        only: object

    @dataclass(frozen=True)
    class Empty:
        pass

    @dataclass(frozen=True)
    class Mixed:
        level: Level
        ok: bool
        parts: list[One]
        none: Empty
        raw: bytes

    mixed = Mixed(Level.ERROR, True, [One("a"), One(2)], Empty(), b"x")
    for _ in range(2):  # made, then read from the class's getter
        assert lua.flat(One("k")) == ["k"] and lua.flat(Empty()) == []
        assert lua.flat(mixed) == [Level.ERROR, True, "a", 2, b"x"]
        assert lua.flat(One((One("a"), "b"))) == ["a", "b"]
