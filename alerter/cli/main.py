"""The `alerter` command: settings read once, then the chosen group's handler."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from alerter.cli import console, failed, history, notify, rules, serve, signatures, silence, webhook
from alerter.clock import Clock, system_clock
from alerter.settings import load_settings

# Each group adds its subcommands; a handler takes (settings, args, clock) and returns the
# exit code. The clock is the command's one clock (the system's; tests give one they drive).
GROUPS = (serve, console, notify, rules, failed, silence, signatures, history, webhook)


def main(argv: Sequence[str] | None = None, clock: Clock = system_clock) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Short commands print their results; long-running ones configure logging themselves.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # apprise explains itself at INFO and WARNING; commands say what matters in their own words.
    logging.getLogger("apprise").setLevel(logging.ERROR)
    try:
        settings = load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"])
            print(f"setting {name}: {err['msg']}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a NAME_FILE that cannot be read
        print(f"setting {exc}", file=sys.stderr)
        return 2
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result: int = handler(settings, args, clock)
    except SystemExit as exc:  # raised by helpers that already said why
        return exc.code if isinstance(exc.code, int) else 1
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alerter",
        description="Alerts on failed Diga calls: webhook in, logs fetched, rules run, alerts out.",
    )
    sub = parser.add_subparsers(metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
