"""The one error an HTTP handler raises to answer in the service's shape
(`{"status": "error", "error_code": ..., "message": ...}`)."""

from __future__ import annotations

from collections.abc import Mapping


class ErrorAnswer(Exception):
    """A request refused: the HTTP status, a SCREAMING_SNAKE code, a message for people,
    and headers the answer carries (`Retry-After` with a 429)."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
