"""The one error an HTTP handler raises to answer in the service's shape
(`{"status": "error", "error_code": ..., "message": ...}`)."""

from __future__ import annotations


class ErrorAnswer(Exception):
    """A request refused: the HTTP status, a SCREAMING_SNAKE code, a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
