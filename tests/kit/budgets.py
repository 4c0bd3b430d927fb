"""The budgets the suite's workers run with: retry waits in milliseconds, so retry paths run
within the suite's time. Everything else is production's (`alerter.budgets`); a test that
needs a smaller cap or a shorter timeout makes its own with `dataclasses.replace`."""

from __future__ import annotations

from alerter.budgets import Budgets

FAST = Budgets(backoff_base=0.05, backoff_cap=0.2, not_found_delays=(0.05, 0.05, 0.05))
