"""A script's named keys and arguments reach it in the order it reads them."""

from __future__ import annotations

from alerter.store import lua
from alerter.store import scripts as s


def test_named_fields_are_spread_in_declared_order_with_nested_ones_in_place() -> None:
    episode_keys = s.EpisodeKeys("alerter:episode:r:g", "alerter:episodes:due")
    keys = s.FrequencyKeys("w", "f", "d", "k", episode_keys)
    assert lua.flat(keys) == ["w", "f", "d", "k", "alerter:episode:r:g", "alerter:episodes:due"]
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
