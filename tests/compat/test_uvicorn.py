"""Contract of alerter/compat/uvicorn.py with uvicorn's and httptools' real code: a real
uvicorn server with the webhook protocol answers the door's route itself and passes every
other request, in order, to the ASGI app; it waits for a webhook in flight when it stops."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alerter.compat import uvicorn as compat
from alerter.compat.uvicorn import RawHeaders, webhook_protocol
from alerter.store.embedded import free_port
from tests.kit.poll import wait_until
from tests.kit.raw_http import exchange, is_closed, read_answer, request


def test_written_against_the_installed_versions() -> None:
    # A new uvicorn may parse, queue or answer elsewhere: read httptools_impl.py again.
    assert compat.WRITTEN_AGAINST == {
        "uvicorn": version("uvicorn"),
        "httptools": version("httptools"),
    }


def test_uvicorn_builds_its_scope_around_the_header_list_the_parser_fills() -> None:
    config = uvicorn.Config(app=lambda *_: None, http="httptools", lifespan="off")
    config.load()
    state = uvicorn.server.ServerState()
    protocol = HttpToolsProtocol(config, state, {}, _loop=asyncio.new_event_loop())
    protocol.on_message_begin()
    assert protocol.scope["headers"] is protocol.headers
    assert (protocol.url, protocol.expect_100_continue, protocol.cycle) == (b"", False, None)


class Door:
    route = b"/hook"
    limit = 64

    def __init__(self) -> None:
        self.seen: list[tuple[RawHeaders, bytes]] = []
        self.early = 0
        self.hold: asyncio.Event | None = None
        self.entered = threading.Event()

    def too_large(self) -> tuple[int, bytes]:
        return 413, b'{"big":1}'

    def ended_early(self) -> None:
        self.early += 1

    def failed(self) -> tuple[int, bytes]:
        return 500, b'{"error_code":"INTERNAL_SERVER_ERROR"}'

    async def answer(self, headers: RawHeaders, body: bytes) -> tuple[int, bytes]:
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        self.seen.append((headers, body))
        if body == b"boom":
            raise RuntimeError("a bug")
        return 202, b'{"got":%d}' % len(body)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    said = f"app {scope['method']} {scope['path']} {len(body)}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(said))],
        }
    )
    await send({"type": "http.response.body", "body": said})


class Running:
    def __init__(self, door: Door) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, http=webhook_protocol(door),
                                lifespan="off", log_level="warning", access_log=False, server_header=False)  # fmt: skip
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())


@pytest.fixture
def door() -> Door:
    return Door()


@pytest.fixture
def running(door: Door) -> Iterator[Running]:
    served = Running(door)
    served.thread.start()
    assert wait_until(lambda: served.server.started, 10)
    yield served
    served.server.should_exit = True
    served.thread.join(10)


def test_the_route_is_answered_by_the_door_and_the_rest_by_the_app(
    running: Running, door: Door
) -> None:
    hook, after = exchange(running.port, request("/hook", b"abc") + request("/hook/x", b"abc"), 2)
    assert after.body == b"app POST /hook/x 3"
    other = exchange(running.port, request("/hookx", b"abc"))[0]  # alone: the door is free
    assert (hook.status, hook.body, hook.header("content-type")) == (
        202,
        b'{"got":3}',
        "application/json",
    )
    assert hook.names() == ["date", "content-type", "content-length"]  # as uvicorn writes an app's
    assert other.body == b"app POST /hookx 3"
    assert [body for _, body in door.seen] == [b"abc"]
    assert (b"content-type", b"application/json") in door.seen[0][0]
    assert exchange(running.port, request("/hook?x=1", b"q"))[0].status == 202
    assert exchange(running.port, request("/hook", method="GET"))[0].body == b"app GET /hook 0"


def test_pipelined_requests_are_answered_in_order(running: Running, door: Door) -> None:
    sent = [request("/hook", b"1"), request("/other", b"22"), request("/hook", b"333"),
            request("/hook", b"4444"), request("/other", b"")]  # fmt: skip
    answers = exchange(running.port, b"".join(sent), 5)
    # A webhook behind another request in flight takes uvicorn's path (the app's answer).
    assert [a.body for a in answers] == [b'{"got":1}', b"app POST /other 2", b"app POST /hook 3",
                                         b"app POST /hook 4", b"app POST /other 0"]  # fmt: skip
    # Read one by one, each webhook is the door's again.
    assert exchange(running.port, sent[0])[0].body == b'{"got":1}'


def test_chunked_continue_and_closing(running: Running, door: Door) -> None:
    assert (
        exchange(running.port, request("/hook", b"x" * 40, chunked=True))[0].body == b'{"got":40}'
    )
    interim, final = exchange(
        running.port, request("/hook", b"ab", headers={"expect": "100-continue"}), 2
    )
    assert (interim.status, final.status) == (100, 202)
    closing = exchange(running.port, request("/hook", b"ab", headers={"connection": "close"}))
    assert closing[0].header("connection") == "close" and is_closed(closing)
    old = exchange(running.port, request("/hook", b"ab", version="1.0"))
    assert old[0].status == 202 and old[0].header("connection") == "close" and is_closed(old)
    assert not is_closed(exchange(running.port, request("/hook", b"ab")))


def test_too_large_is_refused_unread_and_the_connection_kept(running: Running, door: Door) -> None:
    big = exchange(running.port, request("/hook", b"y" * 65) + request("/hook", b"ok"), 2)
    assert [(a.status, a.body) for a in big] == [(413, b'{"big":1}'), (202, b'{"got":2}')]
    chunked = exchange(
        running.port, request("/hook", b"z" * 200, chunked=True) + request("/hook", b"k"), 2
    )
    assert [a.status for a in chunked] == [413, 202]
    assert [body for _, body in door.seen] == [b"ok", b"k"]


def test_a_bug_answers_500_and_a_client_gone_mid_body_is_counted(
    running: Running, door: Door
) -> None:
    failed = exchange(running.port, request("/hook", b"boom"))[0]
    assert failed.status == 500 and b"INTERNAL_SERVER_ERROR" in failed.body
    with socket.create_connection(("127.0.0.1", running.port)) as conn:
        conn.sendall(request("/hook", b"0123456789")[:-5])
    assert wait_until(lambda: door.early == 1, 10)
    assert len(door.seen) == 1  # the cut webhook never reached the door


def test_stopping_waits_for_a_webhook_in_flight(running: Running, door: Door) -> None:
    assert running.loop is not None
    door.hold = asyncio.Event()
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as conn:
        conn.sendall(request("/hook", b"held"))
        assert door.entered.wait(10)
        running.server.should_exit = True
        # uvicorn stops listening and tells each connection in one step.
        assert wait_until(lambda: not any(s.is_serving() for s in running.server.servers), 10)
        assert running.thread.is_alive()
        running.loop.call_soon_threadsafe(door.hold.set)
        answer = read_answer(conn.makefile("rb"))
    assert (answer.status, answer.header("connection")) == (202, "close")
    running.thread.join(10)
    assert not running.thread.is_alive()


def test_stopping_waits_for_a_webhook_whose_client_left(running: Running, door: Door) -> None:
    """The connection gone, only the task keeps uvicorn waiting: the write still completes."""
    _stopping_waits_for_a_held_webhook(running, door)


def _stopping_waits_for_a_held_webhook(running: Running, door: Door) -> None:
    """A webhook held in the door after its client left: a graceful stop waits for it."""
    assert running.loop is not None
    door.hold = asyncio.Event()
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as conn:
        conn.sendall(request("/hook", b"left"))
        assert door.entered.wait(10)
    assert wait_until(lambda: not running.server.server_state.connections, 10)
    running.server.should_exit = True
    assert wait_until(lambda: not any(s.is_serving() for s in running.server.servers), 10)
    running.thread.join(1)  # it never ends by itself while the webhook is held
    assert running.thread.is_alive()
    running.loop.call_soon_threadsafe(door.hold.set)
    running.thread.join(10)
    assert not running.thread.is_alive()
    assert [body for _, body in door.seen] == [b"left"]


class SoonDoor(Door):
    """A door answering as `alerter.http.webhook.Webhooks` does: at once when it can, else a
    future (no coroutine, so no task) set later on the loop."""

    def answer(  # type: ignore[override]
        self, headers: RawHeaders, body: bytes
    ) -> tuple[int, bytes] | asyncio.Future[tuple[int, bytes]]:
        self.entered.set()
        if body == b"now":
            return 200, b'{"now":1}'
        if body == b"raise":
            raise RuntimeError("a bug before any future")
        told: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

        def settle() -> None:
            self.seen.append((headers, body))
            if body == b"boom":
                told.set_exception(RuntimeError("a bug"))
            else:
                told.set_result((202, b'{"got":%d}' % len(body)))

        if self.hold is None:
            asyncio.get_running_loop().call_soon(settle)
        else:
            asyncio.ensure_future(self.hold.wait()).add_done_callback(lambda _: settle())
        return told


@pytest.fixture
def soon() -> Iterator[tuple[Running, SoonDoor]]:
    door = SoonDoor()
    served = Running(door)
    served.thread.start()
    assert wait_until(lambda: served.server.started, 10)
    yield served, door
    served.server.should_exit = True
    served.thread.join(10)


def test_an_answer_given_at_once_or_as_a_future_is_written(
    soon: tuple[Running, SoonDoor],
) -> None:
    running, door = soon
    sent = [request("/hook", b"now"), request("/hook", b"abc"), request("/hook", b"boom"),
            request("/hook", b"raise"), request("/hook", b"ab", headers={"connection": "close"})]  # fmt: skip
    answers = [exchange(running.port, one)[0] for one in sent]
    assert [(a.status, a.body) for a in answers] == [
        (200, b'{"now":1}'),
        (202, b'{"got":3}'),
        (500, b'{"error_code":"INTERNAL_SERVER_ERROR"}'),
        (500, b'{"error_code":"INTERNAL_SERVER_ERROR"}'),
        (202, b'{"got":2}'),
    ]
    assert answers[-1].header("connection") == "close"
    assert [body for _, body in door.seen] == [b"abc", b"boom", b"ab"]
    # Pipelined behind an answered one, a webhook is the door's again.
    assert [a.body for a in exchange(running.port, sent[0] + sent[1], 2)] == [
        b'{"now":1}',
        b'{"got":3}',
    ]
    # Every future's place in the server's tasks given back (the /health `exchange` asks
    # after each is the app's task, ending as its connection closes).
    assert wait_until(lambda: not running.server.server_state.tasks, 10)


def test_stopping_waits_for_a_future_whose_client_left(soon: tuple[Running, SoonDoor]) -> None:
    """The connection gone, only the future in the server's tasks keeps uvicorn waiting."""
    _stopping_waits_for_a_held_webhook(*soon)
