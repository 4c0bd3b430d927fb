"""The worker's tries, waits and sizes, as one value made once (`worker.app.make_deps`) and
handed to the stages that hold to them: the guard's retries, the call job's not-found waits,
the Sender's timeouts, the Diga client's page and answer sizes.

The defaults are production's (tests/test_defaults.py pins them); a test passes its own
(milliseconds of backoff, a small byte cap) instead of rewriting module constants.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budgets:
    # Tries of a job after unexpected errors, before it is recorded failed (`guard`).
    error_tries: int = 8
    # Capped exponential backoff between tries, in seconds (`guard.backoff`).
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    # Waits between tries of a call Diga does not know yet (404 CALL_NOT_FOUND): ~ a minute.
    not_found_delays: tuple[float, ...] = (10.0, 20.0, 30.0)
    # A send's backstop: the socket timeouts below end a send first (`deliver`).
    send_timeout: float = 45.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    # Diga: the API's maximum page size (fewest requests per call), and the answer size past
    # which paging stops (a page of 1,000 logs is ~1-2 MB).
    page_limit: int = 1000
    max_response_bytes: int = 16 * 1024 * 1024


PRODUCTION = Budgets()
