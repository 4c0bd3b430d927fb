"""The long-running commands: `serve` (api + worker), `api`, `worker` (and `--check`).

Each process makes its rules holder (and with it its metrics registry) once, watches the
rule files (and SIGHUP), and stops on SIGINT/SIGTERM at its own pace (`pipeline.runner`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
from litestar import Litestar
from redis.exceptions import RedisError

from alerter.cli.common import WORKER_YOUNG_OBJECTS, require_redis, settle_heap
from alerter.clock import Clock
from alerter.http.app import create_app
from alerter.http.proxies import BehindProxies
from alerter.http.webhook import door_protocol
from alerter.logs import configure
from alerter.metrics import Metrics, Role
from alerter.rules.reload import RulesHolder
from alerter.settings import Settings, is_loopback
from alerter.store.connect import arq_settings
from alerter.store.embedded import (
    URL_FILE,
    EmbeddedServer,
    StateDirBusy,
    state_dir_lock,
    write_private,
)
from alerter.worker.app import health_key, make_worker
from alerter.worker.runner import run_worker, stop_on_signals

log = logging.getLogger("alerter")
T = TypeVar("T")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    serve_cmd = sub.add_parser("serve", help="api and worker in one process, for one machine")
    serve_cmd.set_defaults(handler=_serve_command)
    api_cmd = sub.add_parser("api", help="the webhook api alone (needs REDIS_URL)")
    # A process of `alerter api` started by another on the socket it listens on (inherited).
    api_cmd.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    api_cmd.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # the one that started it
    api_cmd.set_defaults(handler=_api_command)
    worker_cmd = sub.add_parser("worker", help="the worker alone (needs REDIS_URL)")
    worker_cmd.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a worker reported healthy in the last minute, else 1 (for probes)",
    )
    worker_cmd.set_defaults(handler=_worker_command)


def _serve_command(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    _long_running(settings)
    return serve(settings, clock)


def _api_command(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    redis_url = require_redis(settings)
    _long_running(settings)
    if args.listen_fd is not None:
        return api(settings, redis_url, clock, socket.socket(fileno=args.listen_fd), args.parent)
    if settings.api_processes > 1:
        return api_processes(settings)
    return api(settings, redis_url, clock)


def _worker_command(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    redis_url = require_redis(settings)
    if args.check:
        return worker_check(redis_url, settings.worker_name)
    _long_running(settings)
    return worker(settings, redis_url, clock)


def _long_running(settings: Settings) -> None:
    configure(settings.log_level, settings.log_format)
    # Server logs keep apprise's own INFO and WARNING lines (they name no URL; see deliver).
    logging.getLogger("apprise").setLevel(logging.INFO)


def unsigned_exposure(settings: Settings) -> str | None:
    """Why the api must not start: listening beyond this machine with no webhook secret."""
    if settings.webhook_secret is not None or settings.allow_unsigned:
        return None
    if is_loopback(settings.host):
        return None
    return (
        f"refusing to accept unsigned webhooks on {settings.host}: anyone who reaches it could "
        "queue calls and skew failure-rate rules. Set ALERTER_WEBHOOK_SECRET (see the README, "
        "'Signed webhooks'), or ALERTER_ALLOW_UNSIGNED=1 if a trusted network signs for you."
    )


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived process's event loop on uvloop where it is installed (Linux and
    macOS): measured faster for the worker's many small requests and for the intake
    (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    return uvloop.run(main)


def console_exposure(settings: Settings) -> str | None:
    """Why the api must not start: a console open to everyone, beyond this machine."""
    if settings.console_mode() == "none" and not is_loopback(settings.host):
        return (
            f"refusing ALERTER_CONSOLE_AUTH=none on {settings.host}: anyone who reaches it "
            "could silence alerts. Use token (see the README, 'The console') or proxy."
        )
    return None


def warn_setup(settings: Settings, *, takes_webhooks: bool = True) -> None:
    if settings.diga_api_key is None:
        log.warning("DIGA_API_KEY is not set: Diga will refuse to give logs")
    if takes_webhooks and settings.webhook_secret is None:
        log.warning("ALERTER_WEBHOOK_SECRET is not set: webhooks are accepted unsigned")


def serve(settings: Settings, clock: Clock) -> int:
    """api + worker in one process (one clock); an embedded server when REDIS_URL is unset."""
    if refused := unsigned_exposure(settings) or console_exposure(settings):
        log.error("%s", refused)
        return 2
    rules = RulesHolder(settings.rules_path)
    if not rules.reload("start"):
        # One machine, often a first try: the api still queues webhooks (nothing lost) and
        # the worker starts as soon as the files are fixed.
        log.error("webhooks are queued, not processed, until the rules are valid")
    warn_setup(settings)
    if settings.redis_url:
        run_fast(_serve_both(settings, rules, settings.redis_url, clock))
        return 0
    url_file = settings.state_dir / URL_FILE
    try:
        with (
            state_dir_lock(settings.state_dir),
            EmbeddedServer(
                settings.state_dir / "data", password=secrets.token_urlsafe(24)
            ) as server,
        ):
            log.info("embedded server at %s (data in %s)", server.address, server.data_dir)
            write_private(url_file, server.url + "\n")
            try:
                run_fast(_serve_both(settings, rules, server.url, clock))
            finally:
                url_file.unlink(missing_ok=True)
    except StateDirBusy as exc:
        log.error("%s", exc)
        return 1
    return 0


async def _serve_both(settings: Settings, rules: RulesHolder, redis_url: str, clock: Clock) -> None:
    server = http_server(create_app(settings, redis_url, rules, clock), settings)
    stop = asyncio.Event()
    stop_on_signals(stop, lambda: setattr(server, "should_exit", True))

    async def worker_once_rules_load() -> None:
        loaded = asyncio.ensure_future(rules.loaded.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({loaded, stopped}, return_when=asyncio.FIRST_COMPLETED)
        loaded.cancel()
        stopped.cancel()
        if not stop.is_set():
            await run_worker(lambda: make_worker(settings, rules, redis_url, clock=clock), stop)

    log.info("listening on http://%s:%d", settings.host, settings.port)
    settle_heap()
    await asyncio.gather(
        _until_done(server.serve(), stop),
        rules.watch(stop, settings.rules_poll_seconds),
        worker_once_rules_load(),
    )


def api(
    settings: Settings,
    redis_url: str,
    clock: Clock,
    listening: socket.socket | None = None,
    parent: int | None = None,
) -> int:
    """One api process; on `listening` (a socket `parent` bound) when given."""
    if refused := unsigned_exposure(settings) or console_exposure(settings):
        log.error("%s", refused)
        return 2
    rules = RulesHolder(settings.rules_path, Metrics(Role.API))
    if not rules.reload("start"):
        return 1
    warn_setup(settings)

    async def run() -> None:
        server = http_server(create_app(settings, redis_url, rules, clock), settings)
        stop = asyncio.Event()
        stop_on_signals(stop, lambda: setattr(server, "should_exit", True))
        settle_heap()
        await asyncio.gather(
            _until_done(server.serve(sockets=[listening] if listening else None), stop),
            rules.watch(stop, settings.rules_poll_seconds),
            _while_parent_lives(parent, server, stop) if parent else asyncio.sleep(0),
        )

    run_fast(run())
    return 0


def api_processes(settings: Settings) -> int:
    """`alerter api` as `ALERTER_API_PROCESSES` processes on one listening socket, the kernel
    handing each connection to one of them (measured: docs/performance.md, "Intake"). Each
    is a whole api: its own Redis connections (so a webhook is in Redis before its 202, as
    with one), rules and /health; their metrics are written to one folder and summed by
    whichever answers a scrape. This process only starts them, passes SIGTERM and SIGINT
    on, and stops them all when one ends unasked (a container then restarts the lot)."""
    if refused := unsigned_exposure(settings) or console_exposure(settings):
        log.error("%s", refused)
        return 2
    try:
        listening = _listen(settings.host, settings.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror)
        return 1
    metrics_dir = tempfile.mkdtemp(prefix="alerter-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    if settings.console_secret is None:
        # One secret for all: a console form one process served is posted to any other.
        env["ALERTER_CONSOLE_SECRET"] = secrets.token_urlsafe(32)
    fd = listening.fileno()
    command = [sys.executable, "-m", "alerter.cli", "api", "--listen-fd", str(fd)]
    command += ["--parent", str(os.getpid())]
    children = [
        subprocess.Popen(command, env=env, pass_fds=(fd,)) for _ in range(settings.api_processes)
    ]
    listening.close()
    asked: list[int] = []

    def pass_on(signum: int, _frame: object) -> None:
        asked.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    log.info(
        "listening on http://%s:%d (%d processes)",
        settings.host,
        settings.port,
        settings.api_processes,
    )
    try:
        while not asked and all(child.poll() is None for child in children):
            time.sleep(0.2)
        if not asked:
            ended = next(child for child in children if child.poll() is not None)
            log.error("an api process ended (exit %s): stopping the others", ended.returncode)
            pass_on(signal.SIGTERM, None)
        codes = [child.wait() for child in children]
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    # A process still starting when the signal came ends by it: stopped as asked, too.
    clean = {0, *(-signum for signum in asked)}
    return 0 if asked and all(code in clean for code in codes) else 1


async def _while_parent_lives(parent: int, server: uvicorn.Server, stop: asyncio.Event) -> None:
    """One of several api processes stops when the process that started them is gone
    (killed, it could pass no signal on): none is left holding the port."""
    while not stop.is_set():
        if os.getppid() != parent:
            log.error("the process that started this api process is gone: stopping")
            server.should_exit = True
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.create_server((host, port), family=family, backlog=2048)
    listening.set_inheritable(True)
    return listening


def worker(settings: Settings, redis_url: str, clock: Clock) -> int:
    # The queue's gauges are the api's (it reads the queue when scraped): not counted twice.
    rules = RulesHolder(settings.rules_path, Metrics(Role.WORKER))
    metrics = rules.metrics
    if not rules.reload("start"):
        return 1
    warn_setup(settings, takes_webhooks=False)
    if settings.worker_metrics_port:
        where = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
        try:
            metrics.serve(settings.worker_metrics_port, settings.worker_metrics_host)
            log.info("worker metrics on %s", where)
        except OSError as exc:
            # Calls matter more than metrics: a second worker on one host still works.
            log.error(
                "worker metrics not served: %s is taken (%s); set ALERTER_WORKER_METRICS_PORT",
                where,
                exc.strerror,
            )

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        settle_heap(WORKER_YOUNG_OBJECTS)
        await asyncio.gather(
            run_worker(lambda: make_worker(settings, rules, redis_url, clock=clock), stop),
            rules.watch(stop, settings.rules_poll_seconds),
        )

    run_fast(run())
    return 0


def worker_check(redis_url: str, worker_name: str) -> int:
    """0 when this host's worker wrote its health-check key recently, else 1 (probes)."""
    from arq.worker import async_check_health

    settings = arq_settings(redis_url)
    settings.conn_retries = 0
    try:
        return asyncio.run(async_check_health(settings, health_check_key=health_key(worker_name)))
    except (RedisError, OSError) as exc:
        log.warning("worker check: Redis unavailable (%s)", type(exc).__name__)
        return 1


def http_server(app: Litestar, settings: Settings) -> uvicorn.Server:
    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM after shutting down, so the process would die by the
        # signal; `runner.stop_on_signals` handles them and we exit 0 after a clean stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(server_config(app, settings))


def server_config(
    app: Litestar,
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    webhook_door: bool = True,
) -> uvicorn.Config:
    """How the api is served: forwarding headers believed only from `ALERTER_TRUSTED_PROXIES`
    (uvicorn's own, trusting 127.0.0.1, off); the webhook answered below ASGI by the server's
    door (`compat.uvicorn`; `webhook_door=False`: by the Litestar route, which answers alike)."""
    return uvicorn.Config(
        BehindProxies(app, settings.trusted_proxies),
        http=door_protocol(app, settings) if webhook_door else "httptools",
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
    )


async def _until_done(work: Awaitable[None], stop: asyncio.Event) -> None:
    """Run `work`; whatever ends it (a signal, a port in use), the rest stops too."""
    try:
        await work
    finally:
        stop.set()
