"""The one source of time for the stores, the stages, the jobs, the replays, the api's
handlers and the CLI's commands.

A `Clock` answers epoch seconds (what Redis keeps: windows, markers, history); a
`Monotonic` answers seconds that only go forward, for durations and budgets (metrics,
deadlines). Each process makes one of each at its start (the worker's `on_startup`, the
api's `create_app`, the CLI's `main`) and passes them down; tests pass clocks they drive
instead of patching modules or sleeping. Only this module and `alerter/compat/` read the
system clock (tests/test_clock_reads.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]  # epoch seconds
Monotonic = Callable[[], float]  # seconds, never going back: durations only

system_clock: Clock = time.time
system_monotonic: Monotonic = time.monotonic

# arq's scheduler reads the system clock itself: a job's due score, and whatever is compared
# with one (the queue's depth and ages), is on this clock whatever clock a process was given.
arq_clock: Clock = time.time
