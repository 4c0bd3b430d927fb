"""What on-call does after an alert, as typed `/api/v1` routes in `/openapi.json`:
acknowledge an episode (`POST /api/v1/acks`: it escalates no more) and turn a failure
signature into a rule (`GET /api/v1/signatures/{id}/rule`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Router, get, post
from litestar.params import JSONBody, PathParameter

from alerter import acks
from alerter.http.console import api
from alerter.http.console.acks import group_digest, rule_named
from alerter.http.console.api import (
    ACT,
    READ,
    ConsoleIn,
    Who,
    with_errors,
)
from alerter.http.console.auth import operator_only
from alerter.http.console.schema import Frozen, Name, Text
from alerter.http.console.signature_rule import signature_rule

Digest = Annotated[str, PathParameter(max_length=64, pattern=r"^[0-9a-f]{1,64}$")]


class AckIn(Frozen, frozen=True, forbid_unknown_fields=True):
    """`group`: the group's digest (as a Slack button names it) or its labels."""

    rule: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    group: Name | dict[Name, Text] = ""
    call_id: UUID | None = None


class AckOut(Frozen, frozen=True):
    rule: str
    group: str  # the group's digest
    acknowledged_by: str
    at: float
    first: bool  # false: it was acknowledged already (the first one stands)


class SignatureRuleOut(Frozen, frozen=True):
    yaml: str  # a shadow rule matching the signature, that `rules check` accepts


@post(
    "/acks",
    guards=[operator_only],
    status_code=201,
    responses=with_errors(ACT, e404="No such rule"),
)
async def create_ack(console: ConsoleIn, who: Who, data: JSONBody[AckIn]) -> AckOut:
    """Acknowledge a (rule, group) episode: it escalates no more; audited."""
    rule = rule_named(console, data.rule)
    digest = group_digest(rule, data.group)
    now = console.clock()
    call_id = str(data.call_id) if data.call_id else None
    first = await acks.acknowledge(
        console.redis, rule.name, digest, who.name, now, call_id, clock=console.clock
    )
    return AckOut(rule.name, digest, who.name, now, first)


@get("/signatures/{digest:str}/rule", responses=with_errors(READ, e404="No such signature seen"))
async def signature_rule_api(console: ConsoleIn, digest: Digest) -> SignatureRuleOut:
    """A rule (shadow mode) matching the signature, to backtest before committing it."""
    return SignatureRuleOut(await signature_rule(console, digest))


def router(router_class: type[Router] = Router) -> Router:
    return api.router(router_class, (create_ack, signature_rule_api))
