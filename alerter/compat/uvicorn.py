"""The webhook answered by the server itself, below ASGI: a subclass of uvicorn's httptools
protocol that, for exactly `POST <route>` (a query string allowed, as the Litestar route
allows it), collects the body and writes the HTTP/1.1 answer with no ASGI scope, task per
message or framework in between. Measured: uvicorn's cycle and the framework cost more a
webhook than Alertmanager's whole request (docs/performance.md, "The webhook below ASGI").

Every other request, and a webhook that comes while the connection still answers an
earlier request (pipelined), goes through uvicorn's own path untouched. The webhook stands
in uvicorn's cycle slot while it is answered, so pipelined requests queue behind it. The
door answers at once, or with a future (written from its callback, no task a webhook), or
an awaitable (run in a task); the future or task stands in the server's tasks, so a
graceful shutdown waits for it: a 202 is only sent once the Redis write is done.

Written against uvicorn 0.54.0 and httptools 0.9.0 (tests/compat/test_uvicorn.py): it
relies on `HttpToolsProtocol`'s parser callbacks and the per-connection attributes they
use (`url`, `headers`, `expect_100_continue`, `scope`, `cycle`, `pipeline`, `tasks`,
`flow`, `on_response_complete`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from functools import partial
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

WRITTEN_AGAINST = {"uvicorn": "0.54.0", "httptools": "0.9.0"}

log = logging.getLogger(__name__)

RawHeaders = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes]
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Door(Protocol):
    """What the fast path answers with (`alerter.http.webhook.Webhooks`)."""

    route: bytes
    limit: int

    def too_large(self) -> Answer: ...

    def ended_early(self) -> None: ...

    def failed(self) -> Answer: ...

    def answer(
        self, headers: RawHeaders, body: bytes
    ) -> Answer | asyncio.Future[Answer] | Awaitable[Answer]: ...


class _Webhook:
    """One webhook on a connection, in uvicorn's cycle slot: `response_complete` and
    `keep_alive` are what uvicorn reads there (pipelining, shutdown)."""

    __slots__ = ("chunks", "complete", "headers", "keep_alive", "response_complete", "size")

    def __init__(self, headers: RawHeaders, keep_alive: bool) -> None:
        self.headers = headers
        self.chunks: list[bytes] = []
        self.size = 0
        self.keep_alive = keep_alive
        self.response_complete = False
        self.complete = False  # the whole body is in


class WebhookProtocol(HttpToolsProtocol):
    door: Door  # set by `webhook_protocol`
    heads: dict[object, object]  # each answer's head, for the date they hold (`_head`)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Where uvicorn is asked to log, limit or re-root each request, its own path does it.
        config = self.config
        self.fast = not config.access_log and self.limit_concurrency is None and not self.root_path
        self.with_query = self.door.route + b"?"

    def on_message_begin(self) -> None:
        # The scope uvicorn builds for every request is built in `on_headers_complete`, for
        # the requests its own path serves.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        cycle, parser, url = self.cycle, self.parser, self.url
        if (
            self.fast
            and (url == self.door.route or url.startswith(self.with_query))
            and (cycle is None or cycle.response_complete)
            and parser.get_method() == b"POST"
            and not parser.should_upgrade()
        ):
            self._begin()
            return
        headers, expect = self.headers, self.expect_100_continue
        HttpToolsProtocol.on_message_begin(self)
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers
        super().on_headers_complete()

    def _begin(self) -> None:
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        webhook = _Webhook(self.headers, keep_alive)
        self.cycle = webhook  # type: ignore[assignment]
        for name, value in self.headers:
            if name == b"content-length":  # a number: the parser refused the request if not
                if int(value) > self.door.limit:
                    # Refused before the body is read; the rest of it is skipped as it comes.
                    self._reply(webhook, self.door.too_large())
                    return
                break
        if self.expect_100_continue:
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        webhook: object = self.cycle
        if type(webhook) is not _Webhook:
            super().on_body(body)
            return
        if webhook.response_complete:
            return
        webhook.size += len(body)
        if webhook.size > self.door.limit:
            webhook.chunks.clear()
            self._reply(webhook, self.door.too_large())
            return
        webhook.chunks.append(body)

    def on_message_complete(self) -> None:
        webhook: object = self.cycle
        if type(webhook) is not _Webhook:
            super().on_message_complete()
            return
        if webhook.response_complete:
            return
        webhook.complete = True
        chunks = webhook.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            got = self.door.answer(webhook.headers, body)
        except Exception:
            log.exception("unhandled error on POST %s", self.door.route.decode())
            got = self.door.failed()
        if isinstance(got, tuple):
            self._answered(webhook, got)
        elif isinstance(got, asyncio.Future):
            # No task: the answer written from the future's callback. The future stands in
            # the server's tasks meanwhile, so a graceful stop waits for it as for a task.
            self.tasks.add(got)  # type: ignore[arg-type]
            got.add_done_callback(partial(self._settled, webhook))
        else:
            self._in_task(webhook, self._awaited(got))

    def _settled(self, webhook: _Webhook, got: asyncio.Future[Answer]) -> None:
        self.tasks.discard(got)
        if got.cancelled():  # a forced stop: as a cancelled task, no answer
            return
        if (exc := got.exception()) is not None:
            log.error("unhandled error on POST %s", self.door.route.decode(), exc_info=exc)
            self._answered(webhook, self.door.failed())
        else:
            self._answered(webhook, got.result())

    async def _awaited(self, answer: Awaitable[Answer]) -> Answer:
        try:
            return await answer
        except Exception:
            log.exception("unhandled error on POST %s", self.door.route.decode())
            return self.door.failed()

    def _answered(self, webhook: _Webhook, answer: Answer) -> None:
        if self.flow.write_paused and not self.transport.is_closing():
            self._in_task(webhook, self._drained(answer))  # the client reads slowly: wait
        else:
            self._reply(webhook, answer)

    async def _drained(self, answer: Answer) -> Answer:
        await self.flow.drain()
        return answer

    def _in_task(self, webhook: _Webhook, answer: Coroutine[Any, Any, Answer]) -> None:
        task = self.loop.create_task(self._later(webhook, answer))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _later(self, webhook: _Webhook, answer: Coroutine[Any, Any, Answer]) -> None:
        self._answered(webhook, await answer)

    def _reply(self, webhook: _Webhook, answer: Answer) -> None:
        """The answer as uvicorn writes the app's: its default headers (date) first."""
        webhook.response_complete = True
        transport = self.transport
        if transport.is_closing():  # the client went away: nobody hears it
            return
        status, content = answer
        transport.write(self._head(status, webhook.keep_alive) % len(content) + content)
        if not webhook.keep_alive:
            transport.close()
        self.on_response_complete()

    def _head(self, status: int, keep_alive: bool) -> bytes:
        """The answer's head up to its length, made once a second (uvicorn renews the date)."""
        defaults = self.server_state.default_headers
        heads = self.heads
        if heads.get("of") is not defaults:
            heads.clear()
            heads["of"] = defaults
        key = (status, keep_alive)
        head = heads.get(key)
        if head is None:
            parts = [STATUS_LINE[status].replace(b"%", b"%%")]
            parts += [b"%s: %s\r\n" % (n, v.replace(b"%", b"%%")) for n, v in defaults]
            parts.append(b"content-type: application/json\r\ncontent-length: %d\r\n")
            parts.append(b"\r\n" if keep_alive else b"connection: close\r\n\r\n")
            head = heads[key] = b"".join(parts)
        assert isinstance(head, bytes)
        return head

    def connection_lost(self, exc: Exception | None) -> None:
        webhook: object = self.cycle
        if type(webhook) is _Webhook:
            if not webhook.complete and not webhook.response_complete:
                self.door.ended_early()
            self.cycle = None  # type: ignore[assignment]
        super().connection_lost(exc)


def webhook_protocol(door: Door) -> type[WebhookProtocol]:
    """The protocol class to give `uvicorn.Config(http=...)`."""
    return type("DoorProtocol", (WebhookProtocol,), {"door": door, "heads": {}})
