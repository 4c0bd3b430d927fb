"""An alert as e-mail HTML, from a Jinja2 template (templates/alert_email.html). Pure.

Autoescape is on for every template here: text from logs, calls and rule templates is
escaped wherever the template puts it, element or attribute, without a call to forget.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from alerter.render.model import SEVERITY_COLOURS, TEXT_ROLES, Alert, more_line


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("alerter.render", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )


def email_html(alert: Alert) -> str:
    return (
        environment()
        .get_template("alert_email.html")
        .render(
            alert=alert,
            colour=SEVERITY_COLOURS[alert.severity],
            roles=TEXT_ROLES,
            more=more_line(alert.more),
        )
    )
