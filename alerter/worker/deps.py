"""What every job of one worker process uses: its long-lived clients, made once in the
worker's `on_startup` (see `app`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from alerter.budgets import PRODUCTION, Budgets
from alerter.clock import Clock, Monotonic, system_clock, system_monotonic
from alerter.metrics import Metrics
from alerter.pipeline.decide import NoiseStores
from alerter.pipeline.deliver import Sender
from alerter.pipeline.fetch import DigaClient
from alerter.pipeline.slack_app import SlackApps
from alerter.rules.reload import RulesHolder
from alerter.store.state import State

# Puts sends (job id, payload) in the outbox; answers how many this worker runs at once.
Outbox = Callable[[Sequence[tuple[str, bytes]]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Deps:
    """Long-lived clients of one worker process, made in `on_startup`."""

    diga: DigaClient
    state: State
    noise: NoiseStores
    sender: Sender
    rules: RulesHolder  # read once per job: a reload mid-job does not mix two sets
    metrics: Metrics
    budget: float  # seconds one try may take, below arq's job timeout (`guard.time_budget`)
    # Tries, backoff, not-found waits (and, through the clients made with the same value,
    # timeouts and Diga's page sizes): production's unless a test passes its own.
    budgets: Budgets = PRODUCTION
    # The process's one clock (epoch seconds: windows, stamps, due times) and its
    # monotonic counterpart (durations for metrics); tests drive their own.
    clock: Clock = system_clock
    monotonic: Monotonic = system_monotonic
    public_url: str | None = None  # the console's address: alerts link to it when set
    # Writes a send's marker from the sending thread the moment the destination accepts
    # (`store.state.MarkerWriter`); None: marked from the event loop only.
    mark_now: Callable[[str], None] | None = None
    slack: SlackApps | None = None  # `slack_app` destinations' Web API client
    # Puts sends (job id, payload) in the outbox, running those it has room for at once
    # (`RecordingWorker.put_sends`); None: `store.queue.put_sends`, for any worker to poll.
    outbox: Outbox | None = None
