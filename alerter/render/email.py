"""E-mail HTML from Jinja2 templates (templates/): an alert's, a digest's, an episode's. Pure.

Autoescape is on for every template here: text from logs, calls and rule templates is
escaped wherever the template puts it, element or attribute, without a call to forget.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from alerter.render.model import SEVERITY_COLOURS, TEXT_ROLES, Alert, more_line


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("alerter.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )


def render_email(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def email_html(alert: Alert) -> str:
    return render_email(
        "alert_email.html",
        alert=alert,
        colour=SEVERITY_COLOURS[alert.severity],
        roles=TEXT_ROLES,
        more=more_line(alert.more),
    )
