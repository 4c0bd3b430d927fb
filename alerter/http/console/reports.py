"""The console's reading pages: overview, a call, history, rules (with their dry-run Test
and Backtest), signatures, destinations and audit. Reads come from `views`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.datastructures import State as AppState
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from alerter.durations import parse_duration
from alerter.http.console import actions, destinations, history, views
from alerter.http.console.actions import ActionError
from alerter.http.console.auth import identity_of, operator_only
from alerter.http.console.templating import Form, console_of, page, see_other
from alerter.render.console_urls import call_path, silence_form_path, silence_path
from alerter.replay.backtest import audited_failure


@get("/")
async def overview(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    data = await views.overview(console.redis, console.state, console.rules, console.clock())
    return page(request, "overview.html", o=data)


@get("/calls")
async def find_call(request: Request[Any, Any, AppState], call_id: FromQuery[str] = "") -> Any:
    if call_id.strip():
        return see_other(call_path(call_id.strip()))
    return see_other("/ui/history")


@get("/calls/{call_id:str}")
async def call_page(request: Request[Any, Any, AppState], call_id: FromPath[str]) -> Template:
    console = console_of(request)
    view = await views.call_view(console.redis, console.state, call_id)
    rules = console.rules.current
    silence_links = {
        story.rule: silence_path(rules.by_name[story.rule], story.labels)
        if rules and story.rule in rules.by_name
        else silence_form_path(rule=story.rule)
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
    return see_other(call_path(call_id), retried="1")


@get("/history")
async def history_page(
    request: Request[Any, Any, AppState],
    rule: FromQuery[str] = "",
    outcome: FromQuery[str] = "",
    destination: FromQuery[str] = "",
    call_id: FromQuery[str] = "",
    since: FromQuery[str] = "",
    next: FromQuery[str] = "",
) -> Template:
    """Newest first, 200 a page, `next` the cursor; any other query parameter filters by
    that call field (`?agent_id=ag-7`)."""
    console = console_of(request)
    error = None
    seconds = None
    if since:
        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            error = f"since: {exc}"
    fields = history.call_fields(dict(request.query_params))
    found = await history.read_history(
        console.state,
        history.HistoryQuery(
            rule=rule or None,
            outcome=outcome or None,
            destination=destination or None,
            call_id=call_id.strip() or None,
            since=console.clock() - seconds if seconds else None,
            before=next or None,
            fields=fields,
        ),
    )
    shown = {"rule": rule, "outcome": outcome, "destination": destination}
    shown |= {"call_id": call_id, "since": since}
    kept = {k: v for k, v in {**shown, **fields}.items() if v}
    shown["fields"] = " ".join(f"{k}={v}" for k, v in fields.items())
    rules = console.rules.current
    return page(
        request,
        "history.html",
        rows=found.rows,
        f=shown,
        next_link="/ui/history?" + urlencode({**kept, "next": found.next}) if found.next else None,
        rule_names=[r.name for r in rules.rules] if rules else [],
        error=error,
    )


@get("/rules")
async def rules_page(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    rules = console.require_rules()
    listed = await views.rules_view(console.state, rules, console.clock())
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
    now = console.clock()
    (view,) = await views.rules_view(console.state, rules, now, only=name)
    recent = await history.read_history(console.state, history.HistoryQuery(rule=name, count=10))
    return page(
        request,
        "rule.html",
        422 if error or backtest_error else 200,
        r=view,
        per_hour=await console.state.calls.sent_per_hour(now, rule=name),
        rows=recent.rows,
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
    rows = await console.signatures.report(console.clock(), days=7)
    links = {
        row.digest: silence_form_path(matchers=((k, v) for k, v in row.labels.items() if v))
        for row in rows
    }
    return page(request, "signatures.html", rows=rows, links=links)


@get("/destinations")
async def destinations_page(request: Request[Any, Any, AppState]) -> Template:
    console = console_of(request)
    listed = await destinations.destinations_view(console.redis, console.require_rules())
    return page(
        request, "destinations.html", destinations=listed, notice=request.query_params.get("done")
    )


@get("/audit")
async def audit_page(request: Request[Any, Any, AppState]) -> Template:
    entries = await console_of(request).audit.latest(500)
    return page(request, "audit.html", entries=entries)
