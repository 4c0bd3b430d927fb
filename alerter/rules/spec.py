"""The rule file's YAML shape (pydantic, strict) and its JSON Schema for editors and CI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from alerter.durations import Duration
from alerter.models import FETCHED_LEVELS, LogCategory, LogLevel, Severity
from alerter.rules.correlate import CorrelateSpec
from alerter.rules.noise import MuteWindowSpec, WhenSpec

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

# ---------------------------------------------------------------- the YAML schema


def _as_list(value: object) -> object:
    return [value] if isinstance(value, (str, int, float)) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchSpec(_Spec):
    level: Annotated[list[LogLevel], BeforeValidator(_as_list)] = Field(
        default_factory=lambda: list(FETCHED_LEVELS), min_length=1
    )
    category: Annotated[list[LogCategory] | None, BeforeValidator(_as_list)] = None
    event: Annotated[list[str] | None, BeforeValidator(_as_list)] = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("level")
    @classmethod
    def _fetched(cls, levels: list[LogLevel]) -> list[LogLevel]:
        if not set(levels) & set(FETCHED_LEVELS):
            raise ValueError(
                "only ERROR and CRITICAL logs are fetched: this rule could never match"
            )
        return levels

    @field_validator("category", "event")
    @classmethod
    def _not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("an empty list matches nothing: remove the key to match any")
        return value


class LinkSpec(_Spec):
    text: str = Field(max_length=500)
    url: str = Field(max_length=2000)


class EscalateSpec(_Spec):
    """An alert not acknowledged within `after` also goes to `notify`, once per episode."""

    after: Duration = Field(gt=0)
    notify: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)


class RuleSpec(_Spec):
    name: str = Field(pattern=_NAME, max_length=100)
    # shadow: evaluated and recorded ("would have sent"), never notified: tune before it pages.
    mode: Literal["notify", "shadow"] = "notify"
    description: str = ""
    severity: Severity = Severity.WARNING
    match: MatchSpec = Field(default_factory=MatchSpec)
    call: dict[str, Any] = Field(default_factory=dict)
    min_matches: int = Field(default=1, ge=1)
    notify: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    # WARNING lines just before the call's first failure to show in the alert (fetched then).
    context: int = Field(default=0, ge=0, le=20)
    # Fire only on a failure signature not seen in the last `signature_days` days.
    new_signature: bool = False
    signature_days: float = Field(default=14, gt=0)
    # No alert from this rule for a call on which one of these rules fired (Alertmanager's
    # inhibition, per call): the cause pages, its symptoms do not.
    inhibited_by: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    # Jinja2, sandboxed (rules.templates): what the alert's title and summary say, and links.
    title: str | None = Field(default=None, max_length=2000)
    summary: str | None = Field(default=None, max_length=4000)
    links: list[LinkSpec] = Field(default_factory=list, max_length=10)
    # Noise control (all optional): see README "Noise control".
    group_by: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)
    repeat_interval: Duration | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    when: WhenSpec | None = None
    # A "resolved" message when a `when` condition stops holding (default: on for them).
    send_resolved: bool | None = None
    mute_windows: list[MuteWindowSpec] = Field(default_factory=list)
    escalate: EscalateSpec | None = None
    # One incident when many groups fail alike (rules.correlate).
    correlate: CorrelateSpec | None = None


class SlackAppSpec(_Spec):
    """A Slack app's bot token and the channel (its id: `chat.update` needs one) it posts in."""

    channel: str = Field(min_length=1, max_length=200)
    token: str = Field(min_length=1, max_length=500)


class DestinationSpec(_Spec):
    url: str | list[str] | None = None
    slack_app: SlackAppSpec | None = None
    # Removed from everything rendered for this destination: phone, email, digits, or a regex.
    redact: Annotated[list[str], BeforeValidator(_as_list)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> DestinationSpec:
        if (self.url is None) == (self.slack_app is None):
            raise ValueError("a destination has either `url` or `slack_app`, not both or neither")
        return self


class RuleFileSpec(_Spec):
    """A file's outer shape; each rule is validated on its own so one bad rule hides no other."""

    destinations: dict[str, str | list[str] | DestinationSpec] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    name: str
    destinations: Mapping[str, str | list[str] | DestinationSpec]
    rules: list[tuple[int, RuleSpec]]  # (position in the file, rule)
    lines: Mapping[tuple[Any, ...], int]


def rules_schema() -> dict[str, Any]:
    """JSON Schema of a rule file, for editors (YAML language server) and CI."""
    rule = RuleSpec.model_json_schema(ref_template="#/$defs/{model}")
    defs = rule.pop("$defs", {})
    defs["Rule"] = rule
    destination = DestinationSpec.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(destination.pop("$defs", {}))
    defs["Destination"] = destination
    urls = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "alerter rule file",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "destinations": {
                "type": "object",
                "description": "name -> apprise URL(s), or {url, redact}, or {slack_app: "
                "{channel, token}, redact}; ${VAR} reads the environment",
                "additionalProperties": {
                    "anyOf": [*urls["anyOf"], {"$ref": "#/$defs/Destination"}]
                },
            },
            "rules": {"type": "array", "items": {"$ref": "#/$defs/Rule"}},
        },
        "$defs": defs,
    }
