"""`GET /openapi.json`: the document Litestar writes from the typed handlers, with the one
route it cannot see into added by hand: the webhook, which reads its raw bytes (to check a
signature before parsing, and for speed) and answers below Litestar's request/response.
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from alerter.http.console.api import BEARER

_ERROR = {"$ref": "#/components/schemas/Error"}
_UUID = {"type": "string", "format": "uuid"}
_ID = _UUID
# A call id is the first present of these (DESIGN.md, "Accepted webhook bodies").
_CALL_ID_SHAPES = (("call_id",), ("call", "id"), ("data", "call_id"), ("data", "id"))


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _answer(description: str, statuses: list[str]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": statuses},
                        "call_id": {"type": "string"},
                        "event": {"type": "string"},
                    },
                }
            }
        },
    }


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _shape(path: tuple[str, ...]) -> dict[str, Any]:
    """A body holding a call id at `path` (`("data", "id")`: `{"data": {"id": ...}}`)."""
    schema: dict[str, Any] = _ID
    for name in reversed(path):
        schema = {"type": "object", "required": [name], "properties": {name: schema}}
    return schema


WEBHOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Diga call event. The call id is the first present of call_id, call.id, "
    "data.call_id, data.id (a string); the event name the first of event, type, event_type. A "
    "body without an event name counts as a call end; one whose event is not a call end is "
    "ignored (200) whatever else it holds. Other call fields are kept for rules and messages.",
    "properties": {
        "event": {"type": "string"},
        "type": {"type": "string"},
        "event_type": {"type": "string"},
        "call_id": _ID,
        "call": {"type": "object", "properties": {"id": _ID}},
        "data": {"type": "object", "properties": {"call_id": _ID, "id": _ID}},
    },
    "anyOf": [_shape(path) for path in _CALL_ID_SHAPES],
    "example": {"event": "call.ended", "call_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"},
}

WEBHOOK_PATH: dict[str, Any] = {
    "post": {
        "summary": "A Diga call event; call ends are queued for alerting",
        "operationId": "DigaWebhook",
        "description": "When ALERTER_WEBHOOK_SECRET is set, the request must be signed: "
        "Standard Webhooks headers (webhook-id, webhook-timestamp within 5 minutes, "
        "webhook-signature 'v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">', several "
        "space-separated for key rotation), or 'Authorization: Bearer <the whole secret>'. "
        "`alerter webhook sign` prints the headers for a body.",
        "parameters": [
            _header("webhook-id", "Standard Webhooks message id"),
            _header("webhook-timestamp", "Seconds since the epoch, within 5 minutes"),
            _header("webhook-signature", "v1,<base64 signature> [v1,<…> …]"),
        ],
        "security": [{}, {"bearerSecret": []}, {"standardWebhooks": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Webhook"}}},
        },
        "responses": {
            "202": _answer("Queued", ["queued"]),
            "200": _answer("Duplicate, or not a call end", ["duplicate", "ignored"]),
            "400": _error("Unreadable JSON, or JSON that is not an object"),
            "401": _error("Missing or bad signature"),
            "413": _error("Body over the limit"),
            "415": _error("Not application/json"),
            "422": _error("No usable call id"),
            "503": _error("Queue unavailable; retry later"),
        },
    }
}

WEBHOOK_SCHEMES: dict[str, Any] = {
    "bearerSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "The webhook only: the whole ALERTER_WEBHOOK_SECRET, whsec_ prefix included",
    },
    "standardWebhooks": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: with webhook-id and webhook-timestamp",
    },
}


def with_webhook(generated: dict[str, Any]) -> dict[str, Any]:
    """Litestar's document with the webhook's route, body schema and signature schemes."""
    document = copy.deepcopy(generated)
    document.setdefault("paths", {})["/webhooks/diga"] = WEBHOOK_PATH
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Webhook"] = WEBHOOK_SCHEMA
    components.setdefault("securitySchemes", {}).update(WEBHOOK_SCHEMES)
    return document


class DocumentPlugin(JsonRenderPlugin):
    """Serves Litestar's document, with the webhook added, as JSON."""

    def __init__(self) -> None:
        # Mounted under /openapi.json; naming "/openapi.json" too keeps Litestar from adding
        # its own plain document there (it would lack the webhook).
        super().__init__(path=["/", "/openapi.json"])
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(request, with_webhook(openapi_schema))
        return self._rendered


def config(version: str) -> OpenAPIConfig:
    """Served at /openapi.json only (no documentation site)."""
    return OpenAPIConfig(
        title="alerter",
        version=version,
        description="Alerts an ops team when calls handled by Diga voice agents go wrong. "
        "Errors answer {status: error, error_code, message}.",
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A console token (`alerter console token add NAME --role "
                    "viewer|operator`); the console's session cookie works too",
                )
            }
        ),
        openapi_router=Router(path="/openapi.json", route_handlers=[], include_in_schema=False),
        render_plugins=[DocumentPlugin()],
    )
