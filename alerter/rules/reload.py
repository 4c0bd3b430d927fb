"""Rules in force, reloaded when their files change or on SIGHUP.

A new set is validated first; when it is invalid, the errors are logged and counted and the
last good set stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from pathlib import Path

from alerter.metrics import Metrics
from alerter.rules.load import load_rules, rule_files
from alerter.rules.model import RuleSet, RulesInvalid

log = logging.getLogger(__name__)

RECENT_SETS = 5


class RulesHolder:
    def __init__(
        self,
        path: Path | None,
        metrics: Metrics | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path  # None: a set given to it, with no files to load or watch
        # The process's one metrics registry: the api and the worker read it from here.
        self.metrics = metrics if metrics is not None else Metrics()
        self.environ = environ
        self.current: RuleSet | None = None
        # The last few sets by version: a call retried after a reload finishes with the set
        # it started with (see the job), as long as this process still has it.
        self._recent: dict[str, RuleSet] = {}
        self._broken = False  # the last load failed: say so once when it is mended
        # Why the files on disk are invalid (file:line: message), for the console; () when valid.
        self.errors: tuple[str, ...] = ()
        self.loaded = asyncio.Event()
        self._seen = self._fingerprint()

    @classmethod
    def of(cls, rules: RuleSet, metrics: Metrics | None = None) -> RulesHolder:
        """A holder for a set already loaded (tests, one-off commands): it watches no files."""
        holder = cls(None, metrics)
        holder._use(rules)
        return holder

    def require(self) -> RuleSet:
        if self.current is None:
            raise RuntimeError("no valid rules are loaded")
        return self.current

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        if self.path is None:
            return ()
        try:
            files = rule_files(self.path) if self.path.exists() else []
            return tuple((str(f), (st := f.stat()).st_mtime_ns, st.st_size) for f in files)
        except OSError:
            return ()

    def version(self, version: str) -> RuleSet | None:
        """A set loaded earlier by this process, when it is one of the last few."""
        return self._recent.get(version)

    def _use(self, rules: RuleSet) -> None:
        self.current = rules
        self._recent[rules.version] = rules
        while len(self._recent) > RECENT_SETS:
            del self._recent[next(iter(self._recent))]
        self.loaded.set()
        self.metrics.rules_loaded.set(len(rules.rules))

    def reload(self, reason: str = "start") -> bool:
        """Load and validate; True when a (new) valid set is in force."""
        if self.path is None:
            raise RuntimeError("this holder was given its rules: it has no files to load")
        self._seen = self._fingerprint()
        try:
            rules = load_rules(self.path, self.environ)
        except RulesInvalid as exc:
            for error in exc.errors:
                log.error("%s", error)
            kept = (
                f"keeping version {self.current.version}" if self.current else "no rules in force"
            )
            log.error("rules are invalid (%s): %s", reason, kept)
            self._broken = True
            self.errors = tuple(str(error) for error in exc.errors)
            self._count("invalid")
            return False
        if self.current is not None and rules.version == self.current.version:
            if self._broken:
                log.warning("rules are valid again: version %s still in force", rules.version)
                self._broken = False
            self._count("unchanged")
            return True
        self._use(rules)
        if self._broken:
            log.warning(
                "rules are valid again: version %s in force (%d rules, %s)",
                rules.version,
                len(rules.rules),
                reason,
            )
        else:
            log.info(
                "rules version %s in force (%d rules, %s)", rules.version, len(rules.rules), reason
            )
        self._broken = False
        self._count("loaded")
        return True

    def _count(self, outcome: str) -> None:
        if outcome != "invalid":
            self.errors = ()
        self.metrics.rule_reloads.labels(outcome).inc()
        self.metrics.rules_invalid.set(1 if self._broken else 0)

    async def watch(self, stop: asyncio.Event, every: float = 2.0) -> None:
        """Reload when the files change (checked every `every` seconds) or on SIGHUP."""
        loop = asyncio.get_running_loop()
        hup = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, hup.set)
        while not stop.is_set():
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(hup.wait())}
            _, pending = await asyncio.wait(
                waiters, timeout=every, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            if stop.is_set():
                return
            if hup.is_set():
                hup.clear()
                await asyncio.to_thread(self.reload, "SIGHUP")
            elif self._fingerprint() != self._seen:
                await asyncio.to_thread(self.reload, "files changed")
