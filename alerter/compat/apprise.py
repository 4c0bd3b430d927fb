"""apprise's HTTP plugins on kept connections: one `requests.Session` per sending thread.

Written against apprise 2.3.0 and requests 2.34.2 (`tests/compat/test_apprise.py` holds both
to it). apprise's HTTP plugins post through requests' module functions (`requests.post`,
`requests.request`, ...), each of which makes a Session and closes it, so every send opened
a new TCP (and TLS) connection; apprise offers no way to hand a plugin a session. Those
functions all end in `requests.api.request` (`requests.request` is the same function,
imported by name), so that one function is routed here: on a thread that has a kept session
bound, the request goes through that session; on any other thread, as before.

A bound thread's cookies live for one request, as with a session per request: the jar is
emptied after each, so nothing one destination sets is sent to another.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
import requests.api

WRITTEN_AGAINST = {"apprise": "2.3.0", "requests": "2.34.2"}

_bound = threading.local()
_module_request = requests.api.request


def _request(method: str, url: str, **kwargs: Any) -> requests.Response:
    session: requests.Session | None = getattr(_bound, "session", None)
    if session is None:
        return _module_request(method, url, **kwargs)
    try:
        return session.request(method=method, url=url, **kwargs)
    finally:
        session.cookies.clear()


def install() -> None:
    """Route requests' module functions through the calling thread's kept session, if any.
    Idempotent; a thread with no session bound sees no change."""
    setattr(requests.api, "request", _request)  # noqa: B010
    setattr(requests, "request", _request)  # noqa: B010


class KeptSessions:
    """The sessions of a pool of sending threads: each thread binds its own when it starts
    (`bind_thread`, a ThreadPoolExecutor initializer), and `close` ends them all (the
    worker's shutdown). A thread sends one message at a time, so its session is never used
    by two sends at once."""

    def __init__(self) -> None:
        install()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []

    def bind_thread(self) -> None:
        session = requests.Session()
        with self._lock:
            self._sessions.append(session)
        _bound.session = session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def unbind_thread() -> None:
    """The calling thread's requests go back to a session per request."""
    _bound.session = None
