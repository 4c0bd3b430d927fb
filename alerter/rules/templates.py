"""Rule templates (`title`, `summary`, `links`): Jinja2 in a sandbox, checked when rules load,
rendered to plain text that each medium then escapes like any other untrusted text.

A template sees `rule`, `call` (its fields), `log` (the first matching log), `count`,
`signature`, `group` (the rule's `group_by` labels) and `window` (`when` rules). The sandbox
refuses attribute tricks (`__class__`, `mro`, ...); a missing field renders empty; output is
capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import ChainableUndefined, TemplateError, meta

from alerter.rules.sandbox import BoundedSandbox, constant_problem, render_bounded

NAMES = frozenset({"rule", "call", "log", "count", "signature", "group", "window"})
TITLE_CHARS = 250
SUMMARY_CHARS = 1000
LINK_TEXT_CHARS = 75
URL_CHARS = 2000

_ENV = BoundedSandbox(autoescape=False, undefined=ChainableUndefined)


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    limit: int
    one_line: bool = True
    compiled: jinja2.Template | None = field(default=None, compare=False, repr=False)

    def render(self, context: Mapping[str, Any]) -> str:
        """The text, cut to the limit; a template that fails at run time (the sandbox said
        no, a value too large, past its time, a type error) renders empty, and the caller
        keeps its default."""
        try:
            template = self.compiled or _ENV.from_string(self.source)
            text = render_bounded(template, context)
        except (
            TemplateError,
            ArithmeticError,
            TypeError,
            ValueError,
            LookupError,
            RecursionError,
        ):
            return ""
        if self.one_line:
            text = " ".join(text.split())
        return text.strip()[: self.limit]


@dataclass(frozen=True, slots=True)
class LinkTemplate:
    text: Template
    url: Template

    def render(self, context: Mapping[str, Any]) -> tuple[str, str] | None:
        """(text, url), or None when the url it renders is not http(s)."""
        url = self.url.render(context).strip()
        if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
            return None
        return self.text.render(context) or url, url


def compile_template(source: str, limit: int, *, one_line: bool = True) -> Template:
    """Checked now: a syntax error or a name a template cannot see raises ValueError."""
    try:
        parsed = _ENV.parse(source)
        compiled = _ENV.from_string(source)
    except TemplateError as exc:
        raise ValueError(f"template syntax: {exc}") from None
    too_large = constant_problem(parsed)
    if too_large is not None:
        raise ValueError(f"template computes a value too large ({too_large})")
    unknown = sorted(meta.find_undeclared_variables(parsed) - NAMES)
    if unknown:
        raise ValueError(
            f"template names {', '.join(map(repr, unknown))}: a template sees only "
            + ", ".join(sorted(NAMES))
        )
    return Template(source, limit, one_line, compiled)


def compile_link(text: str, url: str) -> LinkTemplate:
    stripped = url.strip()
    if not stripped.startswith(("https://", "http://", "{{")):
        raise ValueError(f"link url {url[:60]!r} must be http(s)")
    return LinkTemplate(compile_template(text, LINK_TEXT_CHARS), compile_template(url, URL_CHARS))
