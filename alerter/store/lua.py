"""Lua scripts, kept as `.lua` files beside this module and read once per process.

A line `--#include NAME` stands for the text of `NAME.lua` (functions two scripts share:
Redis scripts cannot load one another).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_INCLUDE = re.compile(r"^--#include (\w+)$", re.M)


@cache
def source(name: str) -> str:
    """The text of `alerter/store/<name>.lua`, its includes expanded."""
    text = files("alerter.store").joinpath(f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: source(match.group(1)), text)
