"""Compiled rules: what the pipeline reads. Made by `compile` from the specs in `spec`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from alerter.models import Severity
from alerter.rules.conditions import Condition, Predicate
from alerter.rules.correlate import Correlate
from alerter.rules.noise import Noise
from alerter.rules.redact import Redactor
from alerter.rules.templates import LinkTemplate, Template

# ---------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True, order=True)
class RuleError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RulesInvalid(Exception):
    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# ---------------------------------------------------------------- compiled forms


@dataclass(frozen=True, slots=True)
class SlackApp:
    """A `slack_app` destination: posts with a bot token through Slack's Web API."""

    channel: str
    token: str = field(repr=False)  # a secret: never printed


SLACK_APP_SCHEME = "slack-app://"  # a Slack app's one URL: names its channel, not its token


@dataclass(frozen=True, slots=True)
class Destination:
    name: str
    urls: tuple[str, ...] = field(repr=False)  # apprise URLs carry secrets: never printed
    redactor: Redactor | None = None
    slack_app: SlackApp | None = None  # set: `urls` is its one `slack-app://CHANNEL`


@dataclass(frozen=True, slots=True)
class Escalation:
    after: float  # seconds an alert may stay unacknowledged
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    severity: Severity
    levels: frozenset[str]
    categories: frozenset[str] | None
    events: tuple[Predicate, ...] | None
    data: tuple[Condition, ...]
    call: tuple[Condition, ...]
    min_matches: int
    notify: tuple[str, ...]
    source: str  # file:line of the rule, for operators
    noise: Noise = field(default_factory=Noise)
    shadow: bool = False
    context: int = 0
    new_signature: bool = False
    signature_days: float = 14
    inhibited_by: tuple[str, ...] = ()  # rules whose firing on the same call silences this one
    title: Template | None = None
    summary: Template | None = None
    links: tuple[LinkTemplate, ...] = ()
    escalate: Escalation | None = None
    correlate: Correlate | None = None  # one incident when many groups fail alike


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    destinations: Mapping[str, Destination]
    version: str  # hash of the files' text: tells operators which set is loaded

    @cached_property
    def by_name(self) -> Mapping[str, Rule]:
        return {rule.name: rule for rule in self.rules}

    @cached_property
    def rate_rules(self) -> tuple[Rule, ...]:
        """Rules whose ended calls the api counts on intake."""
        return tuple(rule for rule in self.rules if rule.noise.rate is not None)

    @cached_property
    def baseline_rules(self) -> tuple[Rule, ...]:
        """Rules whose ended calls the api counts on intake, in hourly rings too."""
        return tuple(rule for rule in self.rules if rule.noise.baseline is not None)

    @cached_property
    def flatline_rules(self) -> tuple[Rule, ...]:
        """Rules that fire on the absence of calls: seen on intake, checked by the tick."""
        return tuple(rule for rule in self.rules if rule.noise.no_calls is not None)

    @cached_property
    def log_rules(self) -> tuple[Rule, ...]:
        """Rules evaluated on a call's logs (every rule but flatline rules)."""
        return tuple(rule for rule in self.rules if rule.noise.no_calls is None)
