"""The soak's stand-ins: a Diga that fails on purpose and destinations that count what they
accept, served by uvicorn in threads of the soak's own process."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from bench.servers import read_body

Scope = dict[str, Any]


def share(call_id: str, salt: str) -> float:
    """A stable number in [0, 1) per call and purpose."""
    return int(hashlib.sha256(f"{salt}:{call_id}".encode()).hexdigest()[:8], 16) / 2**32


def fires(call_id: str) -> bool:
    return share(call_id, "fires") >= 0.2  # 80 % of calls have a TRANSFER failure


class FaultyDiga:
    """Each fault fails its try's fetch: the job asks both levels again (2 requests)."""

    def refetched(self, call_id: str) -> bool:
        """Asked for more than its faults explain: fetched again for another reason."""
        return self.per_call[call_id] > 2 + 2 * self.faults_per_call[call_id]

    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self.per_call: Counter[str] = Counter()
        self.faults_per_call: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.requests += 1
        self.per_call[scope["path"].rsplit("/", 1)[-1]] += 1
        roll = self.rng.random()
        if roll < 0.10:
            self.faults_per_call[scope["path"].rsplit("/", 1)[-1]] += 1
        if roll < 0.05:
            self.faults["503"] += 1
            await _answer(send, 503, b'{"status":"error","error_code":"UNAVAILABLE","message":"x"}')
            return
        if roll < 0.07:
            self.faults["429"] += 1
            await _answer(send, 429, b"{}", [(b"retry-after", b"1")])
            return
        if roll < 0.10:
            self.faults["slow"] += 1
            await asyncio.sleep(1.5)  # past the worker's 1 s timeout
        call_id = scope["path"].rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        rows = []
        if query.get("level") == "ERROR" and fires(call_id):
            rows = [
                {
                    "id": str(uuid.UUID(int=int(share(call_id, str(i)) * 2**64))),
                    "timestamp": f"2026-11-25T12:00:0{i}.000Z",
                    "level": "ERROR",
                    "category": "TRANSFER",
                    "event": "transfer_failed",
                    "trace_id": "t",
                    "data": {"message_text": f"transfer {i} failed"},
                }
                for i in range(3)
            ]
        body = {"data": rows, "has_more": False, "first_id": None, "last_id": None}
        await _answer(send, 200, json.dumps(body).encode())


class Destination:
    """Counts alerts per call; `refuse` of them (at random; 1.0: all) answered 503 first."""

    def __init__(self, refuse: float) -> None:
        self.refuse = refuse
        self.rng = random.Random(11)
        self.accepted: Counter[str] = Counter()
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if self.rng.random() < self.refuse:
            self.refused += 1
            await _answer(send, 503, b'{"error":"down for maintenance"}')
            return
        title = json.loads(body or b"{}").get("title", "")
        self.accepted[title.rsplit(" ", 1)[-1]] += 1
        await _answer(send, 200, b"ok")


async def _answer(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_in_thread(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server
