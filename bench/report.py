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

Targets (issues "Benchmarks and performance targets", "Past the HTTP client's ceiling", "The
operator console"):

| target | where | met |
|---|---|---|
| one worker process ≥ 400 calls/s at 50 ms on the realistic mix (1 call in 10 alerting) | Worker | yes in this run: 503 (600 at 10 ms), and 520 in a second run of the 50 ms rows alone (`BENCH_LATENCIES=0.05 BENCH_WORKERS=1 python -m bench worker`; its floor 713, 0.73). Runs on busier days were under it: 356 on this machine (its floor then 487, now 567), 351 and 305 on another (see "Where a worker's time goes") |
| worker ≥ 0.6 × the bare fetch loop on the chosen transport | Worker (× floor) | yes: 0.89 at 50 ms, 0.90 at 10 ms, 1.05 at 200 ms (0.72–1.00 in earlier runs) |
| latency table at 10, 50 and 200 ms with defaults sized by a documented rule | Worker | yes (docs/deploy.md, "Sizing") |
| Diga requests per call = the minimum (2.04 on the mix) | Worker | yes |
| worker RSS < 200 MB after 20,000 calls | Worker | yes |
| p95 webhook → alert < 1 s at half the measured rate | Worker | yes |
| ≤ 20 Redis commands for a call that does not alert | Redis | yes |
| intake ≥ 0.8 × the bare handler | Intake | yes: 0.85 by throughput, 0.97 by the server's own CPU, the two measured in turns; 0.90 and 1.05 in a second run of `python -m bench intake` (0.70 and 0.74 in the run before the handler's last two changes) |
| rule evaluation < 10 × the floor | Rules | not on this machine: 13.2 × here, 12.5–15.8 × in four runs of `python -m bench rules` of this code and the code before it alternately (the floor loop runs relatively faster on this AMD machine); 6.3 × and 9.9 × on an Intel one |
| console pages p95 < 100 ms with 100,000 history entries and 1,000 silences | Console | yes (with hiredis: without it the filtered history took 464–559 ms) |
"""


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(results: dict[str, str], machine: str, versions: str, elapsed: float, when: str) -> str:
    parts = [
        INTRO,
        f"Run: {when}, {elapsed / 60:.1f} minutes. Machine: {machine}.\n\nVersions: {versions}.\n",
        "## Intake\n\n" + results["intake"],
        "## Worker\n\n" + results["worker"],
        "## Diga requests\n\n" + results.get("diga", "(not measured in this run)"),
        "## Alert sends\n\n" + results.get("sends", "(not measured in this run)"),
        "## Rules\n\n" + results["rules"],
        "## Redis\n\n" + results["redis"],
        "## Console\n\n" + results["console"],
    ]
    return "\n".join(parts) + "\n" + HISTORY


HISTORY = """## What was changed to get here

Measured with the same benchmarks, before → after, each change its own commit (one worker
process, 50 ms Diga latency, 5,000 calls; "mix" is 1 call in 10 alerting, "all" every call):

