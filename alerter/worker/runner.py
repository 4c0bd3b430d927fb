"""Keeps a worker running: through Redis outages, and to a graceful stop on SIGTERM.

arq's worker exits when Redis stops answering; here it is made anew once Redis is back,
so work resumes without a restart. On stop, it takes no new job, lets running ones finish
for a bounded time, and cancels the rest, which arq puts back in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from arq.worker import Worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_RECONNECT_DELAY = 10.0
REQUEUE_WAIT = 5.0


async def run_worker(make_worker: Callable[[], Worker], stop: asyncio.Event) -> None:
    delay = 0.5
    while not stop.is_set():
        worker = make_worker()
        main = asyncio.create_task(worker.async_run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            await _stop_gracefully(worker, main)
            return
        stopping.cancel()
        error = main.exception() if not main.cancelled() else None
        # Jobs already started finish on their own (cancelled, they would keep arq's
        # in-progress lock until it lapses and wait minutes for another try).
        worker.allow_pick_jobs = False
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
        await _close_quietly(worker)
        if error is None:
            return  # burst mode ran dry
        if not isinstance(error, (RedisError, OSError)):
            raise error
        log.warning(
            "Redis unavailable (%s); worker resumes when it answers, next try in %.1fs",
            type(error).__name__,
            delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, MAX_RECONNECT_DELAY)


async def _stop_gracefully(worker: Worker, main: asyncio.Task[None]) -> None:
    # Stops picking jobs, waits up to `job_completion_wait` for running ones, cancels the rest
    # (arq re-queues a cancelled job for another try).
    worker.handle_sig_wait_for_completion(signal.SIGTERM)
    await asyncio.gather(main, return_exceptions=True)
    # A cancelled job writes its re-queue (and drops its in-progress lock) on its way out:
    # closing the connections first would leave the lock to lapse, minutes later.
    finishing = [task for task in worker.tasks.values() if not task.done()]
    if finishing:
        await asyncio.wait(finishing, timeout=REQUEUE_WAIT)
    await _close_quietly(worker)


async def _close_quietly(worker: Worker) -> None:
    try:
        await worker.close()
    except (RedisError, OSError) as exc:
        log.info("worker closed without Redis (%s)", type(exc).__name__)
    except asyncio.CancelledError:
        pass


def stop_on_signals(stop: asyncio.Event, *also: Callable[[], None]) -> None:
    """SIGINT and SIGTERM set `stop` (and run `also`), so shutdown is ours to pace."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        stop.set()
        for action in also:
            action()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
