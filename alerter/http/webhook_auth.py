"""Webhook authentication (pure): Standard Webhooks signatures, or a bearer secret.

Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
secret given as `whsec_<base64>`, several space-separated signatures for key rotation,
timestamps within 5 minutes. `Authorization: Bearer <secret>` (the whole configured value)
is accepted too. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from alerter.settings import signing_key_of

TOLERANCE_SECONDS = 300


class AuthError(Exception):
    """Why a webhook was refused; the message names no secret."""


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a body (used by tests and by senders we control)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    """Returns when the request is authentic, else raises `AuthError`."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), secret.encode()
        ):
            return
        if "webhook-signature" not in headers:
            raise AuthError("bearer token does not match")
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise AuthError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise AuthError("webhook-timestamp is not a number") from None
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise AuthError("webhook-timestamp is outside the 5-minute tolerance")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return
    raise AuthError("no valid signature")
