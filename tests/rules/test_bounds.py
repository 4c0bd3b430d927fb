"""Bounds on rule text, on both YAML loaders: libyaml's (used when PyYAML has it) and the
pure-Python one that bounds nesting itself."""

from __future__ import annotations

import time

import pytest
import yaml

from alerter.rules import bounds
from alerter.rules.bounds import MAX_DEPTH, TextRefused, check_values, compose


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(bounds, "_FastLoader", None)
    elif bounds._FastLoader is None:
        pytest.skip("PyYAML was built without libyaml here")
    return str(request.param)


@pytest.mark.parametrize(
    "text", ["[" * 200_000, "{a: " * 100_000, "- " * 50_000 + "x"], ids=["flow", "map", "block"]
)
def test_deep_nesting_is_refused_at_once(loader: str, text: str) -> None:
    started = time.monotonic()
    with pytest.raises((TextRefused, yaml.YAMLError)):
        node = compose(text)
        assert node is not None
        check_values(node, aliases=True)
    assert time.monotonic() - started < 2


def test_nesting_up_to_the_bound_is_read(loader: str) -> None:
    depth = MAX_DEPTH - 1
    node = compose("[" * depth + "x" + "]" * depth)
    assert node is not None and check_values(node, aliases=False) == depth + 1


def test_aliases_count_once_per_use_and_are_refused_where_not_allowed() -> None:
    node = compose("a: &a [1, 2, 3]\nb: *a\nc: *a\n")
    assert node is not None
    assert (
        check_values(node, aliases=True) == 1 + 3 + 3 * 4
    )  # the mapping, its keys, each list (and its items)
    with pytest.raises(TextRefused, match="aliases"):
        check_values(node, aliases=False)
