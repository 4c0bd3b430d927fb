"""Parsed rule files → a `RuleSet`: destinations expanded and checked, rules compiled.

Every problem is appended to `errors` with its file and line; nothing stops at the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerter.rules.conditions import Condition, Predicate, compile_condition, compile_event_pattern
from alerter.rules.correlate import compile_correlate
from alerter.rules.messages import did_you_mean
from alerter.rules.model import (
    SLACK_APP_SCHEME,
    Destination,
    Escalation,
    Rule,
    RuleError,
    RuleSet,
)
from alerter.rules.noise import compile_noise
from alerter.rules.redact import compile_redactor
from alerter.rules.spec import DestinationSpec, ParsedFile, RuleSpec
from alerter.rules.targets import apprise_refusal, expand, slack_app
from alerter.rules.templates import SUMMARY_CHARS, TITLE_CHARS, compile_link, compile_template


def build(
    parsed: list[ParsedFile],
    env: Mapping[str, str],
    errors: list[RuleError],
    version: str,
    *,
    unset_ok: bool = False,
) -> RuleSet:
    """`unset_ok`: a URL naming an unset `${VAR}` is left out instead of an error (`rules
    check --env-optional`, for CI without the real secrets)."""
    destinations, seen_destinations = _build_destinations(parsed, env, errors, unset_ok)
    rules, seen_rules = _build_rules(parsed, seen_destinations, errors)
    _check_inhibitors(parsed, seen_rules, errors)
    return RuleSet(rules=tuple(rules), destinations=destinations, version=version)


def _build_destinations(
    parsed: list[ParsedFile], env: Mapping[str, str], errors: list[RuleError], unset_ok: bool
) -> tuple[dict[str, Destination], dict[str, str]]:
    """Every file's destinations, and where each name was first defined ("file:line")."""
    destinations: dict[str, Destination] = {}
    seen_destinations: dict[str, str] = {}
    for spec in parsed:
        name, lines = spec.name, spec.lines
        for dest_name, raw in spec.destinations.items():
            at = lines.get(("destinations", dest_name), 1)
            if dest_name in seen_destinations:
                errors.append(
                    RuleError(
                        name,
                        at,
                        f"destination {dest_name!r} already defined at "
                        f"{seen_destinations[dest_name]}",
                    )
                )
                continue
            seen_destinations[dest_name] = f"{name}:{at}"
            redactor = None
            if isinstance(raw, DestinationSpec):
                try:
                    redactor = compile_redactor(raw.redact) if raw.redact else None
                except ValueError as exc:
                    errors.append(RuleError(name, at, f"destination {dest_name!r}: {exc}"))
                if raw.slack_app is not None:
                    app = slack_app(dest_name, raw, env, (name, at), errors, unset_ok)
                    urls_of = (SLACK_APP_SCHEME + app.channel,) if app else ()
                    destinations[dest_name] = Destination(dest_name, urls_of, redactor, app)
                    continue
                raw = raw.url or []
            values = [raw] if isinstance(raw, str) else raw
            urls = _destination_urls(dest_name, values, env, (name, at), errors, unset_ok)
            if not values:
                errors.append(RuleError(name, at, f"destination {dest_name!r} has no URL"))
            destinations[dest_name] = Destination(dest_name, tuple(urls), redactor)
    return destinations, seen_destinations


def _destination_urls(
    dest_name: str,
    values: list[str],
    env: Mapping[str, str],
    where: tuple[str, int],
    errors: list[RuleError],
    unset_ok: bool,
) -> list[str]:
    """A destination's URLs with `${VAR}`s expanded, each checked against apprise."""
    name, at = where
    urls: list[str] = []
    for value in values:
        expanded, missing = expand(value, env)
        if missing and unset_ok:
            continue
        for var in missing:
            errors.append(RuleError(name, at, f"destination {dest_name!r}: ${{{var}}} is not set"))
        if not missing:
            if not expanded.strip():
                errors.append(RuleError(name, at, f"destination {dest_name!r} is empty"))
            elif (refusal := apprise_refusal(expanded)) is not None:
                errors.append(
                    RuleError(
                        name,
                        at,
                        f"destination {dest_name!r}: not a URL apprise can send to: " + refusal,
                    )
                )
            urls.append(expanded)
    return urls


