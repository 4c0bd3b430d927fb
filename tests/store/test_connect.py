"""Redis URLs: plain servers and Sentinel."""

from __future__ import annotations

import pytest

from alerter.store.connect import arq_settings, parse_sentinel


def test_plain_url_is_not_sentinel() -> None:
    assert parse_sentinel("redis://localhost:6379/2") is None
    settings = arq_settings("redis://localhost:6379/2")
    assert (settings.host, settings.port, settings.database, settings.sentinel) == (
        "localhost",
        6379,
        2,
        False,
    )


def test_sentinel_url() -> None:
    target = parse_sentinel(
        "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,10.0.0.3:26380/mymaster/3"
    )
    assert target is not None
    assert target.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26380))
    assert (target.master, target.db, target.password) == ("mymaster", 3, "s3cret")
    settings = arq_settings("redis+sentinel://h1:26379,h2:26379/mymaster")
    assert settings.sentinel and settings.sentinel_master == "mymaster"
    assert settings.host == [("h1", 26379), ("h2", 26379)]
    with pytest.raises(ValueError):
        parse_sentinel("redis+sentinel://h1:26379")
