"""Lua scripts, kept as `.lua` files beside this module and read once per process."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def source(name: str) -> str:
    """The text of `alerter/store/<name>.lua`."""
    return files("alerter.store").joinpath(f"{name}.lua").read_text(encoding="utf-8")
