"""Links in alerts: a rule's templated links and the console's (the call's page, the
**Silence…** form prefilled with literal values). Pure but for one WARNING per link left out.

Every link is checked as it will leave, after rendering and after redaction: http(s) only,
with a host, no user name or password, at most 2,000 characters. One that breaks a rule is
left out whole, never cut (a cut URL is a broken one, or a different one).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

from alerter.render.console_urls import SilencePrefill, call_path, silence_prefill
from alerter.rules.model import Rule

log = logging.getLogger(__name__)

URL_CHARS = 2000
# RFC 3986's reserved characters and '%': what a URL may hold as it is; anything else
# (spaces, quotes, '<', non-ASCII) is percent-escaped, so every medium gets a valid URL.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    url: str  # http(s) only: see `checked_links`
    prefill: SilencePrefill | None = None


def console_links(
    public_url: str | None, call_id: str, rule: Rule, labels: Mapping[str, str]
) -> tuple[Link, ...]:
    """With `ALERTER_PUBLIC_URL`: the call's page and the prefilled silence form."""
    if not public_url:
        return ()
    prefill = silence_prefill(public_url, rule, labels)
    return (
        Link("Open in alerter", public_url + call_path(call_id)),
        Link("Silence…", prefill.url, prefill),
    )


def templated_links(rule: Rule, seen: Mapping[str, Any]) -> tuple[Link, ...]:
    """The rule's links rendered as they are (checked later, with every other link). The url
    template may give one character over the limit: a longer url is left out, never cut."""
    out = []
    for template in rule.links:
        url = dataclasses.replace(template.url, limit=URL_CHARS + 1).render(seen)
        out.append(Link(template.text.render(seen) or url, url))
    return tuple(out)


def checked_links(rule: str, links: Iterable[Link]) -> tuple[Link, ...]:
    """The links that may leave, with characters a URL cannot hold escaped; each one left
    out is said in a WARNING naming the rule, the link's place and why (never its url or
    text: they may hold log text or personal data)."""
    out = []
    for position, link in enumerate(links, 1):
        url = _BARE_PERCENT.sub("%25", quote(link.url, safe=_URL_SAFE))
        problem = url_problem(url)
        if problem is not None:
            log.warning("rule %s: link %d left out: %s", rule, position, problem)
            continue
        out.append(dataclasses.replace(link, url=url))
    return tuple(out)


def url_problem(url: str) -> str | None:
    """Why `url` may not leave in an alert, or None."""
    if not url:
        return "its url rendered empty"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        return "its url is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "its url is not http(s)"
    if "@" in parts.netloc:
        return "its url holds a user name or password"
    if not parts.hostname:
        return "its url names no host"
    if len(url) > URL_CHARS:
        return f"its url is {len(url)} characters, over {URL_CHARS}"
    return None


Redact = Callable[[str], str]


def redacted_link(link: Link, r: Redact) -> Link:
    """The link with personal data removed from its text and url. The url's host is kept
    (an operator's configuration, not data); path, query and fragment are read unescaped,
    redacted, and escaped again; a prefilled silence is built again from redacted values."""
    if link.prefill is not None:
        matchers = tuple((name, r(value)) for name, value in link.prefill.matchers)
        prefill = dataclasses.replace(link.prefill, matchers=matchers)
        return Link(r(link.text), prefill.url, prefill)
    return Link(r(link.text), redacted_url(link.url, r))


def redacted_url(url: str, r: Redact) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return r(url)  # not a URL: the check after redaction leaves it out
    path = "/".join(_redacted_piece(piece, r) for piece in parts.path.split("/"))
    query = "&".join(_redacted_pair(pair, r) for pair in parts.query.split("&"))
    fragment = _redacted_piece(parts.fragment, r)
    return urlunsplit((parts.scheme, parts.netloc, path, query, fragment))


def _redacted_pair(pair: str, r: Redact) -> str:
    if "=" not in pair:
        return _redacted_piece(pair, r)
    key, value = pair.split("=", 1)
    return f"{_redacted_piece(key, r)}={_redacted_piece(value, r)}"


def _redacted_piece(piece: str, r: Redact) -> str:
    """One piece of a URL, as it was when redaction changes nothing (its escapes kept).
    Read with `+` as a space, as forms write one: `+34+600+123+456` is a phone number."""
    plain = unquote_plus(piece)
    shown = r(plain)
    return piece if shown == plain else quote(shown, safe="")
