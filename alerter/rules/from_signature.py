"""A rule from a failure signature (pure): the YAML of a shadow rule that matches the logs
that made the signature, to be backtested and then committed to the rules repository.

A signature is `CATEGORY event: text` with the variable parts of the text replaced
(`pipeline.signatures`); the rule matches the category and the event exactly, and the text
by a regular expression in which each replaced part matches any run of characters. The text
is matched on `message_text`, Diga's human line (a log that says its failure only in
`failure_reason` needs that key instead: the YAML says so).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from alerter.rules.load import load_rules_text
from alerter.rules.model import RuleSet

PLACEHOLDERS = re.compile(r"<(?:uuid|email|url|phone|value|id|n)>")
CUT_TEXT = 300  # a signature's text is cut here: the regex is then not anchored at its end
GLOB = re.compile(r"[*?\[]")


def text_pattern(text: str) -> str:
    """The signature's text as a regex: literal parts escaped, whitespace as `\\s+`, each
    replaced part as `.+?`."""
    parts = []
    for i, literal in enumerate(PLACEHOLDERS.split(text)):
        if i:
            parts.append(".+?")
        parts.append(r"\s+".join(re.escape(word) for word in literal.split(" ")))
    end = "" if len(text) >= CUT_TEXT else r"\s*$"
    return r"^\s*" + "".join(parts) + end


def rule_name(digest: str, taken: set[str]) -> str:
    name, n = f"signature-{digest[:8]}", 2
    while name in taken:
        name, n = f"signature-{digest[:8]}-{n}", n + 1
    return name


def rule_for_signature(
    digest: str, signature: str, labels: Mapping[str, str], rules: RuleSet
) -> str:
    """The YAML of one shadow rule (a file of its own, beside the rules in force: it names
    their first destination and no rule's name)."""
    category = labels.get("category") or signature.split(" ", 1)[0]
    event = labels.get("event") or signature.split(" ", 2)[1].rstrip(":")
    head = f"{category} {event}"
    text = signature[len(head) + 2 :] if signature.startswith(head + ": ") else ""
    match: dict[str, Any] = {
        "category": [category],
        # An event name holding glob characters is matched exactly by a regex.
        "event": [f"re:^{re.escape(event)}$" if GLOB.search(event) else event],
    }
    if text:
        match["data"] = {"message_text": {"regex": text_pattern(text)}}
    rule: dict[str, Any] = {
        "name": rule_name(digest, {r.name for r in rules.rules}),
        "mode": "shadow",
        "description": f"Calls failing as: {signature}"[:500],
        "severity": "warning",
        "match": match,
        "notify": sorted(rules.destinations)[:1],
    }
    body = yaml.safe_dump({"rules": [rule]}, sort_keys=False, allow_unicode=True, width=1000)
    return (
        f"# A rule for the failure signature {digest}: shadow mode (recorded, not sent)\n"
        "# until its backtest and its shadow counts look right. The text is matched on\n"
        "# data.message_text; logs that carry it in failure_reason need that key instead.\n" + body
    )


def candidate_beside(rules: RuleSet, text: str) -> RuleSet:
    """A rule file's text loaded as it would be beside the rules in force: their
    destinations defined (after the text, so its lines keep their numbers), never sent to,
    as a backtest sends nothing. Raises RulesInvalid."""
    names = sorted(rules.destinations)
    if not names:
        return load_rules_text(text)
    tail = "".join(f"  {json.dumps(name)}: json://127.0.0.1:9/unused\n" for name in names)
    return load_rules_text(text.rstrip("\n") + "\ndestinations:\n" + tail)
