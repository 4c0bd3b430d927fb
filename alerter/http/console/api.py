"""The JSON API under `/api/v1/`: the console's data and actions for scripts.

Bearer token or the console's session; viewers read, operators act (guards). Bodies,
parameters and answers are typed (`schema`), so Litestar refuses a wrong type with 422 and
writes them into `/openapi.json`; the console's objects and the identity come by injection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.datastructures import State as AppState
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import (
    FromQuery,
    JSONBody,
    PathParameter,
    QueryParameter,
    SkipValidation,
)

from alerter.durations import parse_duration
from alerter.http.console import actions, destinations, history, views
from alerter.http.console.actions import ActionError, Console
from alerter.http.console.auth import identity_of, operator_only, signed_in_api
from alerter.http.console.schema import (
    AuditEntryOut,
    AuditOut,
    BacktestIn,
    BacktestOut,
    CallOut,
    DestinationOut,
    DestinationsOut,
    DryRunOut,
    Error,
    ExtendIn,
    FailedListOut,
    FailedOut,
    HistoryOut,
    IdentityOut,
    PreviewOut,
    RetryOut,
    RuleOut,
    RulesOut,
    SendTestOut,
    SignatureOut,
    SignaturesOut,
    SilenceIn,
    SilenceOut,
    SilencesOut,
    TrialIn,
    backtest_json,
)
from alerter.replay.backtest import audited_failure
from alerter.store.console_auth import Identity

MAX_LIMIT = 1000
# Injected (router dependencies below), made once per process: nothing for Litestar to check.
ConsoleIn = NamedDependency[SkipValidation[Console]]
Who = NamedDependency[SkipValidation[Identity]]
BEARER = "bearerToken"
CallId = Annotated[UUID, PathParameter(description="a Diga call id")]
SilenceId = Annotated[str, PathParameter(max_length=100)]
PathName = Annotated[str, PathParameter(max_length=200)]
Limit = Annotated[int | None, QueryParameter(ge=1, le=MAX_LIMIT, description=f"1 to {MAX_LIMIT}")]
Since = Annotated[
    str | None, QueryParameter(description="how far back, like 30m, 24h or 7d", max_length=40)
]


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Error, description=description, generate_examples=False)


READ = {
    400: _spec("A malformed request"),
    401: _spec("No identity: send Authorization: Bearer <token>, or sign in"),
    422: _spec("A parameter or body of the wrong type or out of range"),
    503: _spec("Rules not loaded, or Redis unavailable"),
}
ACT = READ | {
    400: _spec("A malformed request, or a body that is not JSON"),
    403: _spec("A viewer, or a cross-site write"),
}


def with_errors(base: dict[int, ResponseSpec], **more: str) -> dict[int, ResponseSpec]:
    return base | {int(status.removeprefix("e")): _spec(text) for status, text in more.items()}


# ---------------------------------------------------------------- injected


def provide_console(state: AppState) -> Console:
    console: Console = state.console
    return console


def provide_identity(request: Request[Any, Any, AppState]) -> Identity:
    return identity_of(request)


def since_seconds(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ActionError(422, "INVALID_SINCE", f"since: {exc}") from None


# ---------------------------------------------------------------- reads


@get("/calls/{call_id:str}", responses=with_errors(READ, e404="No record of that call"))
async def get_call(console: ConsoleIn, call_id: CallId) -> CallOut:
    """One call's timeline: accepted, fetched, each rule's decision and each send."""
    view = await views.call_view(console.redis, console.state, str(call_id))
    if not view.known and not view.queued:
        raise ActionError(404, "CALL_NOT_FOUND", f"no record of call {str(call_id)!r}")
    return CallOut.of(view)


@get("/history", responses=READ)
async def get_history(
    request: Request[Any, Any, AppState],
    console: ConsoleIn,
    rule: Annotated[str | None, QueryParameter(max_length=200)] = None,
    outcome: Annotated[str | None, QueryParameter(max_length=40)] = None,
    destination: Annotated[str | None, QueryParameter(max_length=200)] = None,
    call_id: FromQuery[UUID | None] = None,
    since: Since = None,
    limit: Limit = None,
    next: Annotated[
        str | None,
        QueryParameter(
            pattern=r"^\d{1,20}-\d{1,20}$", description="the cursor a previous page answered"
        ),
    ] = None,
) -> HistoryOut:
    """Decisions, newest first, filtered; `since` longer than what is kept reads it all. Any
    other parameter filters by that call field (`agent_id=ag-7`). `next` in the answer is the
    cursor of the following page (GET again with `?next=...`), null at the end."""
    back = since_seconds(since)
    found = await history.read_history(
        console.state,
        history.HistoryQuery(
            rule=rule or None,
            outcome=outcome or None,
            destination=destination or None,
            call_id=str(call_id) if call_id else None,
            since=max(0.0, console.clock() - back) if back else None,
            before=next or None,
            fields=history.call_fields(dict(request.query_params)),
            count=limit or 100,
        ),
    )
    return HistoryOut([row.fields() for row in found.rows], found.next)


@get("/silences", responses=READ)
async def list_silences(console: ConsoleIn) -> SilencesOut:
    now = console.clock()
    return SilencesOut([SilenceOut.of(s, now) for s in await console.silences.all()])


@get("/silences/{silence_id:str}", responses=with_errors(READ, e404="No such silence"))
async def get_silence(console: ConsoleIn, silence_id: SilenceId) -> SilenceOut:
    silence = await console.silences.get(silence_id)
    if silence is None:
        raise ActionError(404, "SILENCE_NOT_FOUND", f"no silence {silence_id[:40]!r}")
    return SilenceOut.of(silence, console.clock())


@get("/rules", responses=READ)
async def list_rules(console: ConsoleIn) -> RulesOut:
    rules = console.require_rules()
    listed = await views.rules_view(console.state, rules, console.clock(), with_yaml=True)
    return RulesOut(rules.version, [RuleOut.of(r) for r in listed])


@get("/signatures", responses=READ)
async def list_signatures(console: ConsoleIn, since: Since = None) -> SignaturesOut:
    """Failure kinds by count over `since` (default 24h; whole days, 1 to 30)."""
    seconds = since_seconds(since) or 86400.0
    days = max(1, min(30, int(-(-min(seconds, 30 * 86400.0) // 86400))))
    rows = await console.signatures.report(console.clock(), days=days)
    return SignaturesOut([SignatureOut.of(r) for r in rows])


@get("/failed", responses=READ)
async def list_failed(console: ConsoleIn) -> FailedListOut:
    return FailedListOut([FailedOut.of(f) for f in await console.state.failures()])


@get("/destinations", responses=READ)
async def list_destinations(console: ConsoleIn) -> DestinationsOut:
    listed = await destinations.destinations_view(console.redis, console.require_rules())
    return DestinationsOut(
        [
            DestinationOut(
                d.name, list(d.targets), dict(d.last) if d.last else None, list(d.redaction)
            )
            for d in listed
        ]
    )


@get("/audit", responses=READ)
async def list_audit(console: ConsoleIn, limit: Limit = None) -> AuditOut:
    entries = await console.audit.latest(limit or 200)
    return AuditOut([AuditEntryOut.of(e) for e in entries])


@get("/whoami", responses=READ)
async def whoami(who: Who) -> IdentityOut:
    return IdentityOut.of(who)


# ---------------------------------------------------------------- actions (operators)


@post(
    "/silences",
    guards=[operator_only],
    status_code=201,
    responses=with_errors(ACT, e422="A wrong type, an unknown rule, no matcher, a bad end"),
)
async def create_silence(console: ConsoleIn, who: Who, data: JSONBody[SilenceIn]) -> SilenceOut:
    """`created_by` is the identity that asks, whatever the body says."""
    wanted = actions.parse_silence(data, console.require_rules(), console.clock())
    silence = await actions.create_silence(console, who, wanted)
    return SilenceOut.of(silence, console.clock())


@post("/silences/preview", guards=[operator_only], status_code=200, responses=ACT)
async def preview_silence(console: ConsoleIn, who: Who, data: JSONBody[SilenceIn]) -> PreviewOut:
    """How many calls of the last 24 h the silence would have stopped (no comment needed)."""
    now = console.clock()
    wanted = actions.parse_silence(data, console.require_rules(), now, preview=True)
    draft = actions.draft(wanted, now, who.name)
    stopped, looked_at = await views.preview_silence(console.state, draft, now)
    return PreviewOut(stopped, looked_at, now - 86400)


@delete(
    "/silences/{silence_id:str}",
    guards=[operator_only],
    status_code=200,
    responses=with_errors(ACT, e404="No such silence"),
)
async def expire_silence(console: ConsoleIn, who: Who, silence_id: SilenceId) -> SilenceOut:
    """Expires the silence (it stays listed, as expired)."""
    silence = await actions.expire_silence(console, who, silence_id)
    return SilenceOut.of(silence, console.clock())


@post(
    "/silences/{silence_id:str}/extend",
    guards=[operator_only],
    status_code=200,
    responses=with_errors(ACT, e404="No such silence"),
)
async def extend_silence(
    console: ConsoleIn,
    who: Who,
    silence_id: SilenceId,
    data: JSONBody[ExtendIn],
) -> SilenceOut:
    silence = await actions.extend_silence(console, who, silence_id, data.duration)
    return SilenceOut.of(silence, console.clock())


@post(
    "/rules/{name:str}/test",
    guards=[operator_only],
    status_code=200,
    responses=with_errors(ACT, e404="No such rule"),
)
async def test_rule(
    console: ConsoleIn,
    who: Who,
    name: PathName,
    data: JSONBody[TrialIn],
) -> DryRunOut:
    """A dry run of one rule on a call's logs (fetched) or pasted logs; sends nothing."""
    call, logs = actions.parse_trial(data)
    return DryRunOut.of(await actions.test_rule(console, who, name, call, logs))


