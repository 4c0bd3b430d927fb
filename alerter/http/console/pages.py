"""The console's pages under `/ui/`: server-rendered, usable without JavaScript (htmx, when
it loads, only boosts links and forms). Reads come from `views`, changes from `actions`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import State as AppState
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from alerter.http.console import actions, views
from alerter.http.console.actions import ActionError, Console
from alerter.http.console.auth import (
    SESSION_COOKIE,
    identity_of,
    operator_only,
    signed_in_page,
)
from alerter.models import Outcome
from alerter.pipeline.backtest import audited_failure
from alerter.pipeline.render_links import matchers_text, silence_path
from alerter.rules.noise import parse_duration
from alerter.store.console_auth import SESSION_SECONDS

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


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return ""
    delta = (time.time() if now is None else now) - ts
    future = delta < 0
    delta = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= size:
            text = f"{int(delta // size)} {unit}"
            break
    else:
        text = f"{int(delta)} s"
    return f"in {text}" if future else f"{text} ago"


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
    return Template(
        template_name=name,
        context={"me": identity, "path": request.url.path, "now": time.time(), **context},
        status_code=status_code,
        media_type=MediaType.HTML,
    )


def see_other(path: str, **query: str) -> Redirect:
    target = path + (f"?{urlencode(query)}" if query else "")
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


# ---------------------------------------------------------------- sign-in


def _safe_next(value: str | None) -> str:
    # Only a path of this console: never an absolute or scheme-relative URL.
    if value and value.startswith("/ui/") and not value.startswith("//"):
        return value
    return "/ui/"


@get("/login")
async def login_page(
    request: Request[Any, Any, AppState], next: FromQuery[str | None] = None
) -> Any:
    if console_of(request).auth_config.mode != "token":
        return see_other(_safe_next(next))
    return page(request, "login.html", next=_safe_next(next), error=None)


@post("/login")
async def login(request: Request[Any, Any, AppState], data: Form) -> Any:
    console = console_of(request)
    target = _safe_next(data.get("next"))
    if console.auth_config.mode != "token":
        return see_other(target)
    session = await console.auth.open_session(data.get("token", "").strip())
    if session is None:
        return page(request, "login.html", 401, next=target, error="That token is not valid.")
    response: Response[Any] = see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=console.auth_config.secure_cookie,
        path="/",
    )
    return response


@post("/logout")
async def logout(request: Request[Any, Any, AppState]) -> Any:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await console_of(request).auth.close_session(session)
    response: Response[Any] = see_other("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- pages


@get("/")
async def overview(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    data = await views.overview(console.redis, console.state, console.rules, time.time())
    return page(request, "overview.html", o=data)


@get("/calls")
async def find_call(request: Request[Any, Any, AppState], call_id: FromQuery[str] = "") -> Any:
    if call_id.strip():
        return see_other(f"/ui/calls/{call_id.strip()}")
    return see_other("/ui/history")


@get("/calls/{call_id:str}")
async def call_page(request: Request[Any, Any, AppState], call_id: FromPath[str]) -> Template:
    console = console_of(request)
    view = await views.call_view(console.redis, console.state, call_id)
    rules = console.rules.current
    silence_links = {
        story.rule: silence_path(rules.by_name[story.rule], story.labels)
        if rules and story.rule in rules.by_name
        else "/ui/silences/new?" + urlencode({"rule": story.rule})
        for story in view.rules
    }
    return page(
        request,
        "call.html",
        404 if not view.known and not view.queued else 200,
        c=view,
        silence_links=silence_links,
        retried=request.query_params.get("retried"),
    )


@post("/calls/{call_id:str}/retry", guards=[operator_only])
async def retry_call(request: Request[Any, Any, AppState], call_id: FromPath[str]) -> Redirect:
    await actions.retry(console_of(request), identity_of(request), call_id)
    return see_other(f"/ui/calls/{call_id}", retried="1")


@get("/history")
async def history_page(
    request: Request[Any, Any, AppState],
    rule: FromQuery[str] = "",
    outcome: FromQuery[str] = "",
    destination: FromQuery[str] = "",
    call_id: FromQuery[str] = "",
    since: FromQuery[str] = "",
) -> Template:
    console = console_of(request)
    error = None
    seconds = None
    if since:
        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            error = f"since: {exc}"
    rows = await console.state.history(
        call_id.strip() or None,
        200,
        rule=rule or None,
        outcome=outcome or None,
        destination=destination or None,
        since=time.time() - seconds if seconds else None,
        scan_max=views.SCAN_MAX,
    )
    rules = console.rules.current
    return page(
        request,
        "history.html",
        rows=rows,
        f={
            "rule": rule,
            "outcome": outcome,
            "destination": destination,
            "call_id": call_id,
            "since": since,
        },
        rule_names=[r.name for r in rules.rules] if rules else [],
        error=error,
    )


@get("/rules")
async def rules_page(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    rules = console.require_rules()
    listed = await views.rules_view(console.state, rules, time.time())
    return page(request, "rules.html", rules=listed, version=rules.version)


async def _rule_page(
    request: Request[Any, Any, AppState],
    name: str,
    result: Any = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    backtest: Any = None,
    backtest_error: str | None = None,
) -> Template:
    console = console_of(request)
    rules = console.require_rules()
    if name not in rules.by_name:
        raise ActionError(404, "RULE_NOT_FOUND", f"no rule named {name[:100]!r}")
    (view,) = await views.rules_view(console.state, rules, time.time(), only=name)
    return page(
        request,
        "rule.html",
        422 if error or backtest_error else 200,
        r=view,
        result=result,
        error=error,
        form=form or {},
        backtest=backtest,
        backtest_error=backtest_error,
        backtest_rate=actions.BACKTEST_RATE,
    )


@get("/rules/{name:str}")
async def rule_page(request: Request[Any, Any, AppState], name: FromPath[str]) -> Template:
    return await _rule_page(request, name)


@post("/rules/{name:str}/test", guards=[operator_only])
async def rule_test(
    request: Request[Any, Any, AppState], name: FromPath[str], data: Form
) -> Template:
    body: dict[str, Any] = {"call_id": data.get("call_id", "").strip()}
    pasted = data.get("logs", "").strip()
    try:
        if pasted:
            try:
                body["logs"] = json.loads(pasted)
            except ValueError as exc:
                raise ActionError(422, "INVALID_LOGS", f"logs: not JSON ({exc})") from None
        call, logs = actions.parse_trial(body)
        result = await actions.test_rule(
            console_of(request), identity_of(request), name, call, logs
        )
    except ActionError as exc:
        return await _rule_page(request, name, error=exc.message, form=data)
    return await _rule_page(request, name, result=result, form=data)


@post("/rules/{name:str}/backtest", guards=[operator_only])
async def rule_backtest(
    request: Request[Any, Any, AppState], name: FromPath[str], data: Form
) -> Template:
    console = console_of(request)
    who = identity_of(request)
    try:
        async with audited_failure(console.audit, who.name, name):
            wanted = actions.parse_backtest(data, rule=name)
            report = await actions.run_backtest(console, who, console.require_rules(), wanted)
    except ActionError as exc:
        return await _rule_page(request, name, backtest_error=exc.message, form=data)
    return await _rule_page(request, name, backtest=report, form=data)


@get("/signatures")
async def signatures_page(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    rows = await console.signatures.report(time.time(), days=7)
    links = {
        row.digest: "/ui/silences/new?"
        + urlencode({"matchers": matchers_text((k, v) for k, v in row.labels.items() if v)})
        for row in rows
    }
    return page(request, "signatures.html", rows=rows, links=links)


SILENCES_PER_PAGE = 100


@get("/silences")
async def silences_page(
    request: Request[Any, Any, AppState], page_number: FromQuery[int] = 1
) -> Template:
    """Active silences ending soonest first, then expired ones most recent first; 100 a
    page (`?page_number=2`), so a thousand silences still make a quick page."""
    console = console_of(request)
    now = time.time()
    listed = await console.silences.all()
    active = sorted((s for s in listed if s.starts <= now < s.ends), key=lambda s: s.ends)
    expired = sorted((s for s in listed if s.ends <= now), key=lambda s: -s.ends)
    pages = max(1, -(-max(len(active), len(expired)) // SILENCES_PER_PAGE))
    number = min(max(1, page_number), pages)
    window = slice((number - 1) * SILENCES_PER_PAGE, number * SILENCES_PER_PAGE)
    return page(
        request,
        "silences.html",
        active=active[window],
        expired=expired[window],
        counts=(len(active), len(expired)),
        page_number=number,
        pages=pages,
        notice=request.query_params.get("done"),
    )


@get("/silences/new")
async def new_silence_page(
    request: Request[Any, Any, AppState],
    rule: FromQuery[str] = "",
    matchers: FromQuery[str] = "",
    comment: FromQuery[str] = "",
    duration: FromQuery[str] = "2h",
    recreate: FromQuery[str] = "",
) -> Template:
    form = {"rule": rule, "matchers": matchers, "comment": comment, "duration": duration}
    if recreate:
        old = await console_of(request).silences.get(recreate)
        if old is not None:
            form = {
                "rule": old.rule or "",
                "matchers": "\n".join(str(m) for m in old.matchers),
                "comment": old.comment,
                "duration": duration,
            }
    return _silence_form(request, form)


def _silence_form(
    request: Request[Any, Any, AppState],
    form: dict[str, str],
    *,
    preview: tuple[int, int] | None = None,
    error: str | None = None,
) -> Template:
    rules = console_of(request).rules.current
    return page(
        request,
        "silence_new.html",
        422 if error else 200,
        form=form,
        preview=preview,
        error=error,
        rule_names=[r.name for r in rules.rules] if rules else [],
    )


@post("/silences/new", guards=[operator_only])
async def new_silence(request: Request[Any, Any, AppState], data: Form) -> Any:
    console = console_of(request)
    now = time.time()
    form = {k: data.get(k, "") for k in ("rule", "matchers", "comment", "duration")}
    try:
        preview = data.get("action") == "preview"
        wanted = actions.parse_silence(form, console.require_rules(), now, preview=preview)
        if preview:
            draft = actions.draft(wanted, now, identity_of(request).name)
            counted = await views.preview_silence(console.state, draft, now)
            return _silence_form(request, form, preview=counted)
        silence = await actions.create_silence(console, identity_of(request), wanted)
    except ActionError as exc:
        return _silence_form(request, form, error=exc.message)
    return see_other("/ui/silences", done=f"Silence {silence.id} created.")


@post("/silences/{silence_id:str}/expire", guards=[operator_only])
async def expire_silence(
    request: Request[Any, Any, AppState], silence_id: FromPath[str]
) -> Redirect:
    await actions.expire_silence(console_of(request), identity_of(request), silence_id)
    return see_other("/ui/silences", done=f"Silence {silence_id} expired.")


@post("/silences/{silence_id:str}/extend", guards=[operator_only])
async def extend_silence(
    request: Request[Any, Any, AppState], silence_id: FromPath[str], data: Form
) -> Redirect:
    changed = await actions.extend_silence(
        console_of(request), identity_of(request), silence_id, data.get("duration") or "1h"
    )
    return see_other("/ui/silences", done=f"Silence {silence_id} now ends {when(changed.ends)}.")


@get("/failed")
async def failed_page(request: Request[Any, Any, AppState]) -> Template:
    failures = await console_of(request).state.failures()
    return page(request, "failed.html", failures=failures, notice=request.query_params.get("done"))


@post("/failed/{call_id:str}/retry", guards=[operator_only])
async def retry_failed(request: Request[Any, Any, AppState], call_id: FromPath[str]) -> Redirect:
    await actions.retry(console_of(request), identity_of(request), call_id)
    return see_other("/ui/failed", done=f"Call {call_id} queued again.")


@post("/failed/retry-all", guards=[operator_only])
async def retry_all(request: Request[Any, Any, AppState]) -> Redirect:
    queued = await actions.retry(console_of(request), identity_of(request), None)
    return see_other("/ui/failed", done=f"{len(queued)} calls queued again.")


@get("/destinations")
async def destinations_page(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    listed = await views.destinations_view(console.redis, console.require_rules())
    return page(
        request, "destinations.html", destinations=listed, notice=request.query_params.get("done")
    )


@post("/destinations/{name:str}/test", guards=[operator_only])
async def destination_test(request: Request[Any, Any, AppState], name: FromPath[str]) -> Redirect:
    ok, detail = await actions.send_test(console_of(request), identity_of(request), name)
    said = f"Test sent to {name}." if ok else f"Test to {name} FAILED: {detail}"
    return see_other("/ui/destinations", done=said)


@get("/audit")
async def audit_page(request: Request[Any, Any, AppState]) -> Template:
    entries = await console_of(request).audit.latest(500)
    return page(request, "audit.html", entries=entries)


def routers(router_class: type[Router] = Router) -> list[Router]:
    """The sign-in pages, open to all, and the rest, behind the sign-in guard."""
    sign_in = router_class(path="/ui", route_handlers=[login_page, login, logout])
    return [
        sign_in,
        router_class(
            path="/ui",
            route_handlers=[
                overview,
                find_call,
                call_page,
                retry_call,
                history_page,
                rules_page,
                rule_page,
                rule_test,
                rule_backtest,
                signatures_page,
                silences_page,
                new_silence_page,
                new_silence,
                expire_silence,
                extend_silence,
                failed_page,
                retry_failed,
                retry_all,
                destinations_page,
                destination_test,
                audit_page,
            ],
            guards=[signed_in_page],
        ),
    ]
