"""What every console page shares: the template environment and its filters (times as
UTC text, sparklines, hourly charts), the page response, redirects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request
from litestar.datastructures import State as AppState
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from alerter.http.console import views
from alerter.http.console.actions import Console
from alerter.http.console.charts import hour_chart
from alerter.models import Outcome
from alerter.render.console_urls import call_path

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
OUTCOMES = tuple(o.value for o in Outcome)


def console_of(request: Request[Any, Any, AppState]) -> Console:
    console: Console = request.app.state.console
    return console


# ---------------------------------------------------------------- template helpers


def when(ts: float | None) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ts: float | None, now: float) -> str:
    """How long before `now` (the page's: its clock's) `ts` was, or how long after."""
    if not ts:
        return ""
    delta = now - ts
    future = delta < 0
    delta = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= size:
            text = f"{int(delta // size)} {unit}"
            break
    else:
        text = f"{int(delta)} s"
    return f"in {text}" if future else f"{text} ago"


def detail_text(detail: Mapping[str, Any]) -> str:
    """An audit entry's detail as `name: value` pairs; times (names ending `_at`) as UTC
    text, never the epoch seconds they are stored as."""
    parts = []
    for name, value in detail.items():
        if name.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
            shown = when(value)
        elif isinstance(value, list | tuple):
            shown = ", ".join(str(item) for item in value)
        else:
            shown = "—" if value is None else str(value)
        parts.append(f"{name}: {shown}")
    return "; ".join(parts)


def sparkline(values: list[int] | tuple[int, ...], width: int = 84, height: int = 18) -> str:
    """SVG polyline points for the counts (drawn by the template, no script, no style)."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v / top) * (height - 2) - 1:.1f}" for i, v in enumerate(values)
    )


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("alerter.http.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["sparkline"] = sparkline
    env.filters["detail_text"] = detail_text
    env.filters["hour_chart"] = hour_chart
    env.filters["call_path"] = call_path  # the one builder of a call page's address
    env.globals["outcomes"] = OUTCOMES
    env.globals["suppressed"] = views.RuleCounts.suppressed
    env.globals["rule_columns"] = views.RULE_COUNT_COLUMNS
    return env


def engine() -> JinjaTemplateEngine:
    return JinjaTemplateEngine.from_environment(environment())


def page(
    request: Request[Any, Any, AppState], name: str, status_code: int = 200, **context: Any
) -> Template:
    identity = getattr(request.state, "identity", None)
    now = console_of(request).clock()
    return Template(
        template_name=name,
        context={"me": identity, "path": request.url.path, "now": now, **context},
        status_code=status_code,
        media_type=MediaType.HTML,
    )


def see_other(path: str, **query: str) -> Redirect:
    target = path + (f"?{urlencode(query)}" if query else "")
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)
