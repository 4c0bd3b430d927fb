"""A rule from a failure signature: `GET /api/v1/signatures/{id}/rule` answers its YAML,
and the console's **Create rule…** page shows it with **Backtest** (beside the rules in
force, nothing sent) before anyone commits it to the rules repository."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.datastructures import State as AppState
from litestar.params import FromPath
from litestar.response import Template

from alerter.http.console import actions
from alerter.http.console.actions import ActionError, Console
from alerter.http.console.auth import identity_of, operator_only, signed_in_page
from alerter.http.console.templating import Form, console_of, page
from alerter.rules.from_signature import candidate_beside, rule_for_signature
from alerter.rules.model import RulesInvalid

MAX_RULE_TEXT = 20_000


async def signature_rule(console: Console, digest: str) -> str:
    known = await console.signatures.known(digest[:64])
    if known is None:
        raise ActionError(
            404, "SIGNATURE_NOT_FOUND", f"no signature {digest[:64]!r} seen in the last days"
        )
    text, labels = known
    return rule_for_signature(digest, text, labels, console.require_rules())


@get("/signatures/{digest:str}/rule")
async def signature_rule_page(
    request: Request[Any, Any, AppState], digest: FromPath[str]
) -> Template:
    text = await signature_rule(console_of(request), digest)
    return page(request, "signature_rule.html", digest=digest, text=text, backtest=None)


@post("/signatures/{digest:str}/rule/backtest", guards=[operator_only])
async def signature_rule_backtest(
    request: Request[Any, Any, AppState], digest: FromPath[str], data: Form
) -> Template:
    console = console_of(request)
    text = data.get("yaml", "")[:MAX_RULE_TEXT]
    context: dict[str, Any] = {"digest": digest, "text": text, "backtest": None}
    try:
        rules = candidate_beside(console.require_rules(), text)
        wanted = actions.parse_backtest(data)
        context["backtest"] = await actions.run_backtest(
            console, identity_of(request), rules, wanted
        )
    except RulesInvalid as exc:
        context["error"] = "; ".join(f"line {e.line}: {e.message}" for e in exc.errors[:10])
    except ActionError as exc:
        context["error"] = exc.message
    return page(request, "signature_rule.html", **context)


def routers(router_class: type[Router] = Router) -> list[Router]:
    return [
        router_class(
            path="/ui",
            route_handlers=[signature_rule_page, signature_rule_backtest],
            guards=[signed_in_page],
        ),
    ]
