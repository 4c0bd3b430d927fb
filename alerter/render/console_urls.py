"""The console's addresses (a call's page, the **Silence…** form prefilled): one builder for
the links alerts carry and the console's own pages and redirects. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from alerter.rules.matchers import literal
from alerter.rules.model import Rule

SILENCE_FORM = "/ui/silences/new"


def call_path(call_id: str) -> str:
    """A call's page; the id escaped whole, so no id can reach another page."""
    return f"/ui/calls/{quote(call_id, safe='')}"


@dataclass(frozen=True, slots=True)
class SilencePrefill:
    """The **Silence…** form's address in parts: a destination that redacts gets it built
    again from redacted values (a redactor cannot read a value once it is percent-escaped)."""

    base: str  # ALERTER_PUBLIC_URL + "/ui/silences/new"
    rule: str
    matchers: tuple[tuple[str, str], ...]  # (field, value): each value matched literally

    @property
    def url(self) -> str:
        return self.base + "?" + prefill_query(self.rule, self.matchers)


def group_labels(rule: Rule, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The (field, value) pairs that pick out one alert's group: the rule's `group_by`
    fields, else the failing event (one failure of one rule, not all of them)."""
    fields = list(rule.noise.group_by) or ["event"]
    return tuple((name, labels[name]) for name in fields if name in labels)


def matchers_text(pairs: Iterable[tuple[str, str]]) -> str:
    """The silence form's Matchers field, one `field=value` a line, every value literal."""
    return "\n".join(f"{name}={literal(value)}" for name, value in pairs)


def prefill_query(rule: str, pairs: Iterable[tuple[str, str]]) -> str:
    return silence_query(rule=rule, matchers=pairs)


def silence_query(
    *, rule: str | None = None, matchers: Iterable[tuple[str, str]] | None = None
) -> str:
    """The silence form's query: the fields given, in the form's order."""
    query = {}
    if rule is not None:
        query["rule"] = rule
    if matchers is not None:
        query["matchers"] = matchers_text(matchers)
    return urlencode(query)


def silence_form_path(
    *, rule: str | None = None, matchers: Iterable[tuple[str, str]] | None = None
) -> str:
    """The console's silence form, prefilled with what is given."""
    return f"{SILENCE_FORM}?{silence_query(rule=rule, matchers=matchers)}"


def silence_path(rule: Rule, labels: Mapping[str, str]) -> str:
    """The console's silence form, prefilled for this alert's rule and group."""
    return silence_form_path(rule=rule.name, matchers=group_labels(rule, labels))


def silence_prefill(public_url: str, rule: Rule, labels: Mapping[str, str]) -> SilencePrefill:
    return SilencePrefill(public_url + SILENCE_FORM, rule.name, group_labels(rule, labels))
