"""`alerter webhook sign`: the headers that make a request body a signed webhook."""

from __future__ import annotations

import argparse
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

from alerter.clock import Clock
from alerter.http.webhook_auth import sign
from alerter.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    webhook = sub.add_parser("webhook", help="sign webhook bodies").add_subparsers(metavar="ACTION")
    signer = webhook.add_parser(
        "sign",
        help="print Standard Webhooks headers for a body, signed with ALERTER_WEBHOOK_SECRET",
    )
    signer.add_argument("body", nargs="?", type=Path, help="a file with the body (default: stdin)")
    signer.add_argument(
        "--curl", metavar="URL", help="print a whole curl command posting the body to URL"
    )
    signer.set_defaults(handler=_sign)


def _sign(settings: Settings, args: argparse.Namespace, clock: Clock) -> int:
    if settings.webhook_secret is None:
        print("ALERTER_WEBHOOK_SECRET is not set: nothing to sign with", file=sys.stderr)
        return 2
    body = args.body.read_bytes() if args.body else sys.stdin.buffer.read()
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = int(clock())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(settings.webhook_secret.get_secret_value(), msg_id, stamp, body),
    }
    if not args.curl:
        for name, value in headers.items():
            print(f"{name}: {value}")
        return 0
    parts = ["curl", "-sS", "-X", "POST", args.curl, "-H", "Content-Type: application/json"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    source = f"@{args.body}" if args.body else body.decode("utf-8", "replace")
    parts += ["--data-binary", source]
    print(shlex.join(parts))
    return 0
