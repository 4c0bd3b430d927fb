"""docs/performance.md from the benchmark tables."""

from __future__ import annotations

from datetime import UTC, datetime

INTRO = """# Performance

Measured by `make bench` (`python -m bench`; one section: `python -m bench intake`, `worker`,
`rules`, `redis` or `console`). Every figure is from one run on the machine below, shared and noisy:
ratios against a baseline measured in the same run mean more than absolute numbers. Load
comes from wrk (Debian's `wrk`, C, one thread: not the bottleneck) for the intake, and from
an httpx client for the worker runs; every server listens on 127.0.0.1 and every load is
bounded in time or count. The test suite has no timed assertions; these numbers live here.

Targets (issue "Benchmarks and performance targets"):

| target | where |
|---|---|
| intake ≥ 60 % of the bare handler's throughput, p99 < 50 ms at 64 connections | Intake |
| one worker ≥ 150 calls/s at 50 ms Diga latency | Worker |
| p95 end to end < 1 s at half that rate | Worker |
| Diga requests per call = the minimum the API allows | Worker |
| worker RSS < 200 MB after 5,000 calls | Worker |
| rule evaluation < 10 × the floor | Rules |
| console pages p95 < 100 ms with 100,000 history entries and 1,000 silences | Console |
"""


def render(results: dict[str, str], machine: str, versions: str, elapsed: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        INTRO,
        f"Run: {when}, {elapsed / 60:.1f} minutes. Machine: {machine}.\n\nVersions: {versions}.\n",
        "## Intake\n\n" + results["intake"],
        "## Worker\n\n" + results["worker"],
        "## Rules\n\n" + results["rules"],
        "## Redis\n\n" + results["redis"],
        "## Console\n\n" + results["console"],
    ]
    return "\n".join(parts) + "\n" + HISTORY


HISTORY = """## What was changed to get here

Measured with the same benchmarks, before → after (each change is its own commit):

| change | before | after |
|---|---|---|
| intake: batch concurrent enqueues into one pipelined round trip (was one EVALSHA per request) | 0.47 × bare | 0.74 × bare |
| intake: `gc.freeze()` after start-up, so full collections skip start-up objects | p99 70 ms | p99 30 ms |
| worker: 64 jobs, 16 Diga requests in flight (8 capped throughput at 80 calls/s; 24–32 cost httpx more CPU per call), arq polling every 20 ms | 69 calls/s | 112 calls/s |
| worker: apprise plugins called directly and kept per URL and thread; send marker and history line in one round trip | 112 calls/s | ~134 calls/s |
| rules: index a call's logs by (level, category) once, so rules skip what they cannot match | 9.8 × floor | 7.9 × floor |

Where one worker's time goes now (py-spy, one alert per call): about a third in sending the
alert (apprise opens a new HTTP connection per notification through `requests`), a fifth in
httpx for the two Diga pages, the rest in Redis round trips (about 20 of the 40 commands a
call are arq's own), pydantic parsing of the pages, and asyncio. A worker process
is CPU-bound at 6.5–7 ms per call; more throughput comes from more worker processes (see the
scaling table), which share nothing but Redis.
"""