def _build_rules(
    parsed: list[ParsedFile], seen_destinations: Mapping[str, str], errors: list[RuleError]
) -> tuple[list[Rule], dict[str, str]]:
    """Every file's rules compiled, and where each name was first defined ("file:line")."""
    rules: list[Rule] = []
    seen_rules: dict[str, str] = {}
    for spec in parsed:
        name, lines = spec.name, spec.lines
        for index, rule in spec.rules:
            at = lines.get(("rules", index), 1)
            if rule.name in seen_rules:
                errors.append(
                    RuleError(
                        name,
                        lines.get(("rules", index, "name"), at),
                        f"rule name {rule.name!r} already used at {seen_rules[rule.name]}",
                    )
                )
            seen_rules[rule.name] = f"{name}:{at}"
            _check_targets(rule, name, lines, index, seen_destinations, errors)
            compiled = _compile_rule(rule, f"{name}:{at}", name, lines, index, errors)
            if compiled is not None:
                rules.append(compiled)
    return rules, seen_rules


def _check_inhibitors(
    parsed: list[ParsedFile], known: Mapping[str, str], errors: list[RuleError]
) -> None:
    """Every `inhibited_by` names another rule of the set (checked once all are read: the
    inhibiting rule may sit in another file)."""
    for spec in parsed:
        for index, rule in spec.rules:
            for position, other in enumerate(rule.inhibited_by):
                at = spec.lines.get(
                    ("rules", index, "inhibited_by", position), spec.lines.get(("rules", index), 1)
                )
                if other == rule.name:
                    errors.append(
                        RuleError(spec.name, at, f"rule {rule.name!r} cannot inhibit itself")
                    )
                elif other not in known:
                    hint = did_you_mean(other, known)
                    errors.append(
                        RuleError(
                            spec.name,
                            at,
                            f"rule {rule.name!r}: inhibited_by {other!r} is not a rule{hint}",
                        )
                    )


def _compile_rule(
    rule: RuleSpec,
    source: str,
    file: str,
    lines: Mapping[tuple[Any, ...], int],
    index: int,
    errors: list[RuleError],
) -> Rule | None:
    ok = True

    def conditions(section: tuple[Any, ...], specs: Mapping[str, Any]) -> tuple[Condition, ...]:
        nonlocal ok
        out = []
        for key, spec in specs.items():
            try:
                out.append(compile_condition(str(key), spec))
            except ValueError as exc:
                ok = False
                line = lines.get((*section, key), lines.get(section, 1))
                errors.append(RuleError(file, line, f"rule {rule.name!r}: {exc}"))
        return tuple(out)

    events: list[Predicate] = []
    for position, pattern in enumerate(rule.match.event or ()):
        try:
            events.append(compile_event_pattern(pattern))
        except ValueError as exc:
            ok = False
            line = lines.get(("rules", index, "match", "event", position), 1)
            errors.append(RuleError(file, line, f"rule {rule.name!r}: {exc}"))
    data = conditions(("rules", index, "match", "data"), rule.match.data)
    call = conditions(("rules", index, "call"), rule.call)
    try:
        noise = compile_noise(
            rule.group_by,
            rule.repeat_interval,
            rule.group_wait,
            rule.group_interval,
            rule.when,
            rule.mute_windows,
            rule.send_resolved,
        )
    except ValueError as exc:
        ok = False
        errors.append(RuleError(file, lines.get(("rules", index), 1), f"rule {rule.name!r}: {exc}"))
    try:
        correlate = compile_correlate(rule.correlate, rule.group_by)
    except ValueError as exc:
        ok, correlate = False, None
        errors.append(RuleError(file, lines.get(("rules", index), 1), f"rule {rule.name!r}: {exc}"))
    if rule.when is not None and rule.when.no_calls is not None:
        ok = _flatline_fits(rule, file, lines.get(("rules", index), 1), errors) and ok
    templates = _templates(rule, file, lines, index, errors)  # reported with the rest
    if not ok or templates is None:
        return None
    return Rule(
        name=rule.name,
        description=rule.description,
        severity=rule.severity,
        levels=frozenset(str(level) for level in rule.match.level),
        categories=frozenset(str(c) for c in rule.match.category) if rule.match.category else None,
        events=tuple(events) if rule.match.event else None,
        data=data,
        call=call,
        min_matches=rule.min_matches,
        notify=tuple(rule.notify),
        source=source,
        noise=noise,
        shadow=rule.mode == "shadow",
        context=rule.context,
        new_signature=rule.new_signature,
        signature_days=rule.signature_days,
        inhibited_by=tuple(rule.inhibited_by),
        escalate=(
            Escalation(rule.escalate.after, tuple(rule.escalate.notify)) if rule.escalate else None
        ),
        correlate=correlate,
        **templates,
    )


