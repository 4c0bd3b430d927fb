"""docs/performance.md from the benchmark tables."""

from __future__ import annotations

from datetime import UTC, datetime

INTRO = """# Performance

Measured by `make bench` (`python -m bench`; one section: `python -m bench intake`, `worker`,
`diga`, `sends`, `rules`, `redis` or `console`). Every figure is from one run on the machine below, shared and noisy:
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
| Diga requests per call = the minimum (2.04 on the mix, asked per level) | Worker | yes: 1.07–1.08 now, a call's logs of every level asked in one request when they fit a page ("Diga requests") |
| worker RSS < 200 MB after 20,000 calls | Worker | yes |
| p95 webhook → alert < 1 s at half the measured rate | Worker | yes |
| ≤ 20 Redis commands for a call that does not alert | Redis | yes |
| ≤ 15 / ≤ 30 Redis commands, quiet / alerting (issue 30) | Redis | quiet about met, alerting not: 15.1 / 48.3 (from 19.0 / 56.5, then 15.1 / 51.8; "Alert storms, Diga requests, Redis commands") |
| every call alerting ≥ 0.6 × the floor (issue 30) | Worker | no: 0.26–0.45 by CPU (0.21–0.32 before in the same runs), 0.23–0.46 by throughput, load 1.4–6; a send's first try is now made in its call's job and only the media a destination reads is rendered, 0.81 × the worker's CPU a call (median pair; "Alert storms: a send's first try in its call's job") |
| intake ≥ 0.8 × the bare handler | Intake | mostly: one process 0.72–0.91 by throughput and 0.77–1.12 by the server's own CPU in four runs of `python -m bench intake` on 2026-12-02 (load 5–13), each measured in turns with its baseline (0.85 and 0.97 in the full run of 2026-11-30) |
| intake ahead of Alertmanager by CPU a request and by throughput, in the same run (the performance issue) | Intake | **no**: 0.48–0.72 × Alertmanager's throughput and 0.58–0.74 × by the api's CPU a request (0.49–0.60 × with Redis's), best api row of each of four runs; the bare Litestar handler alone costs 65–83 µs a request against Alertmanager's 45–54 ("The api's server and its processes") |
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
| outbox: the worker that queues a send claims it in the same script and runs it at once (no poll, claim or read of the job it wrote); a send's job key by SET NX; the marker written once when the sending thread wrote it; the mark and history in the worker's shared round trip | 51.8 Redis commands an alerting call, 7,005 bytes from Redis | 48.3, 2,968 (`BENCH_REDIS_CALLS=2000 python -m bench redis`, one after the other) |
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

Every call alerting (127–234 calls/s in the last two full runs) was bound by apprise: each
send ran on a thread of the worker's pool, posting through `requests`, the sending threads
and the event loop sharing one interpreter lock. JSON and Slack incoming webhooks now go out
on the event loop through one kept httpx client; what is left of that row is the alerting
path's own work (two arq jobs a call, rendering, Redis): "Alert storms" below.

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
off, data in a temporary folder, one alert a request), now takes its turn in the same rounds
as the other rows: 1.5–2.1 × the bare handler's throughput at 45–54 µs of CPU a request
against the bare handler's 65–83, Go's HTTP server against uvicorn and Litestar. alerter's
intake writes every webhook to Redis before its 202, Alertmanager keeps alerts in its own
memory: its Redis's CPU (15–26 µs a webhook) is shown beside the api's and counted in the
last ratio.

### Alert storms, Diga requests, Redis commands (issue 30)

Partial runs on the shared 2-core machine while other test suites ran (load average beside
each figure; the 1-minute one). Ratios within one run are what count.

**Alert storms.** apprise's HTTP plugins post through `requests`' module functions, a new
session (and TCP connection) a send; each sending thread now keeps one session
(`alerter/compat/apprise.py`, held to apprise 2.3.0 and requests 2.34.2 by
`tests/compat/test_apprise.py`). `BENCH_SENDS=2000 BENCH_SENDS_ROUNDS=3 python -m bench sends`
(the real `Sender`, json://, 16 at once, the two ways in turns), load 4.8:

| connection | sender CPU ms a send (3 runs) | receiver CPU ms a send |
|---|---|---|
| new a send (before) | 1.630 / 1.823 / 2.148 | 0.278 / 0.317 / 0.362 |
| kept a thread (now) | 1.572 / 1.636 / 1.645 | 0.184 / 0.184 / 0.188 |

Again at load 2.4–3.8: 1.458 / 1.690 / 1.782 new a send, 1.023 / 1.421 / 1.441 kept (best
0.70 ×, medians 0.84 ×), the receiver 0.25–0.28 → 0.13–0.17 ms. A first run (500 sends, load
4.4) gave 1.637 → 1.479 (0.90). The saving is real but small on
127.0.0.1 (no TLS: a TLS handshake a send, to Slack, costs far more than a local connect);
most of a send's CPU is apprise's own work and `requests`' preparation. The every-call-
alerting row, before and after in turns (`/tmp` script: `BENCH_WORKER_ROWS=every
BENCH_CALLS=2000 BENCH_FLOOR_CALLS=2000 BENCH_FLOOR_TRANSPORTS=aiohttp python -m bench worker`,
the old `deliver.py` and the new one alternately, load 4.1–6.3): worker CPU a call 4.21 and
5.00 ms before, 3.79 and 5.70 after; calls/s × floor 0.39, 0.30 before, 0.45, 0.39 after.
The machine moved more than the change. Again at load 2.3–2.7 (same command, two pairs in
turns): 138 and 198 calls/s before, 192 and 245 after (1.39 and 1.24 × in each pair); worker
CPU a call 6.04 and 3.90 ms before, 4.81 and 3.59 after (0.80 and 0.92 ×). A third pair
(3,000 calls; load 1.6 before, 3.7 after): 173 → 141 calls/s, 4.23 → 3.94 ms a call (0.93 ×). Against the floor
as it now asks (whole first page, 930–995 calls/s, 0.82–0.99 ms a call) that is 0.19–0.20
before and 0.20–0.26 after; against the per-level floor issue 30 measured with (about half as
fast), about twice that. **The every-call-alerting row is 0.2–0.45 × its floor, not the 0.6
asked.** Where its time goes (py-spy `--gil`, 100 Hz, 12 s, every call
alerting): the send jobs (`deliver_send`: claim, send, mark) 35 % of the GIL, the sending
threads inside apprise 30 % (its `NotifyJSON.send`, `requests`' session, urllib3), the call
jobs' fetch and decide the rest. An alerting call is now two arq jobs (the call, then its
send from the outbox), each with its claim, finish and records: the outbox's per-send
guarantees cost about 36 Redis commands an alerting call on top of a quiet call's 15. What
would reach 0.6: JSON webhooks and Slack incoming webhooks sent on the event loop through a
kept httpx client (no thread, no apprise) — done since, next paragraph.

**Webhooks on the event loop.** `json://`, `jsons://` and Slack incoming webhooks
(`slack://T/B/C`, `https://hooks.slack.com/services/...`) are posted by
`alerter/pipeline/webhooks.py` through one httpx client over aiohttp's pool, made in the
worker's `on_startup` and closed in `on_shutdown`; the body is apprise's own, byte for byte
(`tests/pipeline/test_webhooks.py` posts both ways to one receiver and compares), and a URL
or message it does not cover exactly (channels, `overflow=`, `format=`, `verify=no`, a Slack
message apprise's template checks refuse) still goes through apprise. Sends alone,
`BENCH_SENDS=1000 BENCH_SENDS_ROUNDS=3 python -m bench sends` (the real `Sender`, json://,
16 at once, the three ways in turns), load 6–9:

| way | sender CPU ms a send (3 runs) | receiver CPU ms a send |
|---|---|---|
| new a send (apprise alone) | 1.001 / 1.033 / 1.085 | 0.157 / 0.167 / 0.167 |
| kept a thread (apprise) | 0.709 / 0.725 / 0.726 | 0.079 / 0.079 / 0.079 |
| httpx on the event loop (now) | 0.263 / 0.329 / 0.330 | 0.049 / 0.059 / 0.059 |

(httpx over its own pool, httpcore, took 1.5–2.0 ms a send in the same script: hence
aiohttp's pool, as for Diga.) The every-call-alerting row, the code before and after in
turns, eight pairs (`/tmp` copies of the two trees, each run with `BENCH_WORKER_ROWS=every
BENCH_CALLS=3000 BENCH_FLOOR_CALLS=2000 BENCH_FLOOR_TRANSPORTS=aiohttp BENCH_LATENCIES=0.05
python -m bench worker`); pairs 1–4 at load 9–16 (other suites running) with the post's
marker still left to the event loop, pairs 5–8 at load 4–8 with the code as it is:

| pair | calls/s before → after | × floor before → after | worker CPU ms a call before → after | × floor by CPU before → after |
|---|---|---|---|---|
| 1 | 42 → 37 | 0.21 → 0.11 | 3.71 → 2.82 | 0.26 → 0.30 |
| 2 | 61 → 109 | 0.37 → 0.27 | 3.40 → 2.62 | 0.25 → 0.30 |
| 3 | 170 → 228 | 0.15 → 0.28 | 2.97 → 2.09 | 0.20 → 0.37 |
| 4 | 131 → 168 | 0.10 → 0.33 | 3.46 → 2.53 | 0.19 → 0.33 |
| 5 | 196 → 378 | 0.30 → 0.42 | 3.19 → 2.24 | 0.24 → 0.40 |
| 6 | 209 → 121 | 0.21 → 0.23 | 3.06 → 2.80 | 0.23 → 0.28 |
| 7 | 271 → 236 | 0.26 → 0.23 | 3.31 → 2.51 | 0.24 → 0.29 |
| 8 | 150 → 255 | 0.18 → 0.37 | 3.50 → 2.64 | 0.22 → 0.34 |

Worker CPU a call 0.70–0.92 × (about 0.85 ms less a call, the median of the pairs); throughput up in
five pairs of eight. The floors measured in the same runs went from 165 to 1,253 calls/s as
the neighbours came and went, so the ratios by throughput say little; by CPU the row is now
0.28–0.40 × its floor (0.19–0.26 before). **Still not the 0.6 asked.** Where the time
goes now (cProfile of the worker, every call alerting, 2,000 calls, start-up left out):
the call job's Diga fetch about 29 % (the floor's own work), rendering the alert 13 % (a
third of it `bidi_free_json` walking the Slack payload), the posts themselves 8 %, the send
jobs (claim, mark, history) 6 %, queueing the sends 3 %, decide 3 %, evaluate 2 %, and arq's
polling and job bookkeeping, Redis round trips and the event loop the remaining third. To
reach 0.6 by CPU a call would have to cost at most about 1.3 ms (the floor's 0.6–0.9 ms ÷
0.6), so the alerting path's own 1.5–2 ms would have to lose two thirds: the send made
inside the call's job for destinations posted on the loop (no second arq job, its claim
and records), and a cheaper render.

**Diga requests.** `python -m bench diga` (the real `DigaClient`, the Diga stand-in at 10 ms,
1,000 calls a mode and mix, 64 at once, the modes in turns, 2 rounds; 40 ERROR logs a call,
2,500 for one call in 50, and the INFO logs of the mix spread among them), load 10.3:

| INFO logs a call | first page | requests a call | KB a call | client CPU ms a call |
|---|---|---|---|---|
| 0 | level | 2.04 | 27.7 | 1.20 |
| 0 | whole | 1.07 | 33.5 | 0.84 |
| 0 | adaptive | 1.07 | 33.5 | 0.87 |
| 60 | level | 2.04 | 27.7 | 1.03 |
| 60 | whole | 1.07 | 51.3 | 0.76 |
| 60 | adaptive | 1.07 | 51.3 | 0.71 |
| 400 | level | 2.04 | 27.7 | 1.24 |
| 400 | whole | 1.07 | 152.6 | 1.27 |
| 400 | adaptive | 1.94 | 40.0 | 1.22 |
| 1,500 | level | 2.04 | 27.7 | 1.24 |
| 1,500 | whole | 3.04 | 332.3 | 3.80 |
| 1,500 | adaptive | 2.13 | 56.0 | 1.45 |

Adopted: **adaptive** (`ALERTER_DIGA_FIRST_PAGE`, the default). Calls with few INFO logs take
one request instead of two (1.07 a call on the mix, 0.52 × the requests) for 1.2–1.9 × the
bytes, and less client CPU (one response instead of two). Where calls carry many logs alerter
drops (400 INFO a call: 5.5 × the bytes for the same request saving) or mostly pass a page
(1,500: 3.04 requests and 12 × the bytes), the client goes back to one request per level
within a few dozen calls and probes every 32nd call whole; the remaining cost there (1.94 and
2.13 requests against 2.04) is the first 64 calls in flight, asked whole before anything was
learned, and the probes. A cursor from the whole sequence is never used for a level's pages
(the API does not say a level's cursor may be another level's log), so a call past one page
is asked per level from its start.

**Redis commands.** `python -m bench redis` (2,000 calls of each kind), before (the outbox
branch) load 5.3 with 500 calls, after load 6.2 with 2,000 calls:

| per call | before: quiet | before: alerting | now: quiet | now: alerting |
|---|---|---|---|---|
| commands | 19.0 | 56.5 | 15.1 | 50.8 |
| memory kept | 1,491 B | 3,681 B | 1,147 B | 2,716 B |
| Redis CPU µs | 281 | 479 | 216 | 328 |

From: the claim's lock taken with SET NX (arq's EXISTS and PSETEX), a first try counted with
one SET NX EX (arq's INCR and EXPIRE), and a call's first events kept inside its record
instead of a list of their own (RPUSH and EXPIRE). Quiet: 15.1 against the ≤ 15 asked — the
rest is arq's protocol (enqueue 3, claim 4, finish 3), the story and index (2), the history
line (1), the failure cleared (1) and the scripts (1.2). Alerting: 50.8 against ≤ 30: not
met; the send job is a second arq job (about 10 commands), and its claim, mark, history and
counts the rest.

**Redis commands, the alerting path.** `BENCH_REDIS_CALLS=2000 python -m bench redis`, the
tree before and after, one after the other (load 3–5; command counts do not depend on it);
`BENCH_REDIS_TRACE=1` adds the trace of one more call, command by command (MONITOR):

| per call | before: quiet | before: alerting | now: quiet | now: alerting |
|---|---|---|---|---|
| commands | 15.1 | 51.8 | 15.1 | 48.3 |
| bytes from Redis | 345 | 7,005 | 362 | 2,968 |
| Redis CPU µs | 154 | 298 | 186 | 291 |

(The quiet path did not change; its CPU moved with the machine.) Where one alerting call's
49 commands go now (traced alone: no script shares a run with another call's):

| stage | commands | before |
|---|---|---|
| intake: the call queued (enqueue.lua) | 4 | 4 |
| call job: claimed with its try and payload (claim.lua) | 5 | 5 |
| the call's record: story, index, matched count, failure cleared | 5 | 5 |
| silences read once | 1 | 1 |
| failure signature (signature.lua: new or known, hour and day counts, example, decision; a known one) | 14 | 14 |
| outbox: the send put and claimed for this worker (outbox_put.lua) | 5 | 4, then 5 for the send job's claim |
| call job finished (result, out of the queue, keys) | 3 | 3 |
| send: the marker's claim, `sent` written by the sending thread | 2 | 3 (the event loop wrote it again) |
| send: history line, the call's event (trim, expiry), count (expiry), last fired, destination's last result | 8 | 8 |
| send job finished | 2 | 2 |

From: the worker that queues a send has room for it (most of the time) claims it in the put
script — its lock and first try, as claim.lua would — and starts arq's run of it at once
from what it wrote (`RecordingWorker.put_sends`, `compat.arq.reserve_now`/`start_claimed`):
no poll, no claim script, no read of the payload back (the 4 KB a send's job holds); a full
worker, or one stopping, leaves the send to the queue as before. A send's job key is written
with SET NX (arq's EXISTS and PSETEX): a send's job keeps no result, so there is none to look
for. The event loop's mark writes only the history when the sending thread wrote the marker.
Under load (2,000 calls posted at once) 4 sends in 10 found the worker full and were claimed
by a poll (the 1.4 ZSCORE a call). **Alerting: 48.3 against ≤ 30, not met.** The send's own
cost is now arq's protocol (put, lock, try, finish: 7), its marker (2) and its history (8);
the call's side is 37, of which the signature script is 14. Within reach elsewhere, not done
here: signature.lua with SET … GET for "seen" (−1), its day count's EXPIRE and ZCARD only for
a signature new to the day (−2), the example's EXPIRE alone when it exists (−1); the history
writes as one script that trims and sets expiries only when needed (−1 net). ≤ 30 needs more
than trimming: the signature's counts off the alerting call's path, or a send that is not an
arq job of its own.

**The api's server and its processes** (`ALERTER_API_PROCESSES`). `python -m bench intake`
now runs, all servers up at once and in turns, three rounds: the bare handler and the intake
at one and two processes (the api's by `ALERTER_API_PROCESSES`, the bare handler's by
uvicorn's `--workers`), the same two under Granian 2.8.9 (its ASGI interface, uvloop; the
intake's app made by `bench.servers.alerter_app`, without the api's `gc.freeze()`; installed
by hand, not a dependency), and Alertmanager. Four runs on 2026-12-02, load average 5–13
(other test suites on the same two cores; the first run without Granian), best of three
rounds each:

| run (load) | intake, 1 process | 2 processes | Granian, 1 | Granian, 2 | Alertmanager |
|---|---|---|---|---|---|
| requests/s, A (5–10) | 7,392 | 10,485 | — | — | 14,663 |
| B (6–13) | 8,381 | 6,812 | 4,458 | 7,747 | 13,741 |
| C (13) | 6,430 | 6,879 | 5,687 | 8,192 | 14,294 |
| D (6–9) | 8,024 | 12,238 | 7,925 | 10,643 | 23,148 |
| server CPU µs a request, A / B / C / D | 81 / 73 / 94 / 74 | 76 / 127 / 90 / 79 | — / 130 / 120 / 111 | — / 126 / 123 / 111 | 51 / 54 / 52 / 45 |
| p99 ms, A / B / C / D | 34 / 32 / 40 / 34 | 51 / 86 / 89 / 51 | — / 373 / 213 / 106 | — / 180 / 376 / 105 | 93 / 272 / 280 / 30 |

Two api processes took 1.42, 0.81, 1.07 and 1.53 × one's webhooks, for about the same CPU a
webhook except in the most loaded run (B), on two cores shared with wrk, Redis and other
work; their p99 is higher (both processes and wrk contend for the two cores). **Adopted:**
`alerter api` runs `ALERTER_API_PROCESSES` processes, by default one a CPU it may use (its
affinity, capped by a cgroup v2 CPU limit): two here. They share one listening socket (the
first process binds it and starts the others on it, so the kernel hands each connection to
one), each has its own Redis connections and writes a webhook to Redis before its 202 as
one process did, and their metrics are written to one folder (prometheus_client's
multiprocess mode) and summed by whichever answers a scrape. The Dockerfile keeps the
default (a container's CPU limit counts), compose.yaml sets 2, and the Kubernetes api pod
sets 1: pods are what its autoscaler adds, and without a CPU limit the default would count
the node's CPUs. `alerter serve` (`make run`) stays one process: api and worker share it.
Granian, with the intake's app, spent 1.2–1.6 × uvicorn's CPU a webhook with 2–10 × the
p99 in every run, and answered fewer webhooks with one process in all three: not adopted
(`bench server` had measured the bare handler only). **Against Alertmanager the intake is
not ahead**: 0.48–0.72 × its throughput and 0.58–0.74 × by the api's CPU a request (best api
row of each run), 0.49–0.60 × counting Redis's CPU too. The bare Litestar handler on
uvicorn alone costs 65–83 µs a request against Alertmanager's 45–54: a Python ASGI stack
cannot get ahead of Go's HTTP server by tuning the handler; what could is a webhook path
below ASGI (an HTTP parser protocol answering `POST /webhooks/diga` itself), not tried.

**Worker on the mix, by CPU** (`BENCH_WORKER_ROWS=mix,every BENCH_WORKERS=1
BENCH_RSS_CALLS=4000 BENCH_CALLS=3000 BENCH_FLOOR_CALLS=3000 BENCH_FLOOR_TRANSPORTS=aiohttp
python -m bench worker`, load 9.3–10.3): 1.71 ms of worker CPU a call on the mix against the
floor's 1.24 (0.73 by CPU; 234 calls/s, 0.45 of the floor's 522 by throughput on a loaded
machine), 5.28 ms a call every call alerting (0.24 by CPU). At load 2.1–3.0
(`BENCH_WORKER_ROWS=mix BENCH_WORKERS=1,2 BENCH_RSS_CALLS=5000 BENCH_CALLS=5000
BENCH_FLOOR_CALLS=3000 BENCH_FLOOR_TRANSPORTS=aiohttp`): **one worker 724 calls/s on the mix**
(1.31 ms a call; the floor 1,024 calls/s and 0.93 ms: 0.71 either way); two processes 482
(the two cores shared with the api, the stand-in and Redis: not a scaling figure). The floor now asks as the worker
does by default (whole first page): 1.08 Diga requests a call.

### Alert storms: a send's first try in its call's job (issue 30)

What changed (`alerter/worker/first_try.py`, `alerter/store/outbox.py`): a decided call's
sends are held in one Redis key (`alerter:held:{call}`) and, in the same round trip, the
markers of those posted on the event loop (JSON and Slack webhooks, Slack apps) are claimed;
the call's job then posts them itself through the send job's own try. Accepted: marked, no
second arq job. Not accepted: the send goes to the outbox as the send job after its try 1
(its `Retry`'s delay, arq's try counter at 1), so it has the same 8 tries, backoff and
recorded failure as before. A retried call job finds the held sends and puts them in the
outbox instead of fetching and deciding again; the call job's finish deletes the key in the
DEL of its own keys. The crash windows are in the module's docstring, each with a test in
`tests/worker/test_first_try.py`. Rendering: an alert renders only the media its
destinations read (no e-mail HTML or Slack blocks for a JSON webhook), and a Slack payload is
walked string by string only when its encoding holds a bidi control. A webhook's request is
merged with the client's URL, query and headers once per hook (32 → 13 µs a post to build).

`BENCH_WORKER_ROWS=every BENCH_CALLS=3000 BENCH_FLOOR_CALLS=2000 BENCH_FLOOR_TRANSPORTS=aiohttp
BENCH_LATENCIES=0.05 python -m bench worker`, the code before (a copy of the tree at
9f54b8b) and after in turns, 2026-12-02, load 5–6 (pairs 1–3), 2–4.5 (4–6), 1.4–2.3 (7–8):

| pair | calls/s before → after | × floor before → after | worker CPU ms a call before → after | × floor by CPU before → after |
|---|---|---|---|---|
| 1 | 260 → 210 | 0.38 → 0.25 | 2.57 → 2.78 | 0.32 → 0.26 |
| 2 | 110 → 198 | 0.11 → 0.36 | 3.62 → 2.74 | 0.21 → 0.41 |
| 3 | 146 → 306 | 0.19 → 0.46 | 3.32 → 2.61 | 0.29 → 0.45 |
| 4 | 244 → 265 | 0.24 → 0.26 | 2.68 → 2.24 | 0.27 → 0.33 |
| 5 | 242 → 224 | 0.23 → 0.23 | 2.61 → 2.72 | 0.28 → 0.29 |
| 6 | 226 → 319 | 0.23 → 0.33 | 3.00 → 1.99 | 0.28 → 0.41 |
| 7 | 356 → 380 | 0.29 → 0.35 | 2.27 → 2.27 | 0.27 → 0.34 |
| 8 | 313 → 378 | 0.29 → 0.29 | 2.50 → 1.88 | 0.29 → 0.36 |

Worker CPU a call 0.66–1.08 × before (0.81 the median pair); by CPU the row is 0.26–0.45 ×
its floor (0.21–0.32 before). On the realistic mix (`BENCH_WORKER_ROWS=mix BENCH_WORKERS=1`,
one pair at load 1.5) nothing lost: 1,015 → 1,012 calls/s, 0.92 → 0.90 ms a call (0.82 →
0.90 × the floor by CPU). **Still not the 0.6 asked.** cProfile of the worker (2,000
calls, every call alerting, both trees the same hour): rendering went from 13 % of the
profile to 2.5 % (`render.message` 1.94 → 0.30 s), arq's run of jobs 0.45 → 0.17 s, the
outbox put (0.48 s) became the hold and claim (0.35 s); what is left is the Diga fetch
(2.2 s, the floor's own work) and the post itself (2.0 s: httpx's request building and URL
parsing over aiohttp, then the marker written from a thread), each about as much as the rest
of the call (the pairs above predate the once-per-hook request, 1 % of a call). The next
steps: post through aiohttp without httpx's client layer, and the event loop's own marker
write for posts made on the loop (a thread hand-off a send now).

`BENCH_REDIS_CALLS=2000 python -m bench redis`, before → after: an alerting call 48.2 → 42.1
commands (the send job's put, claim, read and finish gone; one SET for the held sends
added), 11,893 → 6,930 bytes to Redis, quiet calls unchanged (15.0 → 15.2, polling noise).
Of the 42, the signature counts are 15 and the sent history 9 (`BENCH_REDIS_TRACE=1`): the
≤ 30 goal is theirs to reach.
"""
