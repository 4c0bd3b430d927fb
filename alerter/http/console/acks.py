"""Acknowledge from the console: **Acknowledge** on a call's page, and `POST /api/v1/acks`
`{"rule", "group"}` (operators; audited). An acknowledged episode does not escalate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Request, Router, post
from litestar.datastructures import State as AppState
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from pydantic import BaseModel, ConfigDict, Field

from alerter import acks
from alerter.http.console.actions import ActionError, Console
from alerter.http.console.auth import identity_of, operator_only, signed_in_page
from alerter.http.console.views import call_view
from alerter.render.console_urls import call_path
from alerter.rules.model import Rule
from alerter.rules.noise import GroupKey

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class AckRequest(BaseModel):
    """`group`: the group's digest (as a Slack button names it) or its labels."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    rule: str = Field(min_length=1, max_length=100)
    group: str | dict[str, str] = Field(default="")
    call_id: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    )


def group_digest(rule: Rule, group: str | Mapping[str, str]) -> str:
    """The digest of a group given by its labels (those the rule groups by) or by itself."""
    if isinstance(group, str):
        return group or GroupKey(()).digest
    return GroupKey(tuple((name, group.get(name, "")) for name in rule.noise.group_by)).digest


def rule_named(console: Console, name: str) -> Rule:
    rule = console.require_rules().by_name.get(name)
    if rule is None:
        raise ActionError(404, "RULE_NOT_FOUND", f"no rule {name[:100]!r}")
    return rule


@post("/calls/{call_id:str}/ack", guards=[operator_only])
async def acknowledge_call(
    request: Request[Any, Any, AppState], call_id: FromPath[str], data: Form
) -> Redirect:
    """The call page's **Acknowledge**: the episode of the rule and group this call fired in."""
    console: Console = request.app.state.console
    rule = rule_named(console, data.get("rule", ""))
    view = await call_view(console.redis, console.state, call_id)
    labels = next((story.labels for story in view.rules if story.rule == rule.name), None)
    if labels is None:
        raise ActionError(404, "NOT_FIRED", f"{rule.name!r} did not fire on this call")
    digest = group_digest(rule, labels)
    who = identity_of(request).name
    await acks.acknowledge(
        console.redis, rule.name, digest, who, console.clock(), call_id, clock=console.clock
    )
    return Redirect(f"{call_path(call_id)}?acknowledged=1", status_code=HTTP_303_SEE_OTHER)


def routers(router_class: type[Router] = Router) -> list[Router]:
    return [
        router_class(path="/ui", route_handlers=[acknowledge_call], guards=[signed_in_page]),
    ]
