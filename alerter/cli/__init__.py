"""The `alerter` command: one module per command group."""

from alerter.cli.main import main

__all__ = ["main"]
