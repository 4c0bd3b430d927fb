"""An alert as a destination that redacts sees it: personal data out of every text it
shows. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from alerter.render.links import checked_links, redacted_link
from alerter.render.model import Alert, Excerpt
from alerter.rules.redact import Redactor


def redacted(alert: Alert, redactor: Redactor) -> Alert:
    """The alert with personal data removed from every text it shows, links and the
    Silence… prefill included. Call ids are kept (in titles and urls too): they carry no
    personal data and are what an operator looks up."""
    r = redactor.keeping(alert.call_id)
    return dataclasses.replace(
        alert,
        description=r(alert.description),
        call_fields=tuple((r(key), r(value)) for key, value in alert.call_fields),
        excerpts=tuple(redacted_excerpt(x, r) for x in alert.excerpts),
        note=r(alert.note) if alert.note else None,
        headline=r(alert.headline) if alert.headline else None,
        # Redaction can lengthen a url ("[redacted]" escaped): checked again as it leaves.
        links=checked_links(alert.rule, (redacted_link(link, r) for link in alert.links)),
    )


def redacted_excerpt(x: Excerpt, r: Callable[[str], str]) -> Excerpt:
    return dataclasses.replace(
        x,
        event=r(x.event),
        text=r(x.text) if x.text else None,
        trace_id=r(x.trace_id) if x.trace_id else None,
    )
