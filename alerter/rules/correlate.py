"""Correlated incidents, the rule half: `correlate: {by: signature, min_groups, within}`.

Once `min_groups` groups of a grouped rule alert with the same failure signature within
`within`, one incident message names every group and later alerts of that signature fold
into it (`correlated`) until `within` passes with none; then the incident's resolved
message. The deciding half is `pipeline/correlate.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alerter.durations import Duration


class CorrelateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Literal["signature"] = "signature"
    min_groups: int = Field(default=3, ge=2)
    within: Duration = 600.0


@dataclass(frozen=True, slots=True)
class Correlate:
    min_groups: int
    within: float  # seconds


def compile_correlate(spec: CorrelateSpec | None, group_by: list[str]) -> Correlate | None:
    """Raises ValueError for a rule that has no groups to correlate."""
    if spec is None:
        return None
    if not group_by:
        raise ValueError("`correlate` joins the alerts of several groups: give `group_by`")
    return Correlate(spec.min_groups, spec.within)