| change | before | after |
|---|---|---|
| intake: batch concurrent enqueues into one pipelined round trip (was one EVALSHA per request) | 0.47 × bare | 0.74 × bare |
| intake: `gc.freeze()` after start-up, so full collections skip start-up objects | p99 70 ms | p99 30 ms |
| worker: apprise plugins called directly and kept per URL and thread; send marker and history line in one round trip | 112 calls/s (all) | ~134 calls/s (all) |
| rules: index a call's logs by (level, category) once, so rules skip what they cannot match | 9.8 × floor | 7.9 × floor |
| worker: the Diga client on `httpx-aiohttp` (httpx's API, aiohttp's pool), 16 connections | mix 114, all 63 calls/s | mix 123, all 87 |
| worker: 256 jobs and 128 Diga connections by default (aiohttp's pool does not slow as it grows; httpcore's did: 52 calls/s on 128) | mix 123 | mix 146–185 (two runs) |
| worker: event loop on uvloop | mix 140 | mix 158–171 |
| parsing: a log's `data` within bounds kept as parsed, not rebuilt | 5.6 ms a 1,000-log page | 4.8 ms |
| Redis: a no-match call recorded in one round trip of six commands; jobs claimed by one script and finished by one plain pipeline; no MULTI/EXEC around a held job | 35.8 commands (no alert), 58.8 (alert) | 19.8, 45.6; mix 166–181 calls/s |
| api: uvloop, and uvicorn's httptools parser | intake 1,857 webhooks/s | 4,706 |
| parsing: pages decoded with msgspec into frozen structs (was pydantic) | mix 154, 142 (two runs); `evaluate()` 1.78 M pairs/s | mix 178, 161; `evaluate()` 2.19 M pairs/s |
| fetch: no cookie jar (httpx looked for cookies through a urllib request per response) | 2,177–2,816 µs CPU a call's fetch | 2,020–2,680 µs |
| rules: candidates merged by a C sort instead of `heapq.merge`; one event pattern or data condition called directly; a condition's dotted key made once | `evaluate()` 2.19 M pairs/s, 28.5 × floor | 3.30–3.56 M pairs/s, 15.6–24.8 × floor (two runs of `python -m bench rules`) |
| rules: each distinct event tested once per rule and call (a call's logs carry few) | 3.30–3.56 M pairs/s; in one process, alternating: median 301–308 ms a run | 3.95–5.74 M pairs/s, 13.1–13.9 × floor; median 259 ms |
| fetch: requests built as a plain `httpx.Request` with a pre-encoded query (`build_request` with `params` cost ~150 µs a request, this ~45) | mix 182–188 calls/s | 199–212 (three pairs, alternating, 3,000 calls each) |
| worker: every job a poll finds claimed in one script, which also reads the job and counts its try; arq's own read of the job is answered from the claim | mix 188–271 | 251–330 (with the row above; three pairs, alternating) |
| bench: worker calls/s timed from the first call recorded; a process's start-up (imports, rules, connections: 1–2 s) is its own column, as the floors start with their client made | 5,000 calls: 8–10 % of the run was start-up | — |
| intake: webhook bodies and job payloads through msgspec, a canonical call id kept as sent, the outcome counter's child found once | api CPU 197–217 µs a webhook | 171–182 µs (alternating) |
| worker: calls' records and jobs' finishes from concurrent jobs share round trips (`store.coalesce`; the intake's batching, made general and used by both) | mix 283–295 | 299–330 (three pairs, alternating, 4,000 calls) |
| parsing: a log's bounds checked with its names' lengths written out and one pass over `data`; logs ordered by a C `attrgetter` | 67–73 µs a 40-log page | 49–50 µs (alternating in one process) |
| Redis replies parsed by `hiredis` (in C; a fresh install had redis-py's Python parser) | console's filtered history p95 464–559 ms (20 reads of 1,000 stream entries); worker mix 295–370 | 45 ms; 363–378 (alternating; before the shared round trips it showed no gain) |
| Redis commands packed by `hiredis` in every process (redis-py 5, which arq requires, packs them in Python: 20 µs for the intake's EVALSHA, 2 µs in C; the same bytes) | api CPU 368–373 µs a webhook; worker mix 296–317 | 324–365; 334–361 (alternating, on the AMD machine) |
| intake: the webhooks of a batch queued by one run of the enqueue script (was one EVALSHA each in a pipeline) | client CPU 40–57 µs an enqueue, 64 at once | 21–25 (with the row above) |
| parsing: a log's bounds checked by msgspec as the page decodes (`max_length` on names, texts, keys and sizes; nesting by type), no Python per log; a page past a bound decoded again and cut as before | 70–72 µs a 40-log page, 1.61–1.68 ms 1,000 logs | 45–54 µs, 1.19–1.40 ms (alternating) |
| intake: call fields flattened by exact JSON type; the content type read from the raw headers | `parse_webhook` 6.4 µs | 5.2 µs |
| bench: the intake's baseline and alerter rows measured in turns, three runs each with both servers up | the same code measured 0.64–0.89 × bare in four runs | — |
| worker: logs not tracked by the cycle collector (`gc=False` on the struct: they cannot form cycles); the young generation of a worker with hundreds of calls in flight was mostly their logs (after the run below) | collections 13.4–13.7 % of the worker's CPU; mix 315–316 calls/s | 8.0–10.3 %; 333–383 (two pairs, alternating, 4,000 calls; timed with `gc.callbacks`) |
| intake: the body read from the ASGI channel (the same limit, on Content-Length and on the bytes that arrive) and the answer sent as an `ASGIResponse`, not through `request.body()` and `Response` | in-process, enqueue stubbed: 44.5–82.0 µs a webhook (best 44.5) | 30.4–39.8 (best 30.4; alternating) |
| intake: the answer a small ASGI app of its own (status, two headers, the JSON) | in-process: best 30.8, median ~42 µs | best 24.8, median ~29 (alternating); under wrk, with the row above: api CPU 173–213 → 114–177 µs a webhook (alternating), 0.70 → 0.85–0.90 × bare |

The transport was chosen by measurement: on the bare fetch loop at 256 calls in flight and
128 connections, httpx on httpcore did 51–52 calls/s and on aiohttp 428–532, at 50 ms. HTTP/2
(`h2`) was not tried: the Diga API is served over HTTP/1.1 as far as its OpenAPI text says,
and a pool that does not slow down with size is what the worker lacked.

### Where a worker's time goes

One worker process is CPU-bound on its main thread (py-spy, 200 samples a second, on the
mix): the Diga requests (httpx over aiohttp, building, sending, the capped read) a little
over half of it, decoding pages about a tenth (all in msgspec's C), the job's own work
(evaluate, decide, record, send) a quarter, arq's poll and the event loop the rest; the
sending threads (apprise, one in ten calls) run beside it and share the interpreter lock.
The bare fetch loop (the floor) does only the fetching, with httpx's own overhead
included, and measured 435–567 calls/s on these 2-core machines (shared with the stand-in,
Redis and the api) as their neighbours came and went. The worker reached 503 at 50 ms in
the run above (0.89 of its floor) and 356 in a run on a busier day (0.73, before logs left
the cycle collector's view): 400 calls/s in one process holds where the HTTP client alone
does about 450 or more. More throughput comes from more worker processes, which share
nothing but Redis (the two-process row above; docs/deploy.md for how many one Redis
serves).

Every call alerting (127–234 calls/s in the last two runs) is bound by apprise: each send
runs on a thread of the worker's pool, and apprise's plugins post through `requests` with a
new session (and connection) a send; the sending threads and the event loop share one
interpreter lock. The alerting path's own Redis work (noise windows, send marker, history)
is a small part.

The end-to-end p95 (278 ms at 251 calls/s here; 312 ms at 178 calls/s in the run before)
is taken at half the measured rate: the api, the worker, the Diga stand-in, the receiver
and Redis then share the two cores.

### The intake, against its baseline

The bare handler reads the body with `request.body()`, parses it with `json.loads` and
answers 202 through Litestar's `Response`; the intake also parses it into the typed call
(5 µs), counts it, builds its arq job and queues it in Redis, answering only once Redis has
it. It reads the body straight from the ASGI channel (the same size limit) and answers with
a small ASGI app of its own: driven in-process (the app called directly, no server, the
enqueue stubbed), the handler now costs less than the baseline's, and what is left of its
cost is the enqueue (the job's payload and arguments, the webhook's future and wake-up, its
share of a batch's script run; batches average 32 webhooks at 64 connections). Under wrk,
in turns with a copy whose enqueue was stubbed, that copy measured 0.82–0.99 × the
baseline's CPU and the real intake 0.71–0.76 (a noisier hour than the run above). Redis's own CPU (about 25 µs
a webhook) comes out of the same two cores as wrk's and the server's.

Alertmanager, measured on ingestion alone (no notifications sent during the load, gossip
off, data in a temporary folder), takes 2.3–3.3 × the baseline's throughput: Go against
Python. alerter's intake answers with a lower p99 under the same load (14–17 ms against
29–39 ms in the last two runs).
"""
