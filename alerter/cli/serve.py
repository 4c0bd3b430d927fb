"""The long-running commands: `serve` (api + worker), `api`, `worker` (and `--check`).

Each process makes its rules holder (and with it its metrics registry) once, watches the
rule files (and SIGHUP), and stops on SIGINT/SIGTERM at its own pace (`pipeline.runner`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import Awaitable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
from litestar import Litestar
from redis.exceptions import RedisError

from alerter.cli.common import require_redis
from alerter.clock import Clock
from alerter.http.app import create_app
from alerter.http.proxies import BehindProxies
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
    _settle_heap()
    await asyncio.gather(
        _until_done(server.serve(), stop),
        rules.watch(stop, settings.rules_poll_seconds),
        worker_once_rules_load(),
    )


def api(settings: Settings, redis_url: str, clock: Clock) -> int:
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
        _settle_heap()
        await asyncio.gather(
            _until_done(server.serve(), stop), rules.watch(stop, settings.rules_poll_seconds)
        )

    run_fast(run())
    return 0


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
        _settle_heap()
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


def _settle_heap() -> None:
    """Move what start-up made (modules, app, rules) out of the collector's view: full
    collections under load then skip it. Measured: intake p99 at 64 connections 70 → 30 ms."""
    gc.collect()
    gc.freeze()


def http_server(app: Litestar, settings: Settings) -> uvicorn.Server:
    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM after shutting down, so the process would die by the
        # signal; `runner.stop_on_signals` handles them and we exit 0 after a clean stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(server_config(app, settings))


def server_config(
    app: Litestar, settings: Settings, host: str | None = None, port: int | None = None
) -> uvicorn.Config:
    """How the api is served: forwarding headers believed only from `ALERTER_TRUSTED_PROXIES`
    (uvicorn's own handling, which trusts 127.0.0.1 by default, is off)."""
    return uvicorn.Config(
        BehindProxies(app, settings.trusted_proxies),
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
