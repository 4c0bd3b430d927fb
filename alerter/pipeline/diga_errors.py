"""Diga's failed answers as typed errors (the worker retries, records or gives up by type),
and its `Retry-After` read as seconds."""

from __future__ import annotations

import email.utils
import json

import httpx

from alerter.failures import described, http_answer


class DigaError(Exception):
    """A failed fetch. `retryable` says whether trying again later can help."""

    retryable = False
    kind = "diga_error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class DigaUnavailable(DigaError):
    """429, 5xx, timeouts, resets and malformed answers: try again after a pause."""

    retryable = True
    kind = "diga_unavailable"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CallNotFound(DigaError):
    """404 CALL_NOT_FOUND: calls and their logs can land late, so retried a few times."""

    retryable = True
    kind = "call_not_found"


class DigaAuthError(DigaError):
    """401/403: a configuration error, never cured by retrying."""

    kind = "diga_auth"


class DigaRejected(DigaError):
    """422 and other 4xx: Diga refused our request; a bug on our side."""

    kind = "diga_rejected"


def error_for(response: httpx.Response, body: bytes, host: str, now: float) -> DigaError:
    """The error of an answer that is not a page: its status, Diga's code, its words."""
    status = response.status_code
    code, _ = _error_body(body)
    why = described("Diga", host, http_answer(status, body))
    if status == 429 or status >= 500:
        return DigaUnavailable(
            why, status=status, retry_after=parse_retry_after(response.headers, now)
        )
    if status == 404:
        return CallNotFound(why, status=status, code=code or "CALL_NOT_FOUND")
    if status in (401, 403):
        return DigaAuthError(why, status=status, code=code)
    return DigaRejected(why, status=status, code=code)


def _error_body(raw: bytes) -> tuple[str | None, str | None]:
    """Diga's `ErrorResponseSchema`, when the body is one; texts cut short."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error_code")
    message = body.get("message")
    return (
        str(code)[:80] if code is not None else None,
        str(message)[:300] if message is not None else None,
    )


def parse_retry_after(headers: httpx.Headers, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP date."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
