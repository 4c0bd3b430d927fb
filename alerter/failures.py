"""Why a request failed, in the one vocabulary every surface shows (call story, `failed
list`, the Failed page, history, the worker's log line):

    slack-ops (hooks.slack.com): HTTP 503 upstream down for maintenance
    Diga (api.diga.io): refused

that is who, which host, then the HTTP status with the first 200 characters of the answer,
or the connection error's kind: `dns`, `refused`, `tls`, `timeout`, `reset`.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

ANSWER_CHARS = 200
KINDS = ("dns", "refused", "tls", "timeout", "reset")


def error_kind(exc: BaseException) -> str:
    """The kind of a connection error, read from its root cause (requests, aiohttp and httpx
    wrap the socket's error, and not always rightly: httpx-aiohttp reports a refused
    connection as a connect *timeout*); `error` when none of the five fits."""
    chain: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        err = stack.pop(0)
        if any(err is seen for seen in chain):
            continue
        chain.append(err)
        stack += [e for e in (err.__cause__, err.__context__) if e is not None]
        stack += [a for a in getattr(err, "args", ()) if isinstance(a, BaseException)]
        for name in ("reason", "os_error"):  # urllib3's MaxRetryError, aiohttp's connector
            inner = getattr(err, name, None)
            if isinstance(inner, BaseException):
                stack.append(inner)
    for err in reversed(chain):  # the deepest cause that says what happened
        kind = _own_kind(err)
        if kind is not None:
            return kind
    return "error"


def _own_kind(err: BaseException) -> str | None:
    name = type(err).__name__
    if isinstance(err, socket.gaierror) or "NameResolution" in name or "DNS" in name:
        return "dns"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ssl.SSLError) or "SSL" in name or "Certificate" in name:
        return "tls"
    if isinstance(err, TimeoutError) or "Timeout" in name:
        return "timeout"
    if isinstance(err, (ConnectionResetError, BrokenPipeError)) or name in (
        "RemoteDisconnected",
        "ServerDisconnectedError",
        "RemoteProtocolError",
        "ChunkedEncodingError",
        "ProtocolError",
    ):
        return "reset"
    return None


def http_answer(status: int, body: bytes | str) -> str:
    """`HTTP 503 <the answer's first 200 characters>`, on one line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text[: ANSWER_CHARS * 2].split())[:ANSWER_CHARS]
    return f"HTTP {status} {text}".rstrip()


def host_of(url: str) -> str:
    """The host (and port) a URL names, never its user, password, path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "?"
    return f"{host}:{port}" if port else host


def described(who: str, host: str, why: str) -> str:
    return f"{who} ({host}): {why}"
