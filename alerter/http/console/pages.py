"""The console's pages under `/ui/`: server-rendered, usable without JavaScript (htmx, when
it loads, only boosts links and forms). Here sign-in and the pages that act (silences,
failed calls, destination tests); the reading pages are in `reports`, what all share in
`templating`. Reads come from `views`, changes from `actions`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State as AppState
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from alerter.http.console import actions, reports, views
from alerter.http.console.actions import ActionError
from alerter.http.console.auth import (
    SESSION_COOKIE,
    identity_of,
    operator_only,
    signed_in_page,
)
from alerter.http.console.templating import Form, console_of, engine, page, see_other, when
from alerter.store.console_auth import SESSION_SECONDS

__all__ = ["engine", "routers"]

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


# ---------------------------------------------------------------- acting pages


SILENCES_PER_PAGE = 100


@get("/silences")
async def silences_page(
    request: Request[Any, Any, AppState], page_number: FromQuery[int] = 1
) -> Template:
    """Active silences ending soonest first, then expired ones most recent first; 100 a
    page (`?page_number=2`), so a thousand silences still make a quick page."""
    console = console_of(request)
    now = console.clock()
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
    now = console.clock()
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


@post("/destinations/{name:str}/test", guards=[operator_only])
async def destination_test(request: Request[Any, Any, AppState], name: FromPath[str]) -> Redirect:
    ok, detail = await actions.send_test(console_of(request), identity_of(request), name)
    said = f"Test sent to {name}." if ok else f"Test to {name} FAILED: {detail}"
    return see_other("/ui/destinations", done=said)


def routers(router_class: type[Router] = Router) -> list[Router]:
    """The sign-in pages, open to all, and the rest, behind the sign-in guard."""
    sign_in = router_class(path="/ui", route_handlers=[login_page, login, logout])
    return [
        sign_in,
        router_class(
            path="/ui",
            route_handlers=[
                reports.overview,
                reports.find_call,
                reports.call_page,
                reports.retry_call,
                reports.history_page,
                reports.rules_page,
                reports.rule_page,
                reports.rule_test,
                reports.rule_backtest,
                reports.signatures_page,
                silences_page,
                new_silence_page,
                new_silence,
                expire_silence,
                extend_silence,
                failed_page,
                retry_failed,
                retry_all,
                reports.destinations_page,
                destination_test,
                reports.audit_page,
            ],
            guards=[signed_in_page],
        ),
    ]