# What a flatline rule may say: it watches call-ended webhooks, so it has no logs to match.
_FLATLINE_KEYS = frozenset(
    {
        "name",
        "mode",
        "description",
        "severity",
        "call",
        "notify",
        "group_by",
        "when",
        "send_resolved",
        "mute_windows",
    }
)


def _flatline_fits(rule: RuleSpec, file: str, line: int, errors: list[RuleError]) -> bool:
    extra = sorted(set(rule.model_fields_set) - _FLATLINE_KEYS)
    if extra:
        errors.append(
            RuleError(
                file,
                line,
                f"rule {rule.name!r}: a flatline rule (`no_calls`) watches call-ended webhooks "
                f"and has no logs: {', '.join(repr(k) for k in extra)} cannot be used with it",
            )
        )
    return not extra


def _templates(
    rule: RuleSpec,
    file: str,
    lines: Mapping[tuple[Any, ...], int],
    index: int,
    errors: list[RuleError],
) -> dict[str, Any] | None:
    """The rule's title, summary and links compiled; None (and errors) when one is bad."""
    out: dict[str, Any] = {}
    at = lines.get(("rules", index), 1)
    failed = False
    for key, limit, one_line in (("title", TITLE_CHARS, True), ("summary", SUMMARY_CHARS, False)):
        source = getattr(rule, key)
        if source is None:
            continue
        try:
            out[key] = compile_template(source, limit, one_line=one_line)
        except ValueError as exc:
            failed = True
            line = lines.get(("rules", index, key), at)
            errors.append(RuleError(file, line, f"rule {rule.name!r}: {key}: {exc}"))
    links = []
    for position, link in enumerate(rule.links):
        try:
            links.append(compile_link(link.text, link.url))
        except ValueError as exc:
            failed = True
            line = lines.get(("rules", index, "links", position), at)
            errors.append(RuleError(file, line, f"rule {rule.name!r}: links[{position}]: {exc}"))
    out["links"] = tuple(links)
    return None if failed else out


def _check_targets(
    rule: RuleSpec,
    name: str,
    lines: Mapping[tuple[Any, ...], int],
    index: int,
    defined: Mapping[str, str],
    errors: list[RuleError],
) -> None:
    """Every destination a rule notifies, or escalates to, is defined."""
    at = lines.get(("rules", index), 1)
    targets: list[tuple[tuple[Any, ...], str]] = [
        (("notify", p), t) for p, t in enumerate(rule.notify)
    ]
    if rule.escalate is not None:
        escalated = enumerate(rule.escalate.notify)
        targets += [(("escalate", "notify", p), t) for p, t in escalated]
    for where, target in targets:
        if target not in defined:
            errors.append(
                RuleError(
                    name,
                    lines.get(("rules", index, *where), at),
                    f"rule {rule.name!r}: destination {target!r} is not defined",
                )
            )