@post(
    "/rules/backtest",
    guards=[operator_only],
    status_code=200,
    responses=with_errors(
        ACT,
        e404="No such rule",
        e429="Another backtest is running in this process (see Retry-After)",
        e503="The backtest ran out of its time",
    ),
)
async def backtest_rules(console: ConsoleIn, who: Who, data: JSONBody[BacktestIn]) -> BacktestOut:
    """Replays the rules in force (or `rules`, a rule file's text) on past calls."""
    async with audited_failure(console.audit, who.name, data.rule or "*"):
        # Up to 1 MiB of YAML takes seconds to check: off the event loop, which serves on.
        rules = await asyncio.to_thread(actions.candidate_rules, console, data.rules)
        wanted = actions.parse_backtest(data)
        report = await actions.run_backtest(console, who, rules, wanted)
    return msgspec.convert(backtest_json(report), BacktestOut)


@post(
    "/failed/{call_id:str}/retry",
    guards=[operator_only],
    status_code=202,
    responses=with_errors(ACT, e404="Not a failed call"),
)
async def retry_failed(console: ConsoleIn, who: Who, call_id: CallId) -> RetryOut:
    return RetryOut("queued", await actions.retry(console, who, str(call_id)))


@post("/failed/retry", guards=[operator_only], status_code=202, responses=ACT)
async def retry_all_failed(console: ConsoleIn, who: Who) -> RetryOut:
    return RetryOut("queued", await actions.retry(console, who, None))


@post(
    "/destinations/{name:str}/test",
    guards=[operator_only],
    status_code=200,
    responses=with_errors(ACT, e404="No such destination"),
)
async def test_destination(console: ConsoleIn, who: Who, name: PathName) -> SendTestOut:
    """A sample alert through one destination: sent, or why not."""
    ok, detail = await actions.send_test(console, who, name)
    return SendTestOut(name, ok, detail)


HANDLERS = (
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
)


def router(
    router_class: type[Router] = Router, handlers: Sequence[HTTPRouteHandler] = HANDLERS
) -> Router:
    """/api/v1: signed in (a bearer token or the console's session), answered in JSON."""
    return router_class(
        path="/api/v1",
        route_handlers=list(handlers),
        guards=[signed_in_api],
        dependencies={
            "console": Provide(provide_console, sync_to_thread=False),
            "who": Provide(provide_identity, sync_to_thread=False),
        },
        security=[{BEARER: []}],
        include_in_schema=True,
        tags=["api"],
    )
