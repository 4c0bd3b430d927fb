"""Servers the benchmarks run in processes of their own, on 127.0.0.1.

python -m bench.servers bare --port P        Litestar handler: parse the body, answer 202
python -m bench.servers route --port P       the api, its webhook answered by the Litestar route
python -m bench.servers diga --port P [--latency 0.05] [--logs 40] [--big-every 50]
                                     [--alert-every 1] [--info 0]
python -m bench.servers receiver --port P    counts alerts (apprise json://), GET /stats
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from litestar import Litestar, Request, Response, post

Scope = dict[str, Any]


def bare_app() -> Any:
    @post("/webhooks/diga", status_code=202)
    async def hook(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        payload = json.loads(await request.body())
        return Response(
            {"status": "queued", "call_id": str(payload.get("call_id", ""))}, status_code=202
        )

    return Litestar([hook], openapi_config=None, logging_config=None)


def alerter_app() -> Any:
    """The api's app as `alerter api` makes it (settings from the environment), for a server
    other than uvicorn: `granian --interface asgi --factory bench.servers:alerter_app`."""
    from alerter.http.app import create_app
    from alerter.http.proxies import BehindProxies
    from alerter.metrics import Metrics, Role
    from alerter.rules.reload import RulesHolder
    from alerter.settings import load_settings

    settings = load_settings()
    assert settings.redis_url, "REDIS_URL is needed"
    rules = RulesHolder(settings.rules_path, Metrics(Role.API))
    rules.reload("start")
    return BehindProxies(create_app(settings, settings.redis_url, rules), settings.trusted_proxies)


def route_server(port: int) -> None:
    """The api as `alerter api` runs one process (settings from the environment), except that
    the webhook goes through uvicorn's ASGI path to the Litestar route, not the server's own
    door (`compat.uvicorn`): the intake as it was before the door, measured beside it."""
    import gc

    import uvloop

    from alerter.cli.serve import server_config

    app = alerter_app().app
    from alerter.settings import load_settings

    server = uvicorn.Server(
        server_config(app, load_settings(), "127.0.0.1", port, webhook_door=False)
    )
    gc.collect()
    gc.freeze()
    uvloop.run(server.serve())


def call_kind(call_id: str, every: int) -> bool:
    """Whether a call is one of the 1 in `every` (by its id's hash): the benchmarks and the
    stand-in agree on which calls are big and which alert."""
    return int(hashlib.sha1(call_id.encode()).hexdigest(), 16) % every == 0


def alerts(call_id: str, alert_every: int) -> bool:
    """One call in `alert_every` carries TRANSFER failures (the bench rule's match); the
    rest LLM errors that no rule matches. Salted, so it is independent of `big`."""
    return call_kind("alert:" + call_id, alert_every)


def _log(i: int, alerting: bool = True, level: str = "ERROR") -> dict[str, Any]:
    if level != "ERROR":
        category, event, text = "CALL_LIFECYCLE", "turn_completed", f"agent turn {i} completed"
    elif alerting:
        category, event = "TRANSFER", "transfer_failed"
        text = f"transfer to +34 600 000 {i % 1000:03d} failed: SIP 408 timeout"
    else:
        category, event = "LLM", "llm_timeout"
        text = f"transfer to +34 600 000 {i % 1000:03d} failed: SIP 408 timeout"
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "timestamp": f"2026-11-25T12:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z",
        "level": level,
        "category": category,
        "event": event,
        "call_id": None,
        "trace_id": f"{i:032x}",
        "data": {"message_text": text, "failure_reason": "timeout"},
    }


class DigaStandIn:
    """Pages are the same bytes for every call of a kind (only their count matters to the
    worker), built once, so the stand-in spends next to no CPU of the machine it shares.

    A call holds `logs` ERROR logs (`big_logs` for one call in `big_every`) and `info` INFO
    logs spread among them, oldest first; `level` filters (ERROR, or every level when
    absent), `after` is a cursor in the filtered sequence, `limit` the page size."""

    def __init__(
        self,
        latency: float,
        logs: int,
        big_every: int,
        alert_every: int = 1,
        big_logs: int = 2500,
        info: int = 0,
    ) -> None:
        self.latency, self.logs, self.big_every, self.big_logs = latency, logs, big_every, big_logs
        self.alert_every, self.info = alert_every, info
        self.calls: dict[tuple[int, bool], list[dict[str, Any]]] = {}
        self.pages: dict[tuple[int, bool, str | None, str | None, int], bytes] = {}
        self.empty = self._page([], False)
        self.requests = 0
        self.bytes = 0

    @staticmethod
    def _page(rows: list[dict[str, Any]], more: bool) -> bytes:
        return json.dumps(
            {
                "data": rows,
                "has_more": more,
                "first_id": rows[0]["id"] if rows else None,
                "last_id": rows[-1]["id"] if rows else None,
            }
        ).encode()

    def _call(self, errors: int, alerting: bool) -> list[dict[str, Any]]:
        key = (errors, alerting)
        if key not in self.calls:
            total = errors + self.info
            at = {k * total // errors for k in range(errors)} if errors else set()
            self.calls[key] = [
                _log(i, alerting, "ERROR" if i in at else "INFO") for i in range(total)
            ]
        return self.calls[key]

    def page(
        self, errors: int, alerting: bool, level: str | None, after: str | None, limit: int
    ) -> bytes:
        key = (errors, alerting, level, after, limit)
        if key not in self.pages:
            rows = [r for r in self._call(errors, alerting) if level in (None, r["level"])]
            ids = [r["id"] for r in rows]
            start = ids.index(after) + 1 if after in ids else (len(ids) if after else 0)
            self.pages[key] = self._page(rows[start : start + limit], start + limit < len(rows))
        return self.pages[key]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stats":
            stats = {"requests": self.requests, "bytes": self.bytes}
            await _answer(send, 200, json.dumps(stats).encode())
            return
        self.requests += 1
        call_id = scope["path"].rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        if self.latency:
            await asyncio.sleep(self.latency)
        level = query.get("level")
        if level not in (None, "ERROR", "INFO"):
            body = self.empty
        else:
            big = call_kind(call_id, self.big_every)
            body = self.page(
                self.big_logs if big else self.logs,
                alerts(call_id, self.alert_every),
                level,
                query.get("after"),
                int(query.get("limit", "100")),
            )
        self.bytes += len(body)
        await _answer(send, 200, body)


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.posts = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            body = json.dumps({"posts": self.posts, "arrivals": self.arrivals}).encode()
            await _answer(send, 200, body)
            return
        body = await read_body(receive)
        self.posts += 1
        title = json.loads(body or b"{}").get("title", "")
        call_id = title.rsplit(" ", 1)[-1]
        self.arrivals.setdefault(call_id, time.time())
        await _answer(send, 200, b"ok")


async def read_body(receive: Any) -> bytes:
    """A whole ASGI request body."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["bare", "diga", "receiver", "route"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--logs", type=int, default=40)
    parser.add_argument("--big-every", type=int, default=50)
    parser.add_argument("--alert-every", type=int, default=1)
    parser.add_argument("--info", type=int, default=0, help="INFO logs a call, among its errors")
    args = parser.parse_args()
    if args.kind == "route":
        route_server(args.port)
        return
    app: Any = {
        "bare": bare_app,
        "diga": lambda: DigaStandIn(
            args.latency, args.logs, args.big_every, args.alert_every, info=args.info
        ),
        "receiver": Receiver,
    }[args.kind]()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=2048
    )


if __name__ == "__main__":
    main()
