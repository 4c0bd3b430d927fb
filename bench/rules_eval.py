"""Rule evaluation: 100 rules of mixed kinds against 10,000 logs, in one process, against
the floor: the same loops touching each log's level and nothing else."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerter.models import CallEnded, LogEntry
from alerter.pipeline.evaluate import evaluate
from alerter.rules.load import load_rules
from bench.common import table

RULES = 100
LOGS = 10_000
REPEATS = 5

CATEGORIES = [
    "TRANSFER",
    "AGENT",
    "CALL_TOOLS",
    "INTEGRATION_TOOLS",
    "WEBHOOKS",
    "WORKFLOWS",
    "KNOWLEDGE",
]
EVENTS = [
    "transfer_failed",
    "transfer_timeout",
    "tool_error",
    "llm_timeout",
    "webhook_failed",
    "workflow_step_failed",
    "kb_miss",
    "integration_error",
]


def rule_file(path: Path) -> None:
    rng = random.Random(7)
    lines = ["destinations: {d: 'json://127.0.0.1:9/x'}", "rules:"]
    for i in range(RULES):
        kind = i % 5
        match = [f"category: [{rng.choice(CATEGORIES)}, {rng.choice(CATEGORIES)}]"]
        if kind == 0:
            match.append(f'event: ["{rng.choice(EVENTS)[:6]}*"]')
        elif kind == 1:
            match.append(f'event: ["re:^(transfer|tool)_(failed|error|{i})$"]')
        elif kind == 2:
            match.append("data: {failure_reason: {contains: timeout}}")
        elif kind == 3:
            match.append(
                f"data: {{message_text: {{regex: 'SIP (4\\\\d\\\\d|5\\\\d\\\\d) .*{i % 10}'}}, code: [408, 480, 503]}}"
            )
        else:
            match.append(
                f"level: [CRITICAL]\n      event: [{rng.choice(EVENTS)}, {rng.choice(EVENTS)}]"
            )
        lines.append(
            f"  - name: rule-{i}\n    match:\n      " + "\n      ".join(match) + "\n    notify: [d]"
        )
    path.write_text("\n".join(lines) + "\n")


def make_logs() -> tuple[LogEntry, ...]:
    rng = random.Random(11)
    start = datetime(2026, 11, 25, tzinfo=UTC)
    return tuple(
        LogEntry(
            id=str(uuid.UUID(int=rng.getrandbits(128))),
            timestamp=start + timedelta(milliseconds=i),
            level=rng.choice(["ERROR", "ERROR", "ERROR", "CRITICAL"]),
            category=rng.choice(CATEGORIES),
            event=rng.choice(EVENTS),
            data={
                "failure_reason": rng.choice(["timeout", "busy", "no answer"]),
                "message_text": f"SIP {rng.choice([408, 480, 503, 200])} after {i % 30}s",
                "code": rng.choice([408, 480, 503]),
            },
        )
        for i in range(LOGS)
    )


def best(fn: object) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def run(redis_url: str, workdir: Path) -> str:
    path = workdir / "bench-rules.yaml"
    rule_file(path)
    ruleset = load_rules(path, {})
    logs = make_logs()
    call = CallEnded(call_id=str(uuid.uuid4()), fields={"agent_id": "a"})

    def floor() -> None:
        for _rule in ruleset.rules:
            for log in logs:
                _ = log.level

    floor_s = best(floor)
    eval_s = best(lambda: evaluate(ruleset, call, logs))
    pairs = RULES * LOGS
    matched = sum(len(m.logs) for m in evaluate(ruleset, call, logs))
    rows = [
        ["floor (touch each log once per rule)", f"{pairs / floor_s / 1e6:.1f} M", "1.0"],
        ["evaluate()", f"{pairs / eval_s / 1e6:.2f} M", f"{eval_s / floor_s:.1f}"],
    ]
    return (
        f"{RULES} rules (category sets, globs, regexes, data conditions with contains / regex / "
        f"lists) × {LOGS:,} logs, best of {REPEATS}; {matched:,} (rule, log) matches.\n\n"
        + table(["loop", "(rule, log) pairs/s", "× floor"], rows)
        + "\n"
    )
