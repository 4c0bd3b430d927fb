"""Webhook signatures: the pure check, and the api refusing before parsing or queueing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from alerter.http.webhook_auth import AuthError, sign, verify
from alerter.rules.model import RuleSet
from alerter.store import keys
from tests.conftest import ApiServer, make_settings, rules_from
from tests.kit.clock import DrivenClock

SECRET = "whsec_" + base64.b64encode(b"alerter-test-signing-key-0123456").decode()
BODY = b'{"event":"call.ended","call_id":"3c90c3cc-0d44-4b50-8888-8dd25736052a"}'


def headers(body: bytes = BODY, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, "msg_1", stamp, body),
    }


def test_standard_webhooks_reference_vector() -> None:
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_valid_signatures_and_rotation() -> None:
    now = time.time()
    verify(headers(), BODY, SECRET, now)
    rotated = headers()
    rotated["webhook-signature"] = "v1,b2xkLXNpZ25hdHVyZQ== " + rotated["webhook-signature"]
    verify(rotated, BODY, SECRET, now)
    verify({"authorization": f"Bearer {SECRET}"}, BODY, SECRET, now)


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "wrong_secret",
        "too_old",
        "future",
        "missing",
        "bad_bearer",
        "v2_only",
        "bad_stamp",
    ],
)
def test_refusals(case: str) -> None:
    h = headers()
    body = BODY
    if case == "tampered":
        body = BODY.replace(b"ended", b"ENDED")
    elif case == "wrong_secret":
        h = headers(secret="whsec_" + base64.b64encode(b"another-key").decode())
    elif case == "too_old":
        h = headers(at=int(time.time()) - 301)
    elif case == "future":
        h = headers(at=int(time.time()) + 301)
    elif case == "missing":
        del h["webhook-signature"]
    elif case == "bad_bearer":
        h = {"authorization": "Bearer whsec_nope"}
    elif case == "v2_only":
        h["webhook-signature"] = h["webhook-signature"].replace("v1,", "v2,")
    elif case == "bad_stamp":
        h["webhook-timestamp"] = "yesterday"
    with pytest.raises(AuthError) as caught:
        verify(h, body, SECRET, time.time())
    assert "alerter-test-signing-key" not in str(caught.value)


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    return rules_from(
        tmp_path, "destinations: {d: 'json://127.0.0.1/x'}\nrules:\n  - {name: r, notify: [d]}\n"
    )


@pytest.fixture
def api(redis_url: str, rules: RuleSet) -> Iterator[ApiServer]:
    server = ApiServer(
        make_settings("http://127.0.0.1:9", ALERTER_WEBHOOK_SECRET=SECRET), redis_url, rules
    )
    server.start()
    yield server
    server.stop()


async def test_api_refuses_unsigned_before_parsing_or_queueing(
    api: ApiServer, redis_url: str
) -> None:
    url = f"{api.url}/webhooks/diga"
    async with httpx.AsyncClient() as client:
        for sent_headers, content in [
            ({}, BODY),
            ({}, b"{not json"),
            ({"Content-Type": "text/plain"}, BODY),
            (headers(at=int(time.time()) - 3600), BODY),
            ({"Authorization": "Bearer guess"}, BODY),
        ]:
            answer = await client.post(
                url, content=content, headers={"Content-Type": "application/json", **sent_headers}
            )
            assert answer.status_code == 401, answer.text
            assert answer.json()["error_code"] == "INVALID_SIGNATURE"
        with redis.Redis.from_url(redis_url) as plain:
            assert plain.zcard(keys.ARQ_QUEUE) == 0

        call_id = str(uuid.uuid4())
        body = json.dumps({"event": "call.ended", "call_id": call_id}).encode()
        signed = await client.post(
            url, content=body, headers={"Content-Type": "application/json", **headers(body)}
        )
        assert signed.status_code == 202
        bearer = await client.post(
            url, json={"call_id": str(uuid.uuid4())}, headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert bearer.status_code == 202


async def test_a_webhooks_age_is_measured_on_the_apis_clock(redis_url: str, rules: RuleSet) -> None:
    """Signed far from the wall clock's time, within five minutes of the api's: accepted;
    the api's clock past five minutes: refused. Its call is stamped on that clock too."""
    clock = DrivenClock(1_700_000_000.0)
    settings = make_settings("http://127.0.0.1:9", ALERTER_WEBHOOK_SECRET=SECRET)
    server = ApiServer(settings, redis_url, rules, clock)
    server.start()
    try:
        stale, fresh = (str(uuid.uuid4()) for _ in range(2))
        async with httpx.AsyncClient(base_url=server.url) as client:

            async def post(call_id: str) -> int:
                body = json.dumps({"event": "call.ended", "call_id": call_id}).encode()
                sent = {"Content-Type": "application/json", **headers(body, at=1_700_000_000)}
                return (await client.post("/webhooks/diga", content=body, headers=sent)).status_code

            clock.advance(301)
            assert await post(stale) == 401
            clock.advance(-2)
            assert await post(fresh) == 202
    finally:
        server.stop()
    with redis.Redis.from_url(redis_url) as plain:
        raw = plain.get(keys.ARQ_JOB + keys.call_job(fresh))
        assert raw is not None and json.loads(raw)["et"] == 1_700_000_299_000


