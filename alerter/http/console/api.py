"""The JSON API under `/api/v1/`: the console's data and actions for scripts.

Bearer token or the console's session; viewers read, operators act (guards); errors in the
service's one shape.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from litestar import Request, Router, delete, get, post
from litestar.datastructures import State as AppState
from litestar.params import FromPath, FromQuery

from alerter.http.console import actions, destinations, history, views
from alerter.http.console.actions import ActionError, Console
from alerter.http.console.auth import identity_of, operator_only, signed_in_api
from alerter.pipeline.backtest import as_json
from alerter.rules.noise import parse_duration

MAX_LIMIT = 1000


def console_of(request: Request[Any, Any, AppState]) -> Console:
    console: Console = request.app.state.console
    return console


async def json_body(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    try:
        body = await request.json()
    except Exception:  # any unreadable body is the client's error
        raise ActionError(400, "BAD_REQUEST", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ActionError(400, "BAD_REQUEST", "the body must be a JSON object")
    return body


def since_param(value: str | None, default: float | None = None) -> float | None:
    if value in (None, ""):
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ActionError(422, "INVALID_SINCE", f"since: {exc}") from None


def limit_param(value: int | None, default: int = 100) -> int:
    if value is None:
        return default
    if not 1 <= value <= MAX_LIMIT:
        raise ActionError(422, "INVALID_LIMIT", f"limit: 1 to {MAX_LIMIT}")
    return value


def call_json(view: views.CallView) -> dict[str, Any]:
    return {
        "call_id": view.call_id,
        "known": view.known,
        "accepted_at": view.accepted_at,
        "fields": dict(view.fields),
        "queued": view.queued,
        "failed": views.failed_json(view.failed) if view.failed else None,
        "rules": [
            {
                "rule": r.rule,
                "outcome": r.outcome,
                "reason": r.reason,
                "sends": [e.to_json() for e in r.sends],
                "log_lines": list(r.lines),
            }
            for r in view.rules
        ],
        "timeline": [e.to_json() for e in view.events],
    }


@get("/calls/{call_id:str}")
async def get_call(request: Request[Any, Any, AppState], call_id: FromPath[str]) -> dict[str, Any]:
    console = console_of(request)
    view = await views.call_view(console.redis, console.state, call_id)
    if not view.known and not view.queued:
        raise ActionError(404, "CALL_NOT_FOUND", f"no record of call {call_id[:100]!r}")
    return call_json(view)


@get("/history")
async def get_history(
    request: Request[Any, Any, AppState],
    rule: FromQuery[str | None] = None,
    outcome: FromQuery[str | None] = None,
    destination: FromQuery[str | None] = None,
    call_id: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    next: FromQuery[str | None] = None,
) -> dict[str, Any]:
    back = since_param(since)
    found = await history.read_history(
        console_of(request).state,
        history.HistoryQuery(
            rule=rule or None,
            outcome=outcome or None,
            destination=destination or None,
            call_id=call_id or None,
            since=time.time() - back if back else None,
            before=next or None,
            fields=history.call_fields(dict(request.query_params)),
            count=limit_param(limit),
        ),
    )
    # `next`: the cursor of the following page (GET again with ?next=...), null at the end.
    return {"entries": list(found.rows), "next": found.next}


@get("/silences")
async def list_silences(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    console = console_of(request)
    now = time.time()
    silences = await console.silences.all()
    return {"silences": [views.silence_json(s, now) for s in silences]}


@post("/silences", guards=[operator_only], status_code=201)
async def create_silence(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    console = console_of(request)
    wanted = actions.parse_silence(await json_body(request), console.require_rules(), time.time())
    silence = await actions.create_silence(console, identity_of(request), wanted)
    return views.silence_json(silence)


@post("/silences/preview", guards=[operator_only], status_code=200)
async def preview_silence(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    console = console_of(request)
    now = time.time()
    wanted = actions.parse_silence(
        await json_body(request), console.require_rules(), now, preview=True
    )
    draft = actions.draft(wanted, now, identity_of(request).name)
    stopped, looked_at = await views.preview_silence(console.state, draft, now)
    return {"would_have_silenced": stopped, "calls_considered": looked_at, "since": now - 86400}


@get("/silences/{silence_id:str}")
async def get_silence(
    request: Request[Any, Any, AppState], silence_id: FromPath[str]
) -> dict[str, Any]:
    silence = await console_of(request).silences.get(silence_id)
    if silence is None:
        raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
    return views.silence_json(silence)


@delete("/silences/{silence_id:str}", guards=[operator_only], status_code=200)
async def expire_silence(
    request: Request[Any, Any, AppState], silence_id: FromPath[str]
) -> dict[str, Any]:
    console = console_of(request)
    silence = await actions.expire_silence(console, identity_of(request), silence_id)
    return views.silence_json(silence)


@post("/silences/{silence_id:str}/extend", guards=[operator_only], status_code=200)
async def extend_silence(
    request: Request[Any, Any, AppState], silence_id: FromPath[str]
) -> dict[str, Any]:
    console = console_of(request)
    body = await json_body(request)
    silence = await actions.extend_silence(
        console, identity_of(request), silence_id, body.get("duration")
    )
    return views.silence_json(silence)


@get("/rules")
async def list_rules(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    console = console_of(request)
    rules = console.require_rules()
    listed = await views.rules_view(console.state, rules, time.time(), with_yaml=True)
    return {"version": rules.version, "rules": [dataclasses.asdict(r) for r in listed]}


@post("/rules/{name:str}/test", guards=[operator_only], status_code=200)
async def test_rule(request: Request[Any, Any, AppState], name: FromPath[str]) -> dict[str, Any]:
    console = console_of(request)
    call, logs = actions.parse_trial(await json_body(request))
    result = await actions.test_rule(console, identity_of(request), name, call, logs)
    return dataclasses.asdict(result)


@post("/rules/backtest", guards=[operator_only], status_code=200)
async def backtest_rules(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    """Replays the rules in force (or `rules`, a rule file's text) on past calls."""
    console = console_of(request)
    body = await json_body(request)
    rules = actions.candidate_rules(console, body.get("rules"))
    wanted = actions.parse_backtest(body)
    report = await actions.run_backtest(console, identity_of(request), rules, wanted)
    return as_json(report)


@get("/signatures")
async def list_signatures(
    request: Request[Any, Any, AppState], since: FromQuery[str | None] = None
) -> dict[str, Any]:
    console = console_of(request)
    seconds = since_param(since, 86400.0) or 86400.0
    now = time.time()
    days = max(1, min(30, int(-(-seconds // 86400))))
    rows = await console.signatures.report(now, days=days)
    return {"signatures": [dataclasses.asdict(r) | {"total": r.total} for r in rows]}


@get("/failed")
async def list_failed(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    failures = await console_of(request).state.failures()
    return {"failed": [views.failed_json(f) for f in failures]}


@post("/failed/{call_id:str}/retry", guards=[operator_only], status_code=202)
async def retry_failed(
    request: Request[Any, Any, AppState], call_id: FromPath[str]
) -> dict[str, Any]:
    queued = await actions.retry(console_of(request), identity_of(request), call_id)
    return {"status": "queued", "call_ids": queued}


@post("/failed/retry", guards=[operator_only], status_code=202)
async def retry_all_failed(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    queued = await actions.retry(console_of(request), identity_of(request), None)
    return {"status": "queued", "call_ids": queued}


@get("/destinations")
async def list_destinations(request: Request[Any, Any, AppState]) -> dict[str, Any]:
    console = console_of(request)
    listed = await destinations.destinations_view(console.redis, console.require_rules())
    return {"destinations": [dataclasses.asdict(d) for d in listed]}


@post("/destinations/{name:str}/test", guards=[operator_only], status_code=200)
async def test_destination(
    request: Request[Any, Any, AppState], name: FromPath[str]
) -> dict[str, Any]:
    ok, detail = await actions.send_test(console_of(request), identity_of(request), name)
    return {"destination": name, "sent": ok, "detail": detail}


@get("/audit")
async def list_audit(
    request: Request[Any, Any, AppState], limit: FromQuery[int | None] = None
) -> dict[str, Any]:
    entries = await console_of(request).audit.latest(limit_param(limit, 200))
    return {"entries": [e.to_json() for e in entries]}


@get("/whoami")
async def whoami(request: Request[Any, Any, AppState]) -> dict[str, str]:
    identity = identity_of(request)
    return {"name": identity.name, "role": identity.role, "via": identity.via}


def router(router_class: type[Router] = Router) -> Router:
    return router_class(
        path="/api/v1",
        route_handlers=[
            get_call,
            get_history,
            list_silences,
            create_silence,
            preview_silence,
            get_silence,
            expire_silence,
            extend_silence,
            list_rules,
            test_rule,
            backtest_rules,
            list_signatures,
            list_failed,
            retry_failed,
            retry_all_failed,
            list_destinations,
            test_destination,
            list_audit,
            whoami,
        ],
        guards=[signed_in_api],
    )
