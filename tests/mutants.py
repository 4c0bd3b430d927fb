"""A small mutation check of the code whose bugs would hurt most and show least.

Each mutant is one small, plausible bug in webhook authentication, redaction, the send
markers, the outbox, or the limits that keep one request or rule from freezing the api or the worker
(`limits:`). For each, the tree is copied, the bug written in, and the tests that should notice
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
REDACTION_TESTS = ("tests/pipeline/test_redact_shadow.py", "tests/render/test_alert.py")
LINK_TESTS = ("tests/render/test_links.py", "tests/render/test_alert.py")
TEXT_TESTS = ("tests/render/test_text.py",)
EMAIL_TESTS = ("tests/render/test_email.py", "tests/render/test_alert.py")
MARKER_TESTS = (
    "tests/store/test_lua.py",
    "tests/store/test_state.py",
    "tests/worker/test_call.py",
)
CONSOLE_TESTS = (
    "tests/http/test_console_attacks.py",
    "tests/http/test_console_signin.py",
    "tests/http/test_console.py",
)
LIMITS_API_TESTS = ("tests/http/test_console_limits.py",)
TEMPLATE_TESTS = ("tests/rules/test_templates.py",)
API_TESTS = ("tests/http/test_api_contract.py",)
ACTOR_TESTS = ("tests/cli/test_cli.py", "tests/http/test_api_contract.py")
SLACK_TESTS = ("tests/http/test_slack_interactions.py",)
SLACK_SEND_TESTS = ("tests/pipeline/test_slack_app.py", "tests/render/test_slack_blocks.py")
PER_MUTANT_TIMEOUT = 300


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


AUTH = "alerter/http/webhook_auth.py"
BUILD = "alerter/render/build.py"
REDACTION = "alerter/render/redaction.py"
PLAIN = "alerter/render/plain.py"
EMAIL = "alerter/render/email.py"
CONSOLE_URLS = "alerter/render/console_urls.py"
ALERT = "alerter/render/model.py"
DIGEST = "alerter/render/digest.py"
SEND = "alerter/worker/send.py"
JOB = "alerter/worker/call.py"
GUARD = "alerter/worker/guard.py"
BUDGET_TESTS = ("tests/worker/test_budgets.py",)
DECIDE = "alerter/pipeline/decide.py"
DECIDE_TESTS = ("tests/pipeline/test_decide.py",)
REPLAY_DECIDE = "alerter/replay/decide.py"
REPLAY_TESTS = ("tests/replay/test_simulate.py",)


def steps(*names: str) -> str:
    """Lines of a step table (`pipeline.decide.STEPS`, `replay.decide.STEPS`), in this order."""
    return "".join(f"    (Step.{name.upper()}, _{name}),\n" for name in names)


COMPAT_APPRISE = "alerter/compat/apprise.py"
COMPAT_TESTS = ("tests/compat/test_apprise.py",)
COMPAT_HTTPX = "alerter/compat/httpx.py"
COMPAT_HTTPX_TESTS = ("tests/compat/test_httpx.py",)
WEBHOOKS = "alerter/pipeline/webhooks.py"
WEBHOOK_TESTS = ("tests/pipeline/test_webhooks.py",)
DELIVER = "alerter/pipeline/deliver.py"

FETCH = "alerter/pipeline/fetch.py"
FIRST_PAGE = "alerter/pipeline/first_page.py"
FIRST_PAGE_TESTS = ("tests/pipeline/test_first_page.py",)

BASELINE_LUA = "alerter/store/baseline.lua"
BASELINE = "alerter/rules/baseline.py"
BASELINE_TESTS = ("tests/pipeline/test_baseline.py",)
CORRELATE_TESTS = ("tests/pipeline/test_correlate.py",)
SLACK_HTTP = "alerter/http/slack.py"
SLACK_APP = "alerter/pipeline/slack_app.py"
LINKS = "alerter/render/links.py"
TEXT = "alerter/render/text.py"
EPISODE = "alerter/render/episode.py"
SILENCES = "alerter/store/silences.py"
MATCHERS = "alerter/rules/matchers.py"
STATE = "alerter/store/state.py"
GATE = "alerter/http/console/gate.py"
CONSOLE_AUTH = "alerter/http/console/auth.py"
SIGN_INS = "alerter/store/console_auth.py"
BOUNDS = "alerter/rules/bounds.py"
SANDBOX = "alerter/rules/sandbox.py"
BACKTEST = "alerter/replay/backtest.py"
ACTIONS = "alerter/http/console/actions.py"
OPERATIONS = "alerter/operations.py"

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
        '        setattr(requests.api, "request", _request)  # noqa: B010\n',
        "",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a refused e-mail no longer named by its SMTP reply",
        COMPAT_APPRISE,
        "            setattr(smtplib.SMTP, name, _watched_smtp(name))",
        "            pass",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: apprise's conversion written as the e-mail's plain part, not ours",
        COMPAT_APPRISE,
        "    if text is not None and to_format == apprise.NotifyFormat.TEXT:",
        "    if False:",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a Slack URL with channels posted on the loop (its channels lost)",
        COMPAT_APPRISE,
        "    if type(plugin) is NotifySlack and plugin.channels == [None]:",
        "    if type(plugin) is NotifySlack:",
        COMPAT_TESTS + WEBHOOK_TESTS,
    ),
    Mutant(
        "compat: httpx keeps and sends back an answer's cookies",
        COMPAT_HTTPX,
        '    setattr(client, "_cookies", _NoCookies())  # noqa: B010',
        "    pass",
        COMPAT_HTTPX_TESTS,
    ),
    Mutant(
        "webhooks: a refusal (retried with backoff) read as unknown (not resent before a lease)",
        DELIVER,
        "        return Delivery(Sent.REFUSED, described(destination, where, answer))",
        "        return Delivery(Sent.UNKNOWN, described(destination, where, answer))",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "webhooks: a Slack answer other than `ok` read as accepted",
        WEBHOOKS,
        'if status == 200 and answer == b"ok":',
        "if status == 200:",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "webhooks: a connection error is a plugin bug's `error ...`, not its kind",
        WEBHOOKS,
        "            return False, (host_of(hook.url), error_kind(exc))",
        "            raise",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "webhooks: the JSON body is not apprise's (text not right-stripped)",
        WEBHOOKS,
        '        "message": message.text.rstrip(),',
        '        "message": message.text,',
        WEBHOOK_TESTS,
    ),
    Mutant(
        "webhooks: a Slack URL's user name left out of the post",
        WEBHOOKS,
        '        body["username"] = hook.username',
        "        pass",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "compat: aiohttp's jar keeps a named host's cookie (Diga's, a webhook's) for the next",
        COMPAT_HTTPX,
        "connector=connector, cookie_jar=aiohttp.DummyCookieJar()",
        "connector=connector",
        (*COMPAT_HTTPX_TESTS, "tests/pipeline/test_fetch.py", *WEBHOOK_TESTS),
    ),
    Mutant(
        "fetch: Diga's client made on aiohttp's own session (its cookie jar) again",
        FETCH,
        "transport=transport or aiohttp_transport(limits),",
        'transport=transport or __import__("httpx_aiohttp").AiohttpTransport(limits=limits),',
        ("tests/pipeline/test_fetch.py",),
    ),
    Mutant(
        "budgets: the guard's tries after errors fixed at production's",
        GUARD,
        "    if job_try < budgets.error_tries:",
        "    if job_try < 8:",
        BUDGET_TESTS,
    ),
    Mutant(
        "budgets: the backoff's base and cap fixed at production's",
        GUARD,
        "delay = min(budgets.backoff_cap, budgets.backoff_base * 2 ** (job_try - 1))",
        "delay = min(300.0, 2.0 * 2 ** (job_try - 1))",
        BUDGET_TESTS,
    ),
    Mutant(
        "budgets: a call not found waits production's delays",
        JOB,
        "            delays = budgets.not_found_delays",
        "            delays = (10.0, 20.0, 30.0)",
        BUDGET_TESTS,
    ),
    Mutant(
        "budgets: the Sender's backstop fixed at production's 45 s",
        DELIVER,
        "            waited = self._budgets.send_timeout",
        "            waited = 45.0",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "budgets: apprise's sends keep production's read timeout",
        DELIVER,
        "compat.tuned_plugin(url, budgets.connect_timeout, budgets.read_timeout)",
        "compat.tuned_plugin(url, budgets.connect_timeout, 20.0)",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "budgets: the webhook client keeps production's read timeout",
        WEBHOOKS,
        "timeout = httpx.Timeout(budgets.read_timeout, connect=budgets.connect_timeout)",
        "timeout = httpx.Timeout(20.0, connect=budgets.connect_timeout)",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "budgets: Diga's page size fixed at the API's maximum",
        FETCH,
        "        self._page_limit = budgets.page_limit",
        "        self._page_limit = 1000",
        ("tests/pipeline/test_fetch.py",),
    ),
    Mutant(
        "budgets: Diga's answer cap fixed at production's 16 MiB",
        FETCH,
        "        self._max_bytes = budgets.max_response_bytes",
        "        self._max_bytes = 16 * 1024 * 1024",
        ("tests/pipeline/test_fetch.py",),
    ),
    Mutant(
        "budgets: the worker's clients made with production's budgets, not the worker's",
        "alerter/worker/app.py",
        "            http=webhook_client(budgets),\n            budgets=budgets,\n",
        "            http=webhook_client(),\n",
        (
            "tests/worker/test_stress.py::test_a_send_with_no_answer_keeps_its_claim_and_a_late_accept_counts",
        ),
    ),
    Mutant(
        "webhooks: a refusal names the whole URL (a Slack token in it)",
        WEBHOOKS,
        "return False, (host_of(where), http_answer(",
        "return False, (where, http_answer(",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "webhooks: an accepted post's marker left to the event loop (a killed worker resends)",
        DELIVER,
        "            await loop.run_in_executor(self._pool, _marked, on_accept)",
        "            pass",
        ("tests/worker/test_stress.py",),
    ),
    Mutant(
        "webhooks: a send past the backstop, accepted late, never marked",
        DELIVER,
        "                self._late.add(loop.create_task(_when_accepted(future, on_late_accept)))",
        "                pass",
        WEBHOOK_TESTS,
    ),
    Mutant(
        "escalation: an episode escalated again",
        "alerter/worker/escalate.py",
        "if not await store.escalate_once(key, life):",
        "if not await store.escalate_once(key + str(now), life):",
        ("tests/worker/test_escalate.py",),
    ),
    Mutant(
        "escalation: an acknowledged alert escalates",
        "alerter/worker/escalate.py",
        "if ack is not None:",
        "if ack is not None and False:",
        ("tests/worker/test_escalate.py",),
    ),
    Mutant(
        "slack: compare only a prefix of the signature",
        SLACK_HTTP,
        "hmac.compare_digest(expected.encode(), signature.encode())",
        "expected[:10] == signature[:10]",
        SLACK_TESTS,
    ),
    Mutant(
        "slack: a stale signature accepted (tolerance one way only)",
        SLACK_HTTP,
        "if abs(now - sent_at) > SIGNATURE_TOLERANCE_SECONDS:",
        "if now - sent_at > SIGNATURE_TOLERANCE_SECONDS * 1000:",
        SLACK_TESTS,
    ),
    Mutant(
        "slack: the timestamp left out of the signed text",
        SLACK_HTTP,
        'base = b"v0:" + timestamp.encode() + b":" + body',
        'base = b"v0:" + b":" + body',
        SLACK_TESTS,
    ),
    Mutant(
        "slack: operator check lets anyone act",
        SLACK_HTTP,
        "if not await self._is_operator(click.user_id, app):",
        "if not await self._is_operator(click.user_id, app) and not click.user_id:",
        SLACK_TESTS,
    ),
    Mutant(
        "slack: a user group's members not asked for",
        SLACK_HTTP,
        'if user_id in (answer.get("users") or []):',
        "if False:",
        SLACK_TESTS,
    ),
    Mutant(
        "slack: thread_ts left off replies",
        SLACK_APP,
        'arguments["thread_ts"] = thread_ts',
        "pass",
        SLACK_SEND_TESTS,
    ),
    Mutant(
        "slack: every alert of an episode a new post",
        SLACK_APP,
        "if posted is not None:\n            await self._post(app, payload, thread_ts=posted.ts)",
        "if False:\n            await self._post(app, payload, thread_ts=posted.ts)",
        SLACK_SEND_TESTS,
    ),
    Mutant(
        "slack: resolve does not update the first post",
        SLACK_APP,
        'await self._client.api_call("chat.update", json=arguments)',
        "pass",
        SLACK_SEND_TESTS,
    ),
    Mutant(
        "slack: ratelimited counted as a failed try",
        SLACK_APP,
        "return Delivery(Sent.REFUSED, reason, retry_after=wait, rate_limited=True)",
        "return Delivery(Sent.REFUSED, reason, retry_after=wait)",
        SLACK_SEND_TESTS,
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
        REDACTION,
        "excerpts=tuple(redacted_excerpt(x, r) for x in alert.excerpts),",
        "excerpts=alert.excerpts,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: call fields left as they are",
        REDACTION,
        "call_fields=tuple((r(key), r(value)) for key, value in alert.call_fields),",
        "call_fields=alert.call_fields,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: an excerpt's text left as it is",
        REDACTION,
        "text=r(x.text) if x.text else None",
        "text=x.text",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: the note left as it is",
        REDACTION,
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
        "redaction: a templated title left as it is",
        REDACTION,
        "headline=r(alert.headline) if alert.headline else None,",
        "headline=alert.headline,",
        REDACTION_TESTS,
    ),
    Mutant(
        "redaction: link texts left as they are",
        LINKS,
        "return Link(r(link.text), redacted_url(link.url, r))",
        "return Link(link.text, redacted_url(link.url, r))",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: link urls left as they are",
        LINKS,
        "return Link(r(link.text), redacted_url(link.url, r))",
        "return Link(r(link.text), link.url)",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: a url's query left as it is",
        LINKS,
        'query = "&".join(_redacted_pair(pair, r) for pair in parts.query.split("&"))',
        "query = parts.query",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: the Silence… prefill left as it is",
        LINKS,
        "matchers = tuple((name, r(value)) for name, value in link.prefill.matchers)",
        "matchers = link.prefill.matchers",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: links not redacted at all",
        REDACTION,
        "links=checked_links(alert.rule, (redacted_link(link, r) for link in alert.links)),",
        "links=alert.links,",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: a redacted url not checked again",
        REDACTION,
        "links=checked_links(alert.rule, (redacted_link(link, r) for link in alert.links)),",
        "links=tuple(redacted_link(link, r) for link in alert.links),",
        LINK_TESTS,
    ),
    Mutant(
        "redaction: the call id in titles and urls redacted too",
        REDACTION,
        "r = redactor.keeping(alert.call_id)",
        "r = redactor",
        (*REDACTION_TESTS, *LINK_TESTS),
    ),
    Mutant(
        "redaction: a format character hides a number",
        "alerter/rules/redact.py",
        "text = _visible(text)\n",
        "text = text\n",
        (*REDACTION_TESTS, *TEXT_TESTS),
    ),
    Mutant(
        "redaction: resolved messages keep the group",
        EPISODE,
        "description=r(episode.description), group=r(episode.group)",
        "description=r(episode.description)",
        ("tests/render/test_episode.py",),
    ),
    Mutant(
        "links: no check after rendering",
        BUILD,
        "links=checked_links(rule.name, links),",
        "links=links,",
        LINK_TESTS,
    ),
    Mutant(
        "links: the scheme not checked after rendering",
        LINKS,
        'if parts.scheme.lower() not in ("http", "https"):',
        "if False:",
        LINK_TESTS,
    ),
    Mutant(
        "links: any scheme starting with http passes",
        LINKS,
        'if parts.scheme.lower() not in ("http", "https"):',
        'if not parts.scheme.lower().startswith("http"):',
        LINK_TESTS,
    ),
    Mutant(
        "links: a user name without a password passes",
        LINKS,
        'if "@" in parts.netloc:',
        "if parts.password:",
        LINK_TESTS,
    ),
    Mutant(
        "links: long urls cut by the template, not left out",
        LINKS,
        "url = dataclasses.replace(template.url, limit=URL_CHARS + 1).render(seen)",
        "url = template.url.render(seen)",
        LINK_TESTS,
    ),
    Mutant(
        "links: a url one over the limit passes",
        LINKS,
        "if len(url) > URL_CHARS:",
        "if len(url) > URL_CHARS + 1:",
        LINK_TESTS,
    ),
    Mutant(
        "links: left out silently",
        LINKS,
        'log.warning("rule %s: link %d left out: %s", rule, position, problem)',
        "pass",
        LINK_TESTS,
    ),
    Mutant(
        "prefill: values written as they are",
        CONSOLE_URLS,
        'return "\\n".join(f"{name}={literal(value)}" for name, value in pairs)',
        'return "\\n".join(f"{name}={value}" for name, value in pairs)',
        LINK_TESTS,
    ),
    Mutant(
        "prefill: a comma left unescaped",
        MATCHERS,
        'c if c.isprintable() and c != "," else _json_escape(c)',
        "c if c.isprintable() else _json_escape(c)",
        LINK_TESTS,
    ),
    Mutant(
        "prefill: a leading ~ left as it is",
        MATCHERS,
        """if plain and not value.startswith(("~", '"')):""",
        "if plain:",
        LINK_TESTS,
    ),
    Mutant(
        "prefill: a quoted value not read back",
        MATCHERS,
        "return Matcher(name, op, _unquoted(value.strip()))",
        "return Matcher(name, op, value.strip())",
        LINK_TESTS,
    ),
    Mutant(
        "prefill: a recreated silence writes its values as they are",
        MATCHERS,
        'return f"{self.name}{self.op}{literal(self.value)}"',
        'return f"{self.name}{self.op}{self.value}"',
        LINK_TESTS,
    ),
    Mutant(
        "bidi: the Slack payload keeps bidi controls",
        ALERT,
        "slack=bidi_free_json(message.slack),",
        "slack=message.slack,",
        TEXT_TESTS,
    ),
    Mutant(
        "bidi: the title (e-mail subject) keeps bidi controls",
        ALERT,
        "title=bidi_free(message.title),",
        "title=message.title,",
        TEXT_TESTS,
    ),
    Mutant(
        "bidi: digests keep bidi controls",
        DIGEST,
        "    return finished(\n        Message(\n            title(digest),",
        "    return (\n        Message(\n            title(digest),",
        TEXT_TESTS,
    ),
    Mutant(
        "bidi: isolates (U+2066-U+2069) kept but the last",
        TEXT,
        r"\u2066-\u2069",
        r"\u2066-\u2068",
        TEXT_TESTS,
    ),
    Mutant(
        "indent: an excerpt's text indented on its first line only",
        PLAIN,
        "lines.append(indented(d(x.text)))",
        'lines.append(f"    {d(x.text)}")',
        TEXT_TESTS,
    ),
    Mutant(
        "indent: a group's note kept at the margin",
        PLAIN,
        "lines.append(indented(d(alert.note)))",
        "lines.append(d(alert.note))",
        TEXT_TESTS,
    ),
    Mutant(
        "indent: a call field may break its line",
        PLAIN,
        'lines += [f"{d(one_line(k))}: {d(one_line(v))}" for k, v in alert.call_fields]',
        'lines += [f"{d(k)}: {d(v)}" for k, v in alert.call_fields]',
        TEXT_TESTS,
    ),
    Mutant(
        "indent: a digest's excerpt indented on its first line only",
        DIGEST,
        "lines.append(indented(d(bound(c.excerpt.text, EXCERPT_TEXT_CHARS))))",
        'lines.append(f"    {d(bound(c.excerpt.text, EXCERPT_TEXT_CHARS))}")',
        TEXT_TESTS,
    ),
    Mutant(
        "indent: only a newline counts as a line break",
        TEXT,
        "text.splitlines() or",
        'text.split("\\n") or',
        TEXT_TESTS,
    ),
    Mutant(
        "marker: a claim taken even when one exists",
        STATE,
        "if await self._redis.set(key, token, nx=True, ex=self.lease_seconds):",
        "if await self._redis.set(key, token, ex=self.lease_seconds):",
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
        "alerter/store/keys.py",
        'key = f"{SENT_PREFIX}{call_id}:{rule}:{destination}"',
        'key = f"{SENT_PREFIX}{call_id}:{rule}"',
        MARKER_TESTS,
    ),
    Mutant(
        "marker: one marker per destination, not per URL",
        SEND,
        "url=url_id(url) if several else None,",
        "url=None,",
        ("tests/worker/test_stress.py",),
    ),
    Mutant(
        "marker: the release deletes another sender's claim",
        "alerter/store/release.lua",
        "if redis.call('GET', KEYS[1]) == ARGV[1] then",
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then",
        MARKER_TESTS,
    ),
    Mutant(
        "limits: the alias expansion limit ten times too high",
        BOUNDS,
        "MAX_RULE_VALUES = 100_000",
        "MAX_RULE_VALUES = 1_000_000",
        ("tests/rules/test_load.py",),
    ),
    Mutant(
        "limits: rules sent in a request may hold aliases",
        "alerter/rules/load.py",
        "_parse_file(name, text, aliases=False)",
        "_parse_file(name, text, aliases=True)",
        LIMITS_API_TESTS,
    ),
    Mutant(
        "limits: nesting depth not checked on the composed YAML",
        BOUNDS,
        "        if depth > MAX_DEPTH:\n            raise TextRefused(_line(node), _TOO_DEEP)\n",
        "",
        ("tests/rules/test_load.py", "tests/rules/test_bounds.py"),
    ),
    Mutant(
        "limits: the sandbox's binop limit removed",
        SANDBOX,
        "        check_binop(operator, left, right)\n        return _BINOPS",
        "        return _BINOPS",
        TEMPLATE_TESTS,
    ),
    Mutant(
        "limits: a template's render deadline never checked",
        SANDBOX,
        "if monotonic() > deadline:",
        "if monotonic() > deadline + 3600:",
        TEMPLATE_TESTS,
    ),
    Mutant(
        "limits: range a hundred times longer",
        SANDBOX,
        "if len(found) > MAX_RANGE:",
        "if len(found) > MAX_RANGE * 100:",
        TEMPLATE_TESTS,
    ),
    Mutant(
        "limits: the ~ operator unchecked",
        SANDBOX,
        'return "".join(_check_concat(parts))',
        'return "".join(str(part) for part in parts)',
        TEMPLATE_TESTS,
    ),
    Mutant(
        "limits: silence regexes back on Python's re",
        MATCHERS,
        "found = compile_re2(self.value).fullmatch(actual)",
        "found = re.fullmatch(self.value, actual) is not None",
        LIMITS_API_TESTS,
    ),
    Mutant(
        "limits: the store's 90-day cap removed",
        SILENCES,
        "if ends - now > MAX_SILENCE_SECONDS:",
        "if ends - max(now, ends - MAX_SILENCE_SECONDS) > MAX_SILENCE_SECONDS:",
        ("tests/store/test_silences.py",),
    ),
    Mutant(
        "limits: an extension's 90-day cap computed from the old end",
        OPERATIONS,
        "if (problem := end_problem(ends, now)) is not None:",
        "if (problem := end_problem(ends, start)) is not None:",
        LIMITS_API_TESTS,
    ),
    Mutant(
        "limits: a second backtest let in while one runs",
        BACKTEST,
        "        if self._since is not None:\n            left",
        "        if False:\n            left",
        ("tests/replay/test_backtest.py", *LIMITS_API_TESTS),
    ),
    Mutant(
        "limits: the rate cap off (3600/m passes)",
        BACKTEST,
        "if rate > MAX_RATE:",
        "if rate > MAX_RATE * 100:",
        LIMITS_API_TESTS,
    ),
    Mutant(
        "limits: a refused backtest not audited",
        BACKTEST,
        'await audit.write(who, "rules.backtest.failed", target, {"error": code, "reason": said})',
        "del code, said",
        LIMITS_API_TESTS,
    ),
    Mutant(
        "limits: the replay's deadline ignored",
        "alerter/replay/simulate.py",
        "if self.at is not None and self.clock() > self.at:",
        "if self.at is not None and self.clock() > self.at + 3600:",
        ("tests/replay/test_simulate.py",),
    ),
    Mutant(
        "clock: the call job counts a call when it is decided, not when it ended",
        "alerter/worker/call.py",
        "ended_at = call.accepted_at or now",
        "ended_at = now",
        ("tests/pipeline/test_baseline.py",),
    ),
    Mutant(
        "clock: the history stamped by the system clock, not the one given",
        STATE,
        "self.clock = clock  # every stamp",
        "self.clock = system_clock  # every stamp",
        ("tests/store/test_state.py",),
    ),
    Mutant(
        "limits: flatline groups never pruned",
        "alerter/store/episodes.py",
        "if int(at) < cutoff and digest.decode() != WHOLE_RULE:",
        "if False:",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "limits: a rule keeps one flatline group too many",
        "alerter/store/enqueue.lua",
        "or redis.call('HLEN', KEYS[i]) < tonumber(ARGV[at + 2]) then",
        "or redis.call('HLEN', KEYS[i]) <= tonumber(ARGV[at + 2]) then",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "limits: a destination's redact regex back on Python's re",
        "alerter/rules/redact.py",
        'custom.append((compile_re2(kind), "[redacted]"))',
        'custom.append((re.compile(kind), "[redacted]"))',
        ("tests/rules/test_redact.py",),
    ),
    Mutant(
        "limits: a full rule still admits new groups",
        "alerter/store/group_admit.lua",
        "or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then",
        "or redis.call('ZCARD', KEYS[1]) >= 0 then",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "limits: expired groups never make room",
        "alerter/store/group_admit.lua",
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))",
        "",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "limits: group_by warnings miss phone fields",
        "alerter/rules/advice.py",
        '        or "phone" in last\n',
        "",
        ("tests/rules/test_load.py",),
    ),
    Mutant(
        "rule type: an empty or false rule read as every rule",
        ACTIONS,
        "    rule = body.rule\n",
        "    rule = body.rule or None\n",
        API_TESTS,
    ),
    Mutant(
        "rule type: any JSON value taken as a rule",
        "alerter/http/console/schema.py",
        "    rule: Name | None = None\n    matchers:",
        "    rule: Any = None\n    matchers:",
        API_TESTS,
    ),
    Mutant(
        "rule type: a misspelt rule field ignored (so every rule silenced)",
        "alerter/http/console/schema.py",
        "class SilenceIn(Frozen, frozen=True, forbid_unknown_fields=True):",
        "class SilenceIn(Frozen, frozen=True):",
        API_TESTS,
    ),
    Mutant(
        "audit actor: --as ignored",
        "alerter/cli/common.py",
        "    if given:\n        return given[:200]",
        "    if False:\n        return given[:200]",
        ACTOR_TESTS,
    ),
    Mutant(
        "audit actor: a silence made without its creator",
        OPERATIONS,
        "            created_by=actor,",
        '            created_by="",',
        ACTOR_TESTS,
    ),
    Mutant(
        "audit actor: every change recorded as the CLI",
        "alerter/store/audit.py",
        '"who": who[:200],',
        '"who": "cli",',
        ACTOR_TESTS,
    ),
    Mutant(
        "contract: an answer off its documented schema",
        "alerter/http/console/schema.py",
        "created_by=silence.created_by,",
        "created_by=None,  # type: ignore[arg-type]",
        ("tests/http/test_openapi.py",),
    ),
    Mutant(
        "contract: a call id read without checking it is a UUID",
        ACTIONS,
        "return str(uuid.UUID(str(value).strip()))",
        "return str(value).strip()",
        API_TESTS,
    ),
    Mutant(
        "audit actor: expiring a silence not audited",
        OPERATIONS,
        'await self.audit.write(actor, "silence.expire", silence_id)',
        "None",
        ACTOR_TESTS,
    ),
    Mutant(
        "metrics: the api exports the worker's job counter too",
        "alerter/metrics.py",
        '"alerter_jobs", "Call jobs finished, by outcome.", ["outcome"], registry=worker',
        '"alerter_jobs", "Call jobs finished, by outcome.", ["outcome"], registry=r',
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "metrics: the invalid-rules gauge never comes down",
        "alerter/rules/reload.py",
        "self.metrics.rules_invalid.set(1 if self._broken else 0)",
        "self.metrics.rules_invalid.set(1 if self._broken else None or 1)",
        ("tests/test_metrics.py",),
    ),
    Mutant(
        "alerts: a waiting call pages only after five minutes",
        "deploy/prometheus/alerter-rules.yaml",
        "expr: max(alerter_queue_oldest_due_seconds) > 30",
        "expr: max(alerter_queue_oldest_due_seconds) > 300",
        ("tests/test_prometheus.py",),
    ),
    Mutant(
        "alerts: a 404 from Diga counted as an error",
        "deploy/prometheus/alerter-rules.yaml",
        'status!~"200|404"',
        'status!~"200"',
        ("tests/test_prometheus.py",),
    ),
    Mutant(
        "replicas: the console secret is not read from its file",
        "alerter/settings.py",
        '    "ALERTER_CONSOLE_SECRET",\n)',
        "\n)",
        ("tests/http/test_replicas.py",),
    ),
    Mutant(
        "history: the next page starts with the last entry shown",
        STATE,
        'high, scanned = (f"({before}" if before else "+"), 0',
        'high, scanned = (before if before else "+"), 0',
        ("tests/http/test_console_oncall.py",),
    ),
    Mutant(
        "history: a call field filter checks only the first field",
        "alerter/http/console/history.py",
        "all(fields.get(k) == v for k, v in wanted.items())",
        "all(fields.get(k) == v for k, v in list(wanted.items())[:1])",
        ("tests/http/test_console_oncall.py",),
    ),
    Mutant(
        "destinations: the port left out",
        "alerter/http/console/destinations.py",
        '(f":{port}" if port is not None else "")',
        '""',
        ("tests/http/test_console_oncall.py",),
    ),
    Mutant(
        "call page: the matching log lines not kept",
        "alerter/worker/call.py",
        "        labels,\n        lines,\n        clear_failure",
        "        labels,\n        (),\n        clear_failure",
        ("tests/http/test_console_oncall.py",),
    ),
    Mutant(
        "outbox: an accepted send marked from the event loop only",
        "alerter/worker/app.py",
        "mark_now=MarkerWriter(redis_url) if parse_sentinel(redis_url) is None else None,",
        "mark_now=None,",
        ("tests/worker/test_stress.py",),
    ),
    Mutant(
        "outbox claimed: a send queued unclaimed run at once as well (two workers run it)",
        "alerter/worker/app.py",
        "            if answer > 0:  # queued and claimed: its try\n",
        "            if answer != 0:  # queued and claimed: its try\n",
        ("tests/worker/test_outbox.py",),
    ),
    Mutant(
        "outbox claimed: a send claimed without its in-progress lock",
        "alerter/store/outbox_put.lua",
        "if i <= claims and redis.call('SET', in_progress, '1', 'PX', ARGV[3], 'NX') then",
        "if i <= claims then",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "outbox claimed: every send claimed, room or not",
        "alerter/store/outbox_put.lua",
        "local claims = tonumber(ARGV[4])",
        "local claims = #KEYS",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "outbox marked: the thread's mark counted before it was written (a failed one lost)",
        SEND,
        "            self._deps.mark_now(self._marker)\n            self.done = True",
        "            self.done = True\n            self._deps.mark_now(self._marker)",
        ("tests/worker/test_outbox.py",),
    ),
    Mutant(
        "outbox marked: the sending thread's mark kept one second",
        "alerter/store/markers.py",
        "self._redis.set(key, SENT, ex=SENT_TTL_SECONDS)",
        "self._redis.set(key, SENT, ex=1)",
        ("tests/worker/test_outbox.py",),
    ),
    Mutant(
        "outbox marked: the event loop never writes the marker",
        "alerter/store/state.py",
        "            if not marked:\n",
        "            if False:\n",
        ("tests/worker/test_outbox.py",),
    ),
    Mutant(
        "outbox: a send's retry cap raised tenfold",
        SEND,
        "DELIVERY_TRIES = 8  #",
        "DELIVERY_TRIES = 80  #",
        ("tests/worker/test_call.py",),
    ),
    Mutant(
        "outbox: a resolved message for a firing that was never sent",
        "alerter/worker/episodes.py",
        "if not await episodes.notified(rule.name, note.digest, note.id):",
        "if False:",
        ("tests/worker/test_episodes.py",),
    ),
    Mutant(
        "decide: inhibition after the windows (inhibited calls counted in them)",
        DECIDE,
        steps("inhibit", "mute", "silence", "signature", "group", "threshold"),
        steps("mute", "silence", "signature", "group", "threshold", "inhibit"),
        ("tests/worker/test_call.py", *DECIDE_TESTS),
    ),
    Mutant(
        "decide: inhibition after the signature (inhibited calls count their signature)",
        DECIDE,
        steps("inhibit", "mute", "silence", "signature"),
        steps("mute", "silence", "signature", "inhibit"),
        DECIDE_TESTS,
    ),
    Mutant(
        "decide: silences before mute windows (a muted call counted by a silence)",
        DECIDE,
        steps("mute", "silence"),
        steps("silence", "mute"),
        DECIDE_TESTS,
    ),
    Mutant(
        "decide: windows before the signature (known signatures counted in windows)",
        DECIDE,
        steps("signature", "group", "threshold"),
        steps("group", "threshold", "signature"),
        DECIDE_TESTS,
    ),
    Mutant(
        "decide: throttle before the windows",
        DECIDE,
        steps("threshold", "digest", "throttle"),
        steps("throttle", "threshold", "digest"),
        DECIDE_TESTS,
    ),
    Mutant(
        "replay: inhibition after the windows (inhibited calls counted in them)",
        REPLAY_DECIDE,
        steps("inhibit", "mute", "silence", "signature", "group", "threshold"),
        steps("mute", "silence", "signature", "group", "threshold", "inhibit"),
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: silences before mute windows",
        REPLAY_DECIDE,
        steps("mute", "silence"),
        steps("silence", "mute"),
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: windows before the signature (known signatures counted in windows)",
        REPLAY_DECIDE,
        steps("signature", "group", "threshold"),
        steps("group", "threshold", "signature"),
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: windows before the group (every group counted in one window)",
        REPLAY_DECIDE,
        steps("group", "threshold"),
        steps("threshold", "group"),
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: throttle before the windows",
        REPLAY_DECIDE,
        steps("threshold", "digest", "throttle"),
        steps("throttle", "threshold", "digest"),
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: a step dropped from the replay",
        REPLAY_DECIDE,
        steps("throttle"),
        "",
        ("tests/test_structure.py",),
    ),
    Mutant(
        "replay: the shared order changed under both step tables",
        "alerter/pipeline/steps.py",
        "    Step.MUTE,\n    Step.SILENCE,\n",
        "    Step.SILENCE,\n    Step.MUTE,\n",
        ("tests/test_structure.py",),
    ),
    Mutant(
        "replay: a call's later rules judge its signature again (known turns new)",
        REPLAY_DECIDE,
        "        new = seen[2]\n",
        "        new = True\n",
        REPLAY_TESTS,
    ),
    Mutant(
        "replay: a rate window judged with a float product, not the script's integers",
        "alerter/rules/noise.py",
        "matched * RATE_SCALE >= round(rate * RATE_SCALE) * ended",
        "matched >= rate * ended",
        REPLAY_TESTS,
    ),
    Mutant(
        "record: a call's decisions recorded out of rule order",
        STATE,
        "            for fields in entries:\n",
        "            for fields in reversed(entries):\n",
        ("tests/worker/test_call.py",),
    ),
    Mutant(
        "record: a shadow rule's would-have-sent not recorded",
        JOB,
        "        elif rule.shadow:\n",
        "        elif False:\n",
        ("tests/worker/test_call.py",),
    ),
    Mutant(
        "marker: the release deletes another sender's claim",
        "alerter/store/release.lua",
        "if redis.call('GET', KEYS[1]) == ARGV[1] then",
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then",
        MARKER_TESTS,
    ),
    Mutant(
        "baseline: the live script fires only above factor times the usual share",
        BASELINE_LUA,
        "m * be * 1000 >= tonumber(ARGV[5]) * bm * e",
        "m * be * 1000 > tonumber(ARGV[5]) * bm * e",
        BASELINE_TESTS,
    ),
    Mutant(
        "baseline: the live script never falls back to the fleet's share",
        BASELINE_LUA,
        "if be < min then",
        "if false then",
        BASELINE_TESTS,
    ),
    Mutant(
        "baseline: the live script falls back to the fleet whenever the group has any history",
        BASELINE_LUA,
        "if be < min then",
        "if be > 0 then",
        BASELINE_TESTS,
    ),
    Mutant(
        "baseline: the replay fires only above factor times the usual share",
        BASELINE,
        "matched * base_e * FACTOR_SCALE >= baseline.factor_milli * base_m * ended",
        "matched * base_e * FACTOR_SCALE > baseline.factor_milli * base_m * ended",
        BASELINE_TESTS,
    ),
    Mutant(
        "baseline: the replay never falls back to the fleet's share",
        BASELINE,
        "use_fleet = base_e < baseline.min_calls",
        "use_fleet = False",
        BASELINE_TESTS,
    ),
    Mutant(
        "correlate: an incident opens one group after min_groups",
        "alerter/store/correlate.lua",
        "if n >= tonumber(ARGV[4]) then",
        "if n > tonumber(ARGV[4]) then",
        CORRELATE_TESTS,
    ),
    Mutant(
        "correlate: later alerts of an open incident go out on their own",
        "alerter/pipeline/correlate.py",
        'if joined.kind == "single":',
        'if joined.kind in ("single", "fold"):',
        CORRELATE_TESTS,
    ),
    Mutant(
        "correlate: an open incident inhibits nothing",
        "alerter/pipeline/correlate.py",
        "if correlating and await incidents.open(name, key.digest):",
        "if correlating and not await incidents.open(name, key.digest):",
        CORRELATE_TESTS,
    ),
    Mutant(
        "e-mail: autoescape off",
        EMAIL,
        "autoescape=True,",
        "autoescape=False,",
        EMAIL_TESTS,
    ),
    Mutant(
        "e-mail: an excerpt's text marked safe in the template",
        "alerter/render/templates/alert_email.html",
        '<pre style="white-space:pre-wrap">{{ x.text }}</pre>',
        '<pre style="white-space:pre-wrap">{{ x.text | safe }}</pre>',
        EMAIL_TESTS,
    ),
    Mutant(
        "e-mail: a link's url marked safe in the template",
        "alerter/render/templates/alert_email.html",
        '<a href="{{ link.url }}">',
        '<a href="{{ link.url | safe }}">',
        EMAIL_TESTS,
    ),
    Mutant(
        "console urls: a call id put into its page's address unescaped",
        CONSOLE_URLS,
        "return f\"/ui/calls/{quote(call_id, safe='')}\"",
        'return f"/ui/calls/{call_id}"',
        ("tests/http/test_console.py",),
    ),
    Mutant(
        "e-mail: a digest's call id marked safe in the template",
        "alerter/render/templates/digest_email.html",
        "<li><code>{{ call.call_id }}</code>",
        "<li><code>{{ call.call_id | safe }}</code>",
        EMAIL_TESTS,
    ),
    Mutant(
        "e-mail: an episode's description marked safe in the template",
        "alerter/render/templates/episode_email.html",
        "<p>{{ episode.description }}</p>",
        "<p>{{ episode.description | safe }}</p>",
        EMAIL_TESTS,
    ),
    Mutant(
        "packaging: the e-mail template left out of the wheel",
        "pyproject.toml",
        '"alerter.render" = ["templates/*.html"]\n',
        "",
        ("tests/test_packaging.py",),
    ),
)

CONSOLE_MUTANTS = (
    Mutant(
        "console csrf: any Authorization header exempts (the bug of issue 23)",
        GATE,
        'identity is not None and identity.via in ("token", "none") and script_request(connection)',
        '("authorization" in connection.headers or identity is not None'
        ' and identity.via in ("token", "none")) and script_request(connection)',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console csrf: a session's JSON exempt",
        GATE,
        'identity.via in ("token", "none")',
        'identity.via in ("token", "none", "session")',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console csrf: the proxy's user exempt",
        GATE,
        'identity.via in ("token", "none")',
        'identity.via in ("token", "none", "proxy")',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console csrf: any content type exempt",
        GATE,
        'return content_type.split(";", 1)[0].strip().lower() == "application/json"',
        "return True",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console csrf: a request with Origin exempt",
        GATE,
        'if "origin" in headers or "sec-fetch-site" in headers:',
        'if "sec-fetch-site" in headers:',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console csrf: the gate's finding ignored (every write exempt)",
        "alerter/http/console/setup.py",
        'scope.get("state", {}).get(CSRF_EXEMPT_KEY)',
        "True",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console origin: same-site writes allowed",
        GATE,
        'if site in ("cross-site", "same-site"):',
        'if site == "cross-site":',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console origin: Origin never compared",
        GATE,
        "    if origin is None:\n        return\n",
        "    if True:\n        return\n",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console host: any Host accepted",
        GATE,
        'if host_name(connection.headers.get("host", "")) not in config.hosts:',
        'if not host_name(connection.headers.get("host", "")):',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console host: ALERTER_ALLOWED_HOSTS ignored",
        CONSOLE_AUTH,
        "hosts = LOOPBACK_NAMES | set(settings.allowed_hosts)",
        "hosts = set(LOOPBACK_NAMES)",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console host: ALERTER_PUBLIC_URL's host not allowed",
        CONSOLE_AUTH,
        "hosts=frozenset(hosts | {public[1]} if public else hosts),",
        "hosts=frozenset(hosts),",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console none: any peer counts as local",
        CONSOLE_AUTH,
        "if peer is None or not is_loopback(peer):",
        "if peer is None:",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console none: any Host counts as local",
        CONSOLE_AUTH,
        'if host_name(connection.headers.get("host", "")) not in LOOPBACK_NAMES:\n        return False',
        'if host_name(connection.headers.get("host", "")) is None:\n        return False',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console none: only X-Forwarded-For marks a proxied request",
        CONSOLE_AUTH,
        'name == b"forwarded" or name.startswith(b"x-forwarded-")',
        'name == b"x-forwarded-for"',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console none: static files served to anyone",
        GATE,
        'if config.mode == "none" and bearer_of(connection) is None and not is_local(connection):',
        "if False:",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console none: a bearer is recorded as local",
        CONSOLE_AUTH,
        "    token = bearer_of(connection)\n",
        '    token = bearer_of(connection) if config.mode != "none" else None\n',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console sign-in: any session cookie opens the pages",
        CONSOLE_AUTH,
        "return await auth.by_session(session)",
        'return await auth.by_session(session) or Identity("?", "viewer", "session")',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console sign-in: a revoked token's session still signed in",
        SIGN_INS,
        "        if raw is None:  # the token was revoked\n            return None\n",
        '        if raw is None:  # the token was revoked\n            return Identity("?", "viewer", "session")\n',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console sign-in: pages answer 401 instead of sending to the login",
        CONSOLE_AUTH,
        '    if mode == "proxy":\n        raise NotAuthorizedException("sign in through',
        '    if mode in ("proxy", "token"):\n        raise NotAuthorizedException("sign in through',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console sign-in: the page's query left out of next",
        CONSOLE_AUTH,
        'raise SignInRequired(connection.url.path + (f"?{query}" if query else ""))',
        "raise SignInRequired(connection.url.path)",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console sign-in: next may lead out of the console",
        "alerter/http/console/pages.py",
        'if value and value.startswith("/ui/") and not value.startswith("//"):',
        'if value and value.startswith("/"):',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console proxies: uvicorn's forwarding headers on (it trusts 127.0.0.1)",
        "alerter/cli/serve.py",
        "proxy_headers=False,",
        "proxy_headers=True,",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console proxies: proxy mode judges the forwarded client, not the peer",
        CONSOLE_AUTH,
        "not config.trusts(peer_of(connection.scope))",
        "not config.trusts(client_address(connection))",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console limit: counted against the proxy, not the client",
        CONSOLE_AUTH,
        'return connection.client.host if connection.client else "unknown"',
        'return peer_of(connection.scope) or "unknown"',
        CONSOLE_TESTS,
    ),
    Mutant(
        "console limit: 200 a minute",
        SIGN_INS,
        "FAILURE_LIMIT = 20",
        "FAILURE_LIMIT = 200",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console limit: checked only after the token",
        CONSOLE_AUTH,
        "    await refuse_if_limited(auth, address)\n    identity = await auth.by_token(token)\n",
        "    identity = await auth.by_token(token)\n    if identity is None:\n"
        "        await refuse_if_limited(auth, address)\n",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console limit: a failed sign-in at the form not counted",
        GATE,
        "if signing_in and statuses == [401]:",
        "if signing_in and statuses == [403]:",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console cookies: the CSRF cookie never Secure",
        "alerter/http/console/setup.py",
        "cookie_secure=secure_cookies,",
        "cookie_secure=False,",
        CONSOLE_TESTS,
    ),
    Mutant(
        "console headers: static files without the security headers",
        "alerter/http/console/setup.py",
        "middleware=[DefineMiddleware(ConsoleGate, static=True)],",
        "middleware=[],",
        CONSOLE_TESTS,
    ),
    Mutant(
        "keys: a Redis key renamed (a running deployment's state read as empty)",
        "alerter/store/keys.py",
        'return f"{ROOT}rate:{rule}:{digest}"',
        'return f"{ROOT}rates:{rule}:{digest}"',
        ("tests/store/test_keys.py",),
    ),
    Mutant(
        "history: an episode's entry read as a call's",
        "alerter/store/history.py",
        "        return Subject.EPISODE\n",
        "        return Subject.CALL\n",
        ("tests/http/test_console_preview.py",),
    ),
    Mutant(
        "history: the silence preview counts episodes and digests as calls looked at",
        "alerter/http/console/views.py",
        "row.rule and row.subject and row.is_call and",
        "row.rule and row.subject and",
        ("tests/http/test_console_preview.py",),
    ),
    Mutant(
        "scripts: a script's named keys declared out of the order it reads them",
        "alerter/store/scripts.py",
        "class RateKeys:\n    matched: str\n    ended: str\n",
        "class RateKeys:\n    ended: str\n    matched: str\n",
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "scripts: an enqueued call's baseline keys before its flatline groups",
        "alerter/store/scripts.py",
        "    flatline: tuple[str, ...]  # flatline rules' group hashes\n"
        "    baseline: tuple[BaselineCounterKeys, ...]\n",
        "    baseline: tuple[BaselineCounterKeys, ...]\n"
        "    flatline: tuple[str, ...]  # flatline rules' group hashes\n",
        ("tests/store/test_lua.py", "tests/store/test_scripts.py"),
    ),
    Mutant(
        "scripts: a batch's repeated parts passed whole, not spread",
        "alerter/store/lua.py",
        '            if hasattr(type(one), "__dataclass_fields__"):',
        '            if hasattr(type(one), "__dataclass_fields__") and one is item:',
        ("tests/store/test_lua.py", "tests/store/test_scripts.py"),
    ),
    Mutant(
        "scripts: a claimed job's lock and job keys declared out of the order claim.lua reads",
        "alerter/store/job_scripts.py",
        "class ClaimJobKeys:\n    in_progress: str  # arq's in-progress (lock) key\n    job: str\n",
        "class ClaimJobKeys:\n    job: str\n    in_progress: str  # arq's in-progress (lock) key\n",
        ("tests/store/test_scripts.py", "tests/store/test_lua.py"),
    ),
    Mutant(
        "scripts: an enqueue batch's count not the number of its calls",
        "alerter/store/scripts.py",
        'object.__setattr__(self, "count", len(self.calls))',
        'object.__setattr__(self, "count", len(self.calls) + 1)',
        ("tests/store/test_lua.py",),
    ),
    Mutant(
        "clock: a webhook's signature age measured on the system clock, not the api's",
        "alerter/http/webhook.py",
        "secret.get_secret_value(), intake.clock())",
        'secret.get_secret_value(), __import__("time").time())',
        ("tests/http/test_webhook_auth.py",),
    ),
    Mutant(
        "clock: a Slack click's age measured on the system clock, not the api's",
        SLACK_HTTP,
        "            interactions.clock(),",
        '            __import__("time").time(),',
        SLACK_TESTS,
    ),
    Mutant(
        "clock: an acknowledgement audited on the system clock",
        "alerter/acks.py",
        "audit = Audit(redis, clock=clock)",
        "audit = Audit(redis)",
        SLACK_TESTS,
    ),
    Mutant(
        "clock: the console's pages say how long ago on the system clock",
        "alerter/http/console/templating.py",
        "now = console_of(request).clock()",
        'now = __import__("time").time()',
        ("tests/http/test_console.py",),
    ),
    Mutant(
        "clock: a silence's 90-day bound counted from the system clock",
        "alerter/operations.py",
        "end_problem(ends, now)",
        'end_problem(ends, __import__("time").time())',
        LIMITS_API_TESTS,
    ),
    Mutant(
        "clock: the CLI's commands on the system clock, not the one main was given",
        "alerter/cli/main.py",
        "result: int = handler(settings, args, clock)",
        'result: int = handler(settings, args, __import__("time").time)',
        ("tests/cli/test_cli.py",),
    ),
)

COMPAT_ARQ = "alerter/compat/arq.py"
COMPAT_TESTS = ("tests/compat/test_arq.py", "tests/compat/test_redis.py")
COMPAT_MUTANTS = (
    Mutant(
        "compat: arq's first read of a claimed job not answered by the claim (tries counted twice)",
        COMPAT_ARQ,
        "return self._claimed.pop(job_id, None)",
        "return None",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a transaction on the worker's pool sent as a plain batch",
        COMPAT_ARQ,
        "            True,\n            shard_hint,\n            claimed=self.claimed,",
        "            False,\n            shard_hint,\n            claimed=self.claimed,",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a finished job's place in arq's counters not given back",
        COMPAT_ARQ,
        "            del self._claimed[job_id]\n        self._release_sem_dec_counter_on_complete()",
        "            del self._claimed[job_id]",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a job arq found expired recorded as an error",
        COMPAT_ARQ,
        'if "expired" in text:',
        'if "expire!" in text:',
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: a retried job's lock kept (it runs again only when the lock expires)",
        "alerter/store/jobs.py",
        "pipe.delete(in_progress_key_prefix + job_id)",
        "pipe.exists(in_progress_key_prefix + job_id)",
        COMPAT_TESTS,
    ),
    Mutant(
        "compat: redis-py's connections not packed by hiredis",
        "alerter/compat/redis.py",
        "pool.connection_class = _PACKING[base]",
        "_PACKING[base] = base",
        COMPAT_TESTS,
    ),
)


API_PROCESSES_TESTS = ("tests/cli/test_serve.py",)
API_PROCESSES_MUTANTS = (
    Mutant(
        "api processes: a scrape counts only the process that answers it",
        "alerter/metrics.py",
        'folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")',
        "folder = None",
        API_PROCESSES_TESTS,
    ),
    Mutant(
        "api processes: one ending leaves the others running",
        "alerter/cli/serve.py",
        "            pass_on(signal.SIGTERM, None)\n",
        "            pass\n",
        API_PROCESSES_TESTS,
    ),
    Mutant(
        "api processes: one outlives the process that started it",
        "alerter/cli/serve.py",
        "if os.getppid() != parent:",
        "if False:",
        API_PROCESSES_TESTS,
    ),
)

COALESCE_MUTANTS = (
    Mutant(
        "coalesce: a batch answered short leaves its callers waiting for ever",
        "alerter/store/coalesce.py",
        "                if len(answers) != len(batch):  # else some callers would wait for ever",
        "                if False:",
        ("tests/store/test_coalesce.py",),
    ),
)

SIGNATURE_LUA = "alerter/store/signature.lua"
SIGNATURE_TESTS = ("tests/store/test_signature.py", "tests/store/test_lua.py")
LOG_LUA = "alerter/store/log.lua"
SENT_TESTS = ("tests/store/test_sent.py", "tests/store/test_state.py")
REDIS_TRIM_MUTANTS = (
    Mutant(
        "redis trim: a signature's hour counted from its whole set, calls past the hour too",
        SIGNATURE_LUA,
        "redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf')",
        "redis.call('ZCARD', KEYS[2])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a signature's calls never trimmed",
        SIGNATURE_LUA,
        "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])\n",
        "",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a signature's calls kept without an expiry",
        SIGNATURE_LUA,
        "redis.call('EXPIRE', KEYS[2], 7200)",
        "redis.call('TTL', KEYS[2])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a signature's example expires while the kind is still seen",
        SIGNATURE_LUA,
        "    redis.call('EXPIRE', KEYS[4], 8 * 86400)",
        "    redis.call('TTL', KEYS[4])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: every call trims a signature's hour and renews its expiries",
        SIGNATURE_LUA,
        "if not last or math.floor(tonumber(last) / 60000) ~= math.floor(tonumber(ARGV[1]) / 60000) then",
        "if true then",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: the day's set expires with its first signature's write",
        SIGNATURE_LUA,
        "  redis.call('EXPIRE', KEYS[3], 8 * 86400)",
        "  redis.call('TTL', KEYS[3])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: the day's signatures not capped",
        SIGNATURE_LUA,
        "  if kinds > tonumber(ARGV[6]) then",
        "  if false then",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call counted in the hour counted again when retried",
        SIGNATURE_LUA,
        "local d = redis.call('GET', KEYS[5]); if d then return d end",
        "local d = false",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call retried after its hour answers anew",
        SIGNATURE_LUA,
        "if not first then return result end",
        "if true then return result end",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call retried after its hour put back in the hour",
        SIGNATURE_LUA,
        "redis.call('ZREM', KEYS[2], ARGV[3])",
        "redis.call('ZSCORE', KEYS[2], ARGV[3])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call retried after its hour counted in the day again",
        SIGNATURE_LUA,
        "redis.call('ZINCRBY', KEYS[3], -1, ARGV[5])",
        "redis.call('ZINCRBY', KEYS[3], 0, ARGV[5])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call retried after its hour leaves its time as the last seen",
        SIGNATURE_LUA,
        "  redis.call('SET', KEYS[1], last, 'PX', left)",
        "  redis.call('PTTL', KEYS[1])",
        SIGNATURE_TESTS,
    ),
    Mutant(
        "redis trim: a call's first event leaves its events list without an expiry",
        LOG_LUA,
        "  redis.call('EXPIRE', KEYS[2], ARGV[3])",
        "  redis.call('TTL', KEYS[2])",
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: a call's events kept past their cap",
        LOG_LUA,
        "  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)",
        "  redis.call('LLEN', KEYS[2])",
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: a bucket's first count leaves it without an expiry",
        LOG_LUA,
        "  redis.call('EXPIRE', KEYS[3], ARGV[4])",
        "  redis.call('TTL', KEYS[3])",
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: every record renews its call's events' expiry",
        LOG_LUA,
        "if events == 1 then",
        "if true then",
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: a retry to come counted as a decision",
        "alerter/store/sent.py",
        'if outcome != Outcome.RETRYING.value else ""',
        'if outcome != "-" else ""',
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: a server that forgot the records' script loses them",
        "alerter/store/sent.py",
        "        except NoScriptError:\n            await self._script.load()\n",
        "        except NoScriptError:\n            return\n",
        SENT_TESTS,
    ),
    Mutant(
        "redis trim: the signature report lists calls from before the newest's hour",
        "alerter/store/signature_counts.py",
        "for call, at in newest if at > since)",
        "for call, at in newest)",
        SIGNATURE_TESTS,
    ),
)

DOOR = "alerter/compat/uvicorn.py"
DOOR_TESTS = ("tests/compat/test_uvicorn.py", "tests/http/test_webhook_door.py")
WEBHOOK_DOOR_MUTANTS = (
    Mutant(
        "door: a body at the limit refused with 413",
        DOOR,
        "if int(value) > self.door.limit:",
        "if int(value) >= self.door.limit:",
        DOOR_TESTS,
    ),
    Mutant(
        "door: a chunked body over the limit buffered and answered",
        DOOR,
        "if webhook.size > self.door.limit:",
        "if False:",
        DOOR_TESTS,
    ),
    Mutant(
        "door: 413 answered with another status",
        "alerter/http/webhook.py",
        'return IntakeError(413, "PAYLOAD_TOO_LARGE"',
        'return IntakeError(400, "PAYLOAD_TOO_LARGE"',
        DOOR_TESTS,
    ),
    Mutant(
        "door: keep-alive ignored (HTTP/1.0, Connection: close kept open)",
        DOOR,
        'keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()',
        "keep_alive = True",
        DOOR_TESTS,
    ),
    Mutant(
        "door: 202 sent before the Redis write",
        DOOR,
        "            got.add_done_callback(partial(self._settled, webhook))\n",
        "            self._reply(webhook, (202, b'{}'))\n"
        "            got.add_done_callback(partial(self._settled, webhook))\n",
        DOOR_TESTS,
    ),
    Mutant(
        "door: a webhook pipelined behind another request answered before it",
        DOOR,
        "and (cycle is None or cycle.response_complete)",
        "and True",
        DOOR_TESTS,
    ),
    Mutant(
        "door: a webhook in flight not waited for at shutdown",
        DOOR,
        "        self.tasks.add(task)\n",
        "",
        DOOR_TESTS,
    ),
    Mutant(
        "door: other paths under the route answered as the webhook",
        DOOR,
        "(url == self.door.route or url.startswith(self.with_query))",
        "url.startswith(self.door.route)",
        DOOR_TESTS,
    ),
    Mutant(
        "door: 100-continue never sent",
        DOOR,
        "            self.transport.write(CONTINUE)\n",
        "            pass\n",
        DOOR_TESTS,
    ),
    Mutant(
        "door: a body cut by the client not counted",
        DOOR,
        "                self.door.ended_early()\n",
        "                pass\n",
        DOOR_TESTS,
    ),
    Mutant(
        "door: the first of repeated headers not the one verified",
        "alerter/http/webhook.py",
        'found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))',
        'found[name.decode("latin-1").lower()] = value.decode("latin-1")',
        DOOR_TESTS,
    ),
)

FIRST_TRY_TESTS = ("tests/worker/test_first_try.py",)
FIRST_TRY_MUTANTS = (
    Mutant(
        "first try: a retried call job fetches and decides again instead of sending what it held",
        "alerter/worker/call.py",
        "if job_try > 1 and await resume(deps, call.call_id):",
        "if False:",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: a refused first try's send job counts from try 1 (nine tries)",
        "alerter/worker/first_try.py",
        "defer_ms=defer_ms, tries=1)",
        "defer_ms=defer_ms, tries=0)",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: a refused first try is never handed to the outbox",
        "alerter/worker/first_try.py",
        "        await put_tried(deps.state.redis, send.job_id, payload, defer_ms=defer_ms, tries=1)",
        "        del payload",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: the send's arq try counter not set by the hand-off",
        "alerter/store/outbox.py",
        "            pipe.set(keys.ARQ_RETRY + job_id, tries, nx=True, ex=RETRY_KEEP_SECONDS)",
        "            pass",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: the claim taken with the hold overwrites a marker that says sent",
        "alerter/store/outbox.py",
        "pipe.set(marker, token, nx=True, ex=lease_seconds)",
        "pipe.set(marker, token, ex=lease_seconds)",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: a retry of the call resumes nothing (the held sends never written)",
        "alerter/store/outbox.py",
        "        pipe.set(keys.held_sends(call_id), raw, ex=HELD_KEEP_SECONDS)",
        "        pass",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: a finished call job leaves its held sends behind",
        "alerter/store/jobs.py",
        "gone.append(keys.held_sends(job_id.removeprefix(keys.CALL_JOB_PREFIX)))",
        "pass",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: one send's failed hand-off swallowed (the call's retry never comes)",
        "alerter/worker/first_try.py",
        "            raise one",
        "            log.warning(one)",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "first try: the hold's claim ignored, the send claimed again and found busy",
        "alerter/worker/send.py",
        "        claim, token = Claim.MINE, claimed",
        "        claim, token = await deps.state.claim(send.marker)",
        FIRST_TRY_TESTS,
    ),
    Mutant(
        "render media: an e-mail destination's alert rendered without its HTML",
        "alerter/pipeline/deliver.py",
        "        if hook is None:\n            return True, True",
        "        if hook is None:\n            return False, True",
        ("tests/worker/test_call.py",),
    ),
    Mutant(
        "render media: a Slack webhook's alert rendered without its blocks",
        "alerter/pipeline/deliver.py",
        'return False, hook.kind == "slack"',
        "return False, False",
        ("tests/worker/test_call.py",),
    ),
    Mutant(
        "render media: a Slack app's alert rendered without its blocks",
        "alerter/worker/call.py",
        "        if destination.slack_app is not None:\n            return True, True",
        "        if destination.slack_app is not None:\n            return False, False",
        ("tests/pipeline/test_slack_app.py", "tests/worker/test_call.py"),
    ),
    Mutant(
        "webhooks: a post keeps the bodiless request's Content-Length",
        "alerter/pipeline/webhooks.py",
        '_AIOHTTP_OWN = frozenset({b"host", b"content-length", b"accept-encoding"})',
        '_AIOHTTP_OWN = frozenset({b"host", b"accept-encoding"})',
        ("tests/pipeline/test_webhooks.py",),
    ),
    Mutant(
        "webhooks: a post without the hook's query parameters",
        "alerter/pipeline/webhooks.py",
        "hook.method, hook.url, params=hook.params or None, headers=hook.headers",
        "hook.method, hook.url, headers=hook.headers",
        ("tests/pipeline/test_webhooks.py",),
    ),
    Mutant(
        "webhooks: a post without the hook's credentials",
        "alerter/pipeline/webhooks.py",
        "            if hook.auth is not None:  # as httpx's `BasicAuth` writes it",
        "            if False:",
        ("tests/pipeline/test_webhooks.py",),
    ),
    Mutant(
        "bidi: a Slack payload answered as it is without looking for controls",
        "alerter/render/text.py",
        "if BIDI_CONTROLS.search(_ENCODER.encode(value).decode()) is None:",
        "if True:",
        TEXT_TESTS,
    ),
)

REPORT_MUTANTS = (
    Mutant(
        "report: a page that lost its marks overwritten instead of refused",
        "bench/report.py",
        "    if start < 0 or end < start:",
        "    if False:",
        ("tests/bench/test_report.py",),
    ),
    Mutant(
        "report: the written notes after the measured part dropped",
        "bench/report.py",
        '+ "\\n\\n" + page[end:]',
        '+ "\\n\\n" + END + "\\n"',
        ("tests/bench/test_report.py",),
    ),
)

QUEUE = "alerter/store/queue.py"
ENQUEUE_TESTS = (
    "tests/store/test_scripts.py",
    "tests/store/test_queue.py",
    "tests/store/test_lua.py",
)
INTAKE_REDIS_MUTANTS = (
    Mutant(
        "intake redis: a quiet call's result key taken for its job key",
        QUEUE,
        "keys_ = [keys.ARQ_JOB + job_id, keys.ARQ_RESULT + job_id]",
        "keys_ = [keys.ARQ_JOB + job_id, keys.ARQ_JOB + job_id]",
        ENQUEUE_TESTS,
    ),
    Mutant(
        "intake redis: a quiet call's job id and call id swapped",
        QUEUE,
        "[0, 0, expires_ms, payload, score, job_id, now_ms, call_id, 0]",
        "[0, 0, expires_ms, payload, score, call_id, now_ms, job_id, 0]",
        ENQUEUE_TESTS,
    ),
    Mutant(
        "intake redis: a call with baseline counters only taken for a quiet one",
        QUEUE,
        "if not (ended_counters or flatline_marks or baseline_counters):",
        "if not (ended_counters or flatline_marks):",
        ENQUEUE_TESTS,
    ),
    Mutant(
        "intake redis: a batch announces one call whatever it carries",
        QUEUE,
        "args: list[Any] = [len(entries)]",
        "args: list[Any] = [1]",
        ENQUEUE_TESTS,
    ),
)

STORM_POST_MUTANTS = (
    Mutant(
        "storm post: an accepted post on the loop marked only by the sending threads",
        "alerter/worker/send.py",
        "            on_accept_here=marked.here,",
        "            on_accept_here=None,",
        ("tests/worker/test_first_try.py",),
    ),
    Mutant(
        "storm post: the loop's marker write skipped after an accepted post",
        "alerter/pipeline/deliver.py",
        "        if accepted and on_accept_here is not None:",
        "        if False:",
        ("tests/worker/test_first_try.py",),
    ),
    Mutant(
        "storm post: the loop's marker write writes nothing",
        "alerter/store/state.py",
        "await self._writes(lambda pipe: pipe.set(key, _SENT, ex=SENT_TTL_SECONDS, nx=False))",
        "await self._writes(lambda pipe: pipe.get(key))",
        ("tests/worker/test_first_try.py",),
    ),
    Mutant(
        "storm post: a proxy named in the environment ignored",
        "alerter/pipeline/webhooks.py",
        "                proxy=made.proxy,\n",
        "",
        ("tests/pipeline/test_webhooks.py",),
    ),
    Mutant(
        "storm post: the loop's marker kept one second",
        "alerter/store/state.py",
        "pipe.set(key, _SENT, ex=SENT_TTL_SECONDS, nx=False)",
        "pipe.set(key, _SENT, ex=1, nx=False)",
        ("tests/worker/test_outbox.py",),
    ),
    Mutant(
        "storm post: the hold's round trip not shared, taken alone",
        "alerter/store/outbox.py",
        "    if coalescer is not None:\n        answers = await coalescer.execute(fill)",
        "    if False:\n        answers = []",
        ("tests/store/test_outbox.py",),
    ),
)

REDIS_30_MUTANTS = (
    Mutant(
        "redis30: a later try's decision leaves an earlier try's recorded failure",
        "alerter/worker/call.py",
        "clear_failure=job_try > 1,",
        "clear_failure=False,",
        ("tests/worker/test_stress.py",),
    ),
    Mutant(
        "redis30: the evaluation ignores the failure it is asked to end",
        "alerter/store/state.py",
        "            if clear_failure:  # decided: a failure an earlier try recorded ends",
        "            if False:  # decided: a failure an earlier try recorded ends",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "redis30: a matched count's key given no expiry",
        "alerter/store/calls.py",
        "                pipe.expire(key, COUNTS_TTL_SECONDS)\n                expiring.append(key)",
        "                expiring.append(key)",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "redis30: every matched call renews its count's expiry again",
        "alerter/store/calls.py",
        "            if key not in self._expiring:",
        "            if True:",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "redis30: a matched count's expiry taken as set before Redis answered",
        "alerter/store/calls.py",
        "                expiring.append(key)",
        "                expiring.append(key)\n                self._expiring.add(key)",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "redis30: a matched count's expiry never taken as set",
        "alerter/store/state.py",
        "        self.calls.expiry_set(expiring)",
        "        self.calls.expiry_set([])",
        ("tests/store/test_calls.py",),
    ),
    Mutant(
        "redis30: a destination's result written without the rule's firing",
        "alerter/store/log.lua",
        "if ARGV[8] ~= '' then\n  last[#last + 1] = ARGV[8]",
        "if ARGV[8] ~= '' then\n  last = {}\n  last[#last + 1] = ARGV[8]",
        ("tests/store/test_sent.py",),
    ),
    Mutant(
        "redis30: the values kept before the shared hash no longer shown",
        "alerter/store/calls.py",
        "    out = {name.decode(): value for name, value in old.items()}",
        "    out: dict[str, bytes] = {}",
        ("tests/store/test_sent.py",),
    ),
    Mutant(
        "redis30: the old hash's value shown over the one written since",
        "alerter/store/calls.py",
        '        if f"{kind}:" == prefix:\n            out[name] = value',
        '        if f"{kind}:" == prefix:\n            out.setdefault(name, value)',
        ("tests/store/test_sent.py",),
    ),
)

STORM_30_MUTANTS = (
    Mutant(
        "storm30: a worker's signature count its own round trip",
        "alerter/store/signature_counts.py",
        "return _seen(await self._signature.shared(self._coalescer, *counted))",
        "return _seen(await self._signature(*counted))",
        ("tests/store/test_signature.py",),
    ),
    Mutant(
        "storm30: a shared script never loaded again after NOSCRIPT",
        "alerter/store/lua.py",
        "            await self.load()\n            (answer,) = await coalescer.execute(fill)\n",
        "            pass\n            (answer,) = await coalescer.execute(fill)\n",
        ("tests/store/test_signature.py",),
    ),
    Mutant(
        "storm30: a worker's silence ids read in a round trip of their own",
        "alerter/store/silences.py",
        "        if self._coalescer is None:\n            return await cast(",
        "        if True:\n            return await cast(",
        ("tests/store/test_silences.py",),
    ),
    Mutant(
        "storm30: a worker's silence values read in two round trips of their own",
        "alerter/store/silences.py",
        "        if self._coalescer is None:\n            return await self._redis.mget(",
        "        if True:\n            return await self._redis.mget(",
        ("tests/store/test_silences.py",),
    ),
    Mutant(
        "storm30: the worker's signature counts without its coalescer",
        "alerter/worker/app.py",
        "signatures=SignatureCounts(redis, coalescer),",
        "signatures=SignatureCounts(redis),",
        ("tests/worker/test_app.py",),
    ),
    Mutant(
        "storm30: the worker's silences without its coalescer",
        "alerter/worker/app.py",
        "silences=Silences(redis, clock=clock, coalescer=coalescer),",
        "silences=Silences(redis, clock=clock),",
        ("tests/worker/test_app.py",),
    ),
    Mutant(
        "storm30: the worker's young generation at CPython's threshold",
        "alerter/cli/serve.py",
        "        settle_heap(WORKER_YOUNG_OBJECTS)",
        "        settle_heap()",
        ("tests/cli/test_serve.py",),
    ),
    Mutant(
        "storm30: a settled heap's young threshold left as it was",
        "alerter/cli/common.py",
        "        gc.set_threshold(young_objects, older, oldest)",
        "        gc.set_threshold(*gc.get_threshold())",
        ("tests/cli/test_serve.py",),
    ),
)

INTAKE_SOON_MUTANTS = (
    Mutant(
        "intake soon: a future answered webhook not held in the server's tasks",
        DOOR,
        "            self.tasks.add(got)  # type: ignore[arg-type]\n",
        "",
        DOOR_TESTS,
    ),
    Mutant(
        "intake soon: a future's failure answered as its result",
        DOOR,
        "        if (exc := got.exception()) is not None:",
        "        if (exc := got.exception()) is None and False:",
        DOOR_TESTS,
    ),
    Mutant(
        "intake soon: Redis down answered as a bug (500), not 503",
        "alerter/http/webhook.py",
        "    elif isinstance(exc, RedisError | OSError):",
        "    elif False:",
        DOOR_TESTS,
    ),
    Mutant(
        "intake soon: a duplicate answered as queued",
        "alerter/http/webhook.py",
        "        if queued.result():",
        "        if True:",
        DOOR_TESTS,
    ),
    Mutant(
        "intake soon: one batch on the wire whatever the flights",
        "alerter/store/coalesce.py",
        "if not self._starting and len(self._senders) < self._flights:",
        "if not self._starting and len(self._senders) < 1:",
        ("tests/store/test_coalesce.py",),
    ),
    Mutant(
        "intake soon: a sender started for every turn of the loop, past the flights",
        "alerter/store/coalesce.py",
        "if not self._starting and len(self._senders) < self._flights:",
        "if not self._starting:",
        ("tests/store/test_coalesce.py",),
    ),
    Mutant(
        "intake soon: the enqueue's script not loaded again when the server forgot it",
        "alerter/store/lua.py",
        "            await self.load()\n            sent_again",
        "            raise\n            sent_again",
        ("tests/store/test_queue.py",),
    ),
    Mutant(
        "intake soon: a sender cancelled before its first step blocks every later batch",
        "alerter/store/coalesce.py",
        "        if sender.cancelled():  # perhaps",
        "        if False:  # perhaps",
        ("tests/store/test_coalesce.py",),
    ),
    Mutant(
        "intake soon: an ended sender counted until its done-callback runs",
        "alerter/store/coalesce.py",
        "            self._senders.discard(asyncio.current_task())\n",
        "            pass\n",
        ("tests/store/test_coalesce.py",),
    ),
)

SCALE_BENCH_MUTANTS = (
    Mutant(
        "scale bench: calls routed by call id, not by agent",
        "bench/scale.py",
        "            share[partition_of(item.agent, len(parts))].append(item)",
        "            share[partition_of(item.call.call_id, len(parts))].append(item)",
        ("tests/bench/test_scale.py",),
    ),
)

RE2_PROBE_MUTANTS = (
    Mutant(
        "re2 probe: fullmatch asked as search",
        "alerter/compat/re2.py",
        "anchor = _ANCHOR.ANCHOR_BOTH if whole else _ANCHOR.UNANCHORED",
        "anchor = _ANCHOR.UNANCHORED",
        ("tests/compat/test_re2.py", "tests/pipeline/test_evaluate.py"),
    ),
    Mutant(
        "re2 probe: a text with a lone surrogate matched as empty",
        "alerter/compat/re2.py",
        'raw = text.encode("utf-8", "surrogatepass")',
        'raw = b""',
        ("tests/compat/test_re2.py",),
    ),
    Mutant(
        "re2 probe: a rule's regex searched and its glob fullmatched the wrong way round",
        "alerter/rules/regex.py",
        "prober(probed, False), prober(probed, True)",
        "prober(probed, True), prober(probed, False)",
        ("tests/pipeline/test_evaluate.py",),
    ),
    Mutant(
        "re2 probe: a literal pattern searched the wrong way round",
        "alerter/rules/regex.py",
        "lambda text: pattern in text",
        "lambda text: text in pattern",
        ("tests/rules/test_regex_literal.py",),
    ),
    Mutant(
        "re2 probe: a literal pattern fullmatched as a prefix",
        "alerter/rules/regex.py",
        "pattern.__eq__)",
        "lambda text: text.startswith(pattern))",
        ("tests/rules/test_regex_literal.py",),
    ),
    Mutant(
        "re2 probe: a pattern with a dot taken as a literal",
        "alerter/rules/regex.py",
        'META = frozenset("\\\\.^$',
        'META = frozenset("\\\\^$',
        ("tests/rules/test_regex_literal.py",),
    ),
)

MUTANTS = (
    MUTANTS
    + CONSOLE_MUTANTS
    + COMPAT_MUTANTS
    + API_PROCESSES_MUTANTS
    + COALESCE_MUTANTS
    + REDIS_TRIM_MUTANTS
    + WEBHOOK_DOOR_MUTANTS
    + FIRST_TRY_MUTANTS
    + REPORT_MUTANTS
    + INTAKE_REDIS_MUTANTS
    + STORM_POST_MUTANTS
    + REDIS_30_MUTANTS
    + STORM_30_MUTANTS
    + INTAKE_SOON_MUTANTS
    + SCALE_BENCH_MUTANTS
    + RE2_PROBE_MUTANTS
)

COPIED = ("alerter", "bench", "docs", "tests", "rules", "deploy", "README.md", "pyproject.toml")


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
