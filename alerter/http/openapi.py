"""The api's own OpenAPI document, served at `GET /openapi.json` (written, not inferred:
the webhook handler reads raw bytes so that it can check signatures first)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_UUID = {"type": "string", "format": "uuid"}


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
                        "call_id": {"type": "string", "format": "uuid"},
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


def document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "alerter", "version": version},
        "paths": {
            "/webhooks/diga": {
                "post": {
                    "summary": "A Diga call event; call ends are queued for alerting",
                    "description": "When ALERTER_WEBHOOK_SECRET is set, the request must be "
                    "signed: Standard Webhooks headers (webhook-id, webhook-timestamp within "
                    "5 minutes, webhook-signature 'v1,<base64 HMAC-SHA256 of "
                    '"id.timestamp.body">\', several space-separated for key rotation), or '
                    "'Authorization: Bearer <the whole secret>'. `alerter webhook sign` prints "
                    "the headers for a body.",
                    "parameters": [
                        _header("webhook-id", "Standard Webhooks message id"),
                        _header("webhook-timestamp", "Seconds since the epoch, within 5 minutes"),
                        _header("webhook-signature", "v1,<base64 signature> [v1,<…> …]"),
                    ],
                    "security": [{}, {"bearerSecret": []}, {"standardWebhooks": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Webhook"}}
                        },
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
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": _answer("Alive", ["ok"])},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: Redis answers and rules are loaded",
                    "responses": {
                        "200": _answer("Ready", ["ready"]),
                        "503": _error("Not ready, and why"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.0 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerSecret": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The whole ALERTER_WEBHOOK_SECRET, whsec_ prefix included",
                },
                "standardWebhooks": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks: with webhook-id and webhook-timestamp",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "error_code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "status": {"type": "string", "enum": ["error"]},
                        "error_code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                        "message": {"type": "string", "minLength": 1},
                    },
                },
                "Webhook": {
                    "type": "object",
                    "description": "The call id is the first of call_id, call.id, data.call_id, "
                    "data.id; the event the first of event, type, event_type. A body whose "
                    "event is not a call end is ignored.",
                    "properties": {
                        "event": {"type": "string"},
                        "type": {"type": "string"},
                        "event_type": {"type": "string"},
                        "call_id": _UUID,
                        "call": {"type": "object", "properties": {"id": _UUID}},
                        "data": {
                            "type": "object",
                            "properties": {"call_id": _UUID, "id": _UUID},
                        },
                    },
                    # The other shapes (call.id, data.call_id, data.id) are accepted too; the
                    # document names the canonical one so generated examples are all valid.
                    "required": ["call_id"],
                },
            },
        },
    }
