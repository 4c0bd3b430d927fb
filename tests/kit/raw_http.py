"""HTTP/1.1 spoken byte by byte: requests written as given (pipelined, chunked, Expect) and
answers read one after another off one connection, as a server wrote them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class Raw:
    status: int
    headers: tuple[tuple[str, str], ...]  # in order, names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def names(self) -> list[str]:
        return [key for key, _ in self.headers]


def request(
    path: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    version: str = "1.1",
    chunked: bool = False,
) -> bytes:
    """One request's bytes: Content-Length from the body unless chunked or given."""
    given = {"host": "127.0.0.1", "content-type": "application/json", **(headers or {})}
    if chunked:
        given["transfer-encoding"] = "chunked"
        third = max(1, len(body) // 3)
        parts = [body[i : i + third] for i in range(0, len(body), third)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    elif "content-length" not in given and (body or method == "POST"):
        given["content-length"] = str(len(body))
    head = f"{method} {path} HTTP/{version}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in given.items()
    )
    return head.encode() + b"\r\n" + body


def read_answer(reader: BinaryIO) -> Raw:
    """The next answer on the connection, 1xx interim answers included as their own."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("the connection closed before an answer")
    status = int(status_line.split()[1])
    headers = []
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))
    length = next((int(v) for k, v in headers if k == "content-length"), 0)
    body = reader.read(length) if length else b""
    return Raw(status, tuple(headers), body)


def exchange(port: int, data: bytes, answers: int = 1, timeout: float = 10) -> list[Raw]:
    """Write `data` on a new connection and read `answers` answers back; then ask for
    /health on the same connection: a last `Raw` of status 0 when the server had closed it
    (no timing: a kept connection answers, a closed one ends)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        reader = conn.makefile("rb")
        got = [read_answer(reader) for _ in range(answers)]
        try:
            conn.sendall(request("/health", method="GET"))
            read_answer(reader)
        except (ConnectionError, OSError):
            return [*got, Raw(0, (), b"")]
        return got


def is_closed(answers: list[Raw]) -> bool:
    return bool(answers) and answers[-1].status == 0
