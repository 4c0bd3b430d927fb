"""Real HTTP servers on 127.0.0.1 standing in for Diga and for alert receivers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

DIGA_KEY = "diga-secret-key-7f3a9c"  # the key the Diga stand-in of the fixtures takes
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CATEGORIES = (
    "CALL_LIFECYCLE USER AGENT CALL_TOOLS INTEGRATION_TOOLS CONVERSATIONAL_PATHS TRANSFER "
    "METRICS SECURITY WEBHOOKS WORKFLOWS KNOWLEDGE"
).split()


@dataclass
class Fault:
    """One injected answer, used once, before the real one."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


class _Backlogged(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a worker opening its pool's connections at once
    # would see SYNs dropped and retried seconds later, which no real API server does.
    request_queue_size = 1024


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Backlogged(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_log(
    call_id: str,
    *,
    level: str = "ERROR",
    category: str = "TRANSFER",
    event: str = "transfer_failed",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    trace_id: str | None = "trace-1",
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": (at or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)).isoformat(),
        "level": level,
        "category": category,
        "event": event,
        "call_id": call_id,
        "trace_id": trace_id,
        "data": data if data is not None else {"message_text": "transfer to +34 600 failed"},
    }


def make_logs(call_id: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """`count` logs a millisecond apart; each its own text unless `data` is given."""
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    return [
        make_log(
            call_id,
            at=start + timedelta(milliseconds=i),
            **{"data": {"message_text": f"transfer {i} failed"}, **kwargs},
        )
        for i in range(count)
    ]


class DigaStandIn(_Server):
    """`GET /v1/log/call/{call_id}` as the vendor's OpenAPI text specifies it."""

    def __init__(self, api_key: str = "test-diga-key") -> None:
        super().__init__(_DigaHandler)
        self.api_key = api_key
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.cookies: list[str | None] = []  # each request's Cookie header, in order
        self.latency = 0.0

    def add_call(self, call_id: str, logs: list[dict[str, Any]]) -> None:
        # Diga's ids are time-ordered; the stand-in keeps insertion order as that order.
        with self.lock:
            self.calls[call_id] = list(logs)

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def requests_for(self, call_id: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["call_id"] == call_id]

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> Fault:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:3] != ["v1", "log", "call"]:
            return Fault(404, _error("NOT_FOUND", "Not found"))
        call_id = parts[3]
        with self.lock:
            self.requests.append({"call_id": call_id, "query": query, "at": time.monotonic()})
            fault = self.faults.pop(0) if self.faults else None
        if fault is not None:
            return fault
        if auth != f"Bearer {self.api_key}":
            return Fault(401, _error("UNAUTHORIZED", "Invalid or missing bearer token"))
        try:
            uuid.UUID(call_id)
        except ValueError:
            return Fault(422, _error("VALIDATION_ERROR", "call_id: Input should be a valid UUID"))
        one = {k: v[0] for k, v in query.items()}
        if "after" in one and "before" in one:
            return Fault(
                422,
                _error(
                    "INVALID_PAGINATION_PARAMETERS",
                    "Cannot specify both 'before' and 'after' parameters",
                ),
            )
        try:
            limit = int(one.get("limit", "100"))
            page = int(one["page"]) if "page" in one else None
        except ValueError:
            return Fault(422, _error("VALIDATION_ERROR", "limit and page must be integers"))
        if not 1 <= limit <= 1000 or (page is not None and page < 1):
            return Fault(422, _error("VALIDATION_ERROR", "limit must be between 1 and 1000"))
        order = one.get("order", "desc")
        if order not in ("asc", "desc"):
            return Fault(422, _error("VALIDATION_ERROR", "order must be asc or desc"))
        level, category = one.get("level"), one.get("category")
        if level is not None and level not in LEVELS:
            return Fault(422, _error("VALIDATION_ERROR", "unknown level"))
        if category is not None and category not in CATEGORIES:
            return Fault(422, _error("VALIDATION_ERROR", "unknown category"))
        with self.lock:
            logs = self.calls.get(call_id)
        if logs is None:
            return Fault(404, _error("CALL_NOT_FOUND", "Call not found"))
        rows = [
            log
            for log in logs
            if (level is None or log["level"] == level)
            and (category is None or log["category"] == category)
        ]
        if order == "desc":
            rows.reverse()
        ids = [log["id"] for log in rows]
        start = 0
        if "after" in one:
            start = ids.index(one["after"]) + 1 if one["after"] in ids else len(ids)
        elif "before" in one:
            end = ids.index(one["before"]) if one["before"] in ids else 0
            rows, start = rows[max(0, end - limit) : end], 0
        elif page is not None:
            start = (page - 1) * limit
        chunk = rows[start : start + limit]
        has_more = start + limit < len(rows)
        total_pages = max(1, -(-len(rows) // limit))
        body = {
            "data": chunk,
            "first_id": chunk[0]["id"] if chunk else None,
            "last_id": chunk[-1]["id"] if chunk else None,
            "has_more": has_more,
            "current_page": start // limit + 1,
            "total_pages": total_pages,
        }
        return Fault(200, body)


def _error(code: str, message: str) -> dict[str, str]:
    return {"status": "error", "error_code": code, "message": message}


class _DigaHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner: DigaStandIn = self.server.owner  # type: ignore[attr-defined]
        parsed = urlparse(self.path)
        with owner.lock:
            owner.cookies.append(self.headers.get("Cookie"))
        if owner.latency:
            time.sleep(owner.latency)
        answer = owner.answer(
            parsed.path, parse_qs(parsed.query), self.headers.get("Authorization")
        )
        if answer.delay:
            time.sleep(answer.delay)
        body = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


class Receiver(_Server):
    """Accepts POSTs (Slack incoming webhooks, JSON webhooks); records each body and its
    headers, and counts the connections it accepted. `keep_alive`: HTTP/1.1, connections
    kept open between requests as real receivers do (else one connection a request)."""

    def __init__(self, ok_body: bytes = b"ok", keep_alive: bool = False) -> None:
        super().__init__(_KeepAliveReceiverHandler if keep_alive else _ReceiverHandler)
        self.ok_body = ok_body
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._changed = threading.Condition(self.lock)

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r["json"] for r in self.received]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Any]:
        """Block until `count` messages arrived (or time out), then return all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return [r["json"] for r in self.received]

    def headers(self) -> list[dict[str, str]]:
        with self.lock:
            return [r["headers"] for r in self.received]

    def take(self, path: str, raw: bytes, headers: dict[str, str] | None = None) -> Fault | None:
        """The next injected answer, if any; a message answered 2xx counts as received
        (a slow acceptance is injected as `Fault(200, delay=...)`)."""
        with self._changed:
            fault = self.faults.pop(0) if self.faults else None
            if fault is not None and not 200 <= fault.status < 300:
                return fault
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            self.received.append({"path": path, "json": body, "headers": headers or {}})
            self._changed.notify_all()
        return fault


class _ReceiverHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        owner: Receiver = self.server.owner  # type: ignore[attr-defined]
        with owner.lock:
            owner.connections += 1

    def do_POST(self) -> None:
        owner: Receiver = self.server.owner  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        fault = owner.take(self.path, raw, {k.lower(): v for k, v in self.headers.items()})
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            body = json.dumps(fault.body).encode() if fault.body is not None else b"error"
            self.send_response(fault.status)
            for name, value in fault.headers.items():
                self.send_header(name, value)
        else:
            body = owner.ok_body
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SlackApiStandIn(_Server):
    """Slack's Web API on 127.0.0.1: chat.postMessage, chat.update, chat.postEphemeral (each
    answered as Slack does, a `ts` of its own for every post) and a `response_url`.
    Records every call in order: (method, JSON body, Authorization header)."""

    def __init__(self) -> None:
        super().__init__(_SlackHandler)
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.answered: list[dict[str, Any]] = []  # what each successful chat.* call answered
        self.groups: dict[str, list[str]] = {}  # user group id -> its members' ids
        self.faults: list[Fault] = []
        self._ts = 1_700_000_000
        self._changed = threading.Condition(self.lock)

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "hook") -> str:
        return f"{self.url}/respond/{name}"

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for name, body, _ in self.calls if name == method]

    def methods(self) -> list[str]:
        with self.lock:
            return [name for name, _, _ in self.calls]

    def answer(
        self, method: str, body: dict[str, Any], auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        with self._changed:
            fault = self.faults.pop(0) if self.faults and method.startswith("chat.") else None
            if fault is not None:
                return fault.status, fault.body, fault.headers
            self.calls.append((method, body, auth))
            self._changed.notify_all()
            if method == "usergroups.users.list":
                return (
                    200,
                    {"ok": True, "users": self.groups.get(body.get("usergroup", ""), [])},
                    {},
                )
            if not method.startswith("chat."):
                return 200, None, {}
            if not auth.startswith("Bearer xox"):
                return 200, {"ok": False, "error": "not_authed"}, {}
            self._ts += 1
            ts = body.get("ts") if method == "chat.update" else f"{self._ts}.000100"
            answer = {"ok": True, "channel": body.get("channel"), "ts": ts}
            self.answered.append(answer)
            return 200, answer, {}


class _SlackHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        query = urlparse(self.path).query
        self._answer(urlparse(self.path).path, {k: v[0] for k, v in parse_qs(query).items()})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "json" in self.headers.get("Content-Type", ""):
            body = json.loads(raw or b"{}")
        else:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self._answer(self.path, body)

    def _answer(self, path: str, body: dict[str, Any]) -> None:
        owner: SlackApiStandIn = self.server.owner  # type: ignore[attr-defined]
        method = path.rsplit("/", 1)[-1] if path.startswith("/api/") else path
        auth = self.headers.get("Authorization", "")
        status, answer, headers = owner.answer(method, body, auth)
        out = json.dumps(answer if answer is not None else {"ok": True}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class _KeepAliveReceiverHandler(_ReceiverHandler):
    protocol_version = "HTTP/1.1"


def _demo() -> None:
    """`python -m tests.standins`: a Diga stand-in with one failing call, and a receiver
    that prints every alert it gets. For trying alerter locally without Diga or Slack."""
    import argparse

    parser = argparse.ArgumentParser(description=_demo.__doc__)
    parser.add_argument("--diga-port", type=int, default=8081)
    parser.add_argument("--receiver-port", type=int, default=8082)
    parser.add_argument("--api-key", default="demo-key")
    args = parser.parse_args()

    diga = DigaStandIn(api_key=args.api_key)
    diga.httpd.server_close()
    diga.httpd = ThreadingHTTPServer(("127.0.0.1", args.diga_port), _DigaHandler)
    diga.httpd.owner = diga  # type: ignore[attr-defined]
    diga.thread = threading.Thread(target=diga.httpd.serve_forever, daemon=True)
    call_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    diga.add_call(
        call_id,
        [
            make_log(call_id, level="INFO", category="CALL_LIFECYCLE", event="call_started"),
            make_log(
                call_id, data={"failure_reason": "SIP 408 timeout transferring to +34 600 000 000"}
            ),
        ],
    )
    receiver = Receiver()
    receiver.httpd.server_close()
    receiver.httpd = ThreadingHTTPServer(("127.0.0.1", args.receiver_port), _ReceiverHandler)
    receiver.httpd.owner = receiver  # type: ignore[attr-defined]
    receiver.thread = threading.Thread(target=receiver.httpd.serve_forever, daemon=True)
    diga.start()
    receiver.start()
    print(f"Diga stand-in: {diga.url}  (API key {args.api_key!r}, call {call_id})")
    print(
        f"receiver:      {receiver.url}  (apprise URL json://127.0.0.1:{args.receiver_port}/alerts)"
    )
    seen = 0
    try:
        while True:
            messages = receiver.wait_for(seen + 1, timeout=3600)
            for message in messages[seen:]:
                print("\n=== alert received ===")
                print(json.dumps(message, indent=2, ensure_ascii=False))
            seen = len(messages)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    _demo()