def _flip_bit_in_the_middle(signature: str) -> str:
    digest = bytearray(base64.b64decode(signature.removeprefix("v1,")))
    digest[len(digest) // 2] ^= 0x01
    return "v1," + base64.b64encode(bytes(digest)).decode()


def _last_char_changed(signature: str) -> str:
    # The character before the padding carries real bits; any other value changes them.
    body = signature.rstrip("=")
    padding = signature[len(body) :]
    last = "A" if body[-1] != "A" else "B"
    return body[:-1] + last + padding


@pytest.mark.parametrize("damage", [_last_char_changed, _flip_bit_in_the_middle])
def test_a_signature_off_by_its_end_or_one_bit_is_refused(damage: object) -> None:
    """The whole value is compared: a check of a prefix would let these through."""
    h = headers()
    damaged = damage(h["webhook-signature"])  # type: ignore[operator]
    assert damaged != h["webhook-signature"]
    assert damaged[:20] == h["webhook-signature"][:20]
    h["webhook-signature"] = damaged
    with pytest.raises(AuthError):
        verify(h, BODY, SECRET, time.time())


def _invalid(n: int) -> str:
    return "v1," + base64.b64encode(bytes([n]) * 32).decode()


def _signature_headers(body: bytes, listing: str) -> dict[str, str]:
    h = headers(body)
    valid = h["webhook-signature"]
    h["webhook-signature"] = listing.format(valid=valid, valid_v2=valid.replace("v1,", "v2,"))
    return h


SIGNATURE_LISTS = [
    ("two invalid", f"{_invalid(1)} {_invalid(2)}", 401),
    ("invalid then valid", f"{_invalid(1)} {{valid}}", 202),
    ("valid then invalid", f"{{valid}} {_invalid(1)}", 202),
    ("unknown versions, then valid", "v0,abc v2,{valid} {valid}", 202),
    ("valid then unknown versions", "{valid} v9,zzz", 202),
    ("the right digest under an unknown version only", "{valid_v2} v9,zzz", 401),
    ("invalid, unknown, invalid", f"{_invalid(1)} v2,xyz {_invalid(3)}", 401),
]


@pytest.mark.parametrize(("case", "listing", "status"), SIGNATURE_LISTS)
def test_every_signature_of_a_rotation_header_is_tried(
    case: str, listing: str, status: int
) -> None:
    h = _signature_headers(BODY, listing)
    if status == 202:
        verify(h, BODY, SECRET, time.time())
    else:
        with pytest.raises(AuthError):
            verify(h, BODY, SECRET, time.time())


async def test_api_tries_every_signature_of_a_rotation_header(api: ApiServer) -> None:
    async with httpx.AsyncClient() as client:
        for case, listing, status in SIGNATURE_LISTS:
            body = json.dumps({"event": "call.ended", "call_id": str(uuid.uuid4())}).encode()
            answer = await client.post(
                f"{api.url}/webhooks/diga",
                content=body,
                headers={"Content-Type": "application/json", **_signature_headers(body, listing)},
            )
            assert answer.status_code == status, (case, answer.text)


@pytest.mark.parametrize(
    "token",
    [
        SECRET[:-1] + ("A" if SECRET[-1] != "A" else "B"),  # the last character changed
        SECRET[:-4],  # a prefix of the secret
        SECRET + "x",  # the secret and more
        SECRET[:12] + "0" * (len(SECRET) - 12),  # the right first characters only
    ],
)
def test_a_bearer_token_must_be_the_whole_secret(token: str) -> None:
    with pytest.raises(AuthError):
        verify({"authorization": f"Bearer {token}"}, BODY, SECRET, time.time())


def test_a_whsec_secret_without_padding_is_decoded_as_the_reference_does() -> None:
    """The Standard Webhooks library adds missing '=' padding; so do we (it used to be taken
    as plain text, so signatures made by the reference library never matched)."""
    key = b"alerter-test-signing-key-0"  # 26 bytes: base64 needs one "="
    padded = "whsec_" + base64.b64encode(key).decode()
    unpadded = padded.rstrip("=")
    assert unpadded != padded
    now = int(time.time())
    assert sign(unpadded, "msg_1", now, BODY) == sign(padded, "msg_1", now, BODY)
    h = {"webhook-id": "msg_1", "webhook-timestamp": str(now)}
    h["webhook-signature"] = sign(padded, "msg_1", now, BODY)
    verify(h, BODY, unpadded, time.time())


@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!not-base64!!!", "whsec_AAAA", "abc12"])
def test_an_unusable_secret_is_refused_at_start_up(secret: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        make_settings("http://127.0.0.1:9", ALERTER_WEBHOOK_SECRET=secret)
    # What `alerter` prints of a settings error: each message, never the value given.
    said = " ".join(str(err["msg"]) for err in caught.value.errors())
    assert "ALERTER_WEBHOOK_SECRET" in said
    assert secret not in said.replace("ALERTER_WEBHOOK_SECRET", "")


async def test_alerter_webhook_sign_makes_requests_the_api_accepts(
    api: ApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import shlex

    from alerter.cli import main

    monkeypatch.setenv("ALERTER_WEBHOOK_SECRET", SECRET)
    body_file = tmp_path / "body.json"
    body_file.write_bytes(
        json.dumps({"event": "call.ended", "call_id": str(uuid.uuid4())}).encode()
    )
    assert await asyncio.to_thread(main, ["webhook", "sign", str(body_file)]) == 0
    printed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    url = f"{api.url}/webhooks/diga"
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            url,
            content=body_file.read_bytes(),
            headers={"Content-Type": "application/json", **printed},
        )
    assert answer.status_code == 202
    assert await asyncio.to_thread(main, ["webhook", "sign", str(body_file), "--curl", url]) == 0
    words = shlex.split(capsys.readouterr().out)
    assert words[:5] == ["curl", "-sS", "-X", "POST", url]
    assert words[-2:] == ["--data-binary", f"@{body_file}"]
    assert sum(w.startswith("webhook-") for w in words) == 3
    assert SECRET not in " ".join(words)
