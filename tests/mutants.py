"""A small mutation check of the code whose bugs would hurt most and show least.

Each mutant is one small, plausible bug in webhook authentication, redaction, the send
markers or the outbox. For each, the tree is copied, the bug written in, and the tests that should notice
it are run; a mutant the tests let through "survives" and is listed. Run before a release:

    .venv/bin/python -m tests.mutants            # all mutants, about 10 minutes here
    .venv/bin/python -m tests.mutants marker     # only those whose name holds "marker"

Exit status 1 when any mutant survives.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUTH_TESTS = ("tests/http/test_webhook_auth.py",)
REDACTION_TESTS = ("tests/pipeline/test_redact_shadow.py", "tests/pipeline/test_render.py")
MARKER_TESTS = (
    "tests/store/test_lua.py",
    "tests/store/test_state.py",
    "tests/pipeline/test_job.py",
)
PER_MUTANT_TIMEOUT = 300


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


AUTH = "alerter/http/webhook_auth.py"
RENDER = "alerter/pipeline/render.py"
DIGEST = "alerter/pipeline/render_digest.py"
SEND = "alerter/pipeline/send.py"
STATE = "alerter/store/state.py"
JOB = "alerter/pipeline/job.py"

COMPAT_APPRISE = "alerter/compat/apprise.py"
COMPAT_TESTS = ("tests/compat/test_apprise.py",)

FETCH = "alerter/pipeline/fetch.py"
FIRST_PAGE = "alerter/pipeline/first_page.py"
FIRST_PAGE_TESTS = ("tests/pipeline/test_first_page.py",)

MUTANTS = (
    Mutant(
        "claim: a later try counted as a first",
        "alerter/store/claim.lua",
        "      tries = redis.call('INCR', retry)\n",
        "",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "story: a call's first events (in its record) not merged in time order",
        "alerter/store/calls.py",
        "events = sorted(first + [CallEvent.from_json(e) for e in later], key=_to_the_ms)",
        "events = first + [CallEvent.from_json(e) for e in later]",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "claim: the lock of a job that is not runnable is kept",
        "alerter/store/claim.lua",
        "      redis.call('DEL', in_progress)\n",
        "",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "first page: a call past one page evaluated on its first page alone",
        FETCH,
        "        if page.has_more:\n            return None\n",
        "",
        FIRST_PAGE_TESTS,
    ),
    Mutant(
        "first page: INFO and WARNING logs of a whole page kept",
        FETCH,
        "kept = [log for log in page.data if log.level in _FETCHED]",
        "kept = list(page.data)",
        FIRST_PAGE_TESTS,
    ),
    Mutant(
        "first page: adaptive never leaves the whole first page",
        FIRST_PAGE,
        "return PROBE_WEIGHT if self.calls % PROBE_EVERY == 0 else 0.0",
        "return LEARN_WEIGHT",
        FIRST_PAGE_TESTS,
    ),
    Mutant(
        "compat: a kept session carries one destination's cookies to the next",
        COMPAT_APPRISE,
        "        session.cookies.clear()",
        "        pass",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: only requests.request routed (requests.post and the rest not)",
        COMPAT_APPRISE,
        '    setattr(requests.api, "request", _request)  # noqa: B010\n',
        "",
        COMPAT_TESTS,
    ),
    Mutant(
        "auth: compare only a prefix of the signature",
        AUTH,
        "hmac.compare_digest(candidate.encode(), expected)",
        "candidate.encode()[:24] == expected[:24]",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: try only the first signature of a rotation header",
        AUTH,
        "for candidate in signatures.split():",
        "for candidate in signatures.split()[:1]:",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: accept early when the header carries several signatures",
        AUTH,
        "    expected = sign(secret, msg_id, timestamp, body).encode()\n",
        "    if len(signatures.split()) > 1:\n        return\n"
        "    expected = sign(secret, msg_id, timestamp, body).encode()\n",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: accept any signature version (only the digest compared)",
        AUTH,
        'candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected)',
        'hmac.compare_digest(candidate.partition(",")[2].encode(), expected[3:])',
        AUTH_TESTS,
    ),
    Mutant(
        "auth: timestamps from the future accepted",
        AUTH,
        "abs(now - timestamp) > TOLERANCE_SECONDS",
        "now - timestamp > TOLERANCE_SECONDS",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: tolerance ten times wider",
        AUTH,
        "TOLERANCE_SECONDS = 300",
        "TOLERANCE_SECONDS = 3000",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: bearer compared by its first characters",
        AUTH,
        "token.strip().encode(), secret.encode()",
        "token.strip().encode()[:8], secret.encode()[:8]",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: a wrong bearer falls through to acceptance",
        AUTH,
        'raise AuthError("bearer token does not match")',
        "return",
        AUTH_TESTS,
    ),
    Mutant(
        "auth: the timestamp left out of the signed text",
        AUTH,
        'signed = f"{msg_id}.{timestamp}.".encode() + body',
        'signed = f"{msg_id}..".encode() + body',
        AUTH_TESTS,
    ),
    Mutant(
        "auth: whsec_ secret used as text, not decoded",
        "alerter/settings.py",
        'if secret.startswith("whsec_"):',
        'if secret.startswith("whsec_never"):',
        AUTH_TESTS,
    ),
    Mutant(
        "redaction: a destination's redactor ignored",
        SEND,
        "rendered[slot] = render_for(destination.redactor)",
        "rendered[slot] = render_for(None)",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: every destination shares the first rendering",
        SEND,
        "slot = id(destination.redactor)",
        "slot = 0",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: excerpts left as they are",
        RENDER,
        "excerpts=tuple(redacted_excerpt(x, r) for x in alert.excerpts),",
        "excerpts=alert.excerpts,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: call fields left as they are",
        RENDER,
        "call_fields=tuple((key, r(value)) for key, value in alert.call_fields),",
        "call_fields=alert.call_fields,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: an excerpt's text left as it is",
        RENDER,
        "text=r(x.text) if x.text else None",
        "text=x.text",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: the note left as it is",
        RENDER,
        "note=r(alert.note) if alert.note else None,",
        "note=alert.note,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: digest reasons left as they are",
        DIGEST,
        "reasons=tuple((r(k), n) for k, n in digest.reasons),",
        "reasons=digest.reasons,",
        REDACTION_TESTS,
    ),
    Mutant(
        "marker: a claim taken even when one exists",
        STATE,
        "if await self._redis.set(key, token, nx=True, ex=CLAIM_LEASE_SECONDS):",
        "if await self._redis.set(key, token, ex=CLAIM_LEASE_SECONDS):",
        MARKER_TESTS,
    ),
    Mutant(
        "marker: a sent marker not recognised",
        STATE,
        "if current == _SENT:",
        'if current == b"delivered":',
        MARKER_TESTS,
    ),
    Mutant(
        "marker: sent markers kept one second",
        STATE,
        "pipe.set(key, _SENT, ex=SENT_TTL_SECONDS)",
        "pipe.set(key, _SENT, ex=1)",
        MARKER_TESTS,
    ),
    Mutant(
        "marker: an already-sent destination sent again",
        SEND,
        "if claim is Claim.SENT:\n        return Outcome.SENT.value",
        "if claim is Claim.SENT:\n        pass",
        MARKER_TESTS,
    ),
    Mutant(
        "marker: one marker per rule, not per destination",
        STATE,
        'key = f"{PREFIX}sent:{call_id}:{rule}:{destination}"',
        'key = f"{PREFIX}sent:{call_id}:{rule}"',
        MARKER_TESTS,
    ),
    Mutant(
        "marker: one marker per destination, not per URL",
        SEND,
        "url=url_id(url) if several else None,",
        "url=None,",
        ("tests/pipeline/test_stress.py",),
    ),
    Mutant(
        "outbox: a send's retry cap raised tenfold",
        SEND,
        "DELIVERY_TRIES = 8  #",
        "DELIVERY_TRIES = 80  #",
        ("tests/pipeline/test_job.py",),
    ),
    Mutant(
        "outbox: a resolved message for a firing that was never sent",
        "alerter/pipeline/episodes.py",
        "if not await episodes.notified(rule.name, note.digest, note.id):",
        "if False:",
        ("tests/pipeline/test_episodes.py",),
    ),
    Mutant(
        "outbox: inhibited calls counted in frequency and rate windows",
        JOB,
        "        else:\n"
        "            decision = await decide(deps.noise, match, call, now, silences, ended_at=ended_at)",
        "        decided = await decide(deps.noise, match, call, now, silences, ended_at=ended_at)\n"
        "        if inhibitor is None:\n"
        "            decision = decided",
        ("tests/pipeline/test_job.py",),
    ),
    Mutant(
        "marker: the release deletes another sender's claim",
        "alerter/store/release.lua",
        "if redis.call('GET', KEYS[1]) == ARGV[1] then",
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then",
        MARKER_TESTS,
    ),
)

COPIED = ("alerter", "tests", "rules", "README.md", "pyproject.toml")


def run(mutant: Mutant) -> tuple[bool, float, str]:
    """(killed, seconds, last line of the test output)."""
    with tempfile.TemporaryDirectory(prefix="alerter-mutant-") as tmp:
        tree = Path(tmp)
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, tree / name)
        target = tree / mutant.path
        text = target.read_text()
        if text.count(mutant.old) != 1:
            raise SystemExit(f"mutant {mutant.name!r}: its text is not once in {mutant.path}")
        target.write_text(text.replace(mutant.old, mutant.new))
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.monotonic()
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-x",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    *mutant.tests,
                ],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                timeout=PER_MUTANT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return True, time.monotonic() - started, "timed out (counted as killed)"
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        return done.returncode != 0, time.monotonic() - started, lines[-1] if lines else ""


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or any(word in m.name for word in argv)]
    survivors = []
    for mutant in chosen:
        killed, seconds, last = run(mutant)
        print(
            f"{'killed  ' if killed else 'SURVIVED'} {seconds:5.1f}s  {mutant.name}  ({last})",
            flush=True,
        )
        if not killed:
            survivors.append(mutant)
    print(f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed")
    for mutant in survivors:
        print(f"survived: {mutant.name} ({mutant.path})")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
