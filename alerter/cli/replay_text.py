"""Dry runs and backtests as `alerter rules test | backtest` print them."""

from __future__ import annotations

import time

from alerter.replay.dryrun import DryRun
from alerter.replay.simulate import Backtest
from alerter.rules.model import RuleSet


def dry_run_text(dry: DryRun, rules: RuleSet) -> str:
    """Per rule that matched: the verdict, who would be notified, and the alert as each
    redaction shows it."""
    out = [f"call {dry.call_id}: {dry.logs} ERROR/CRITICAL logs, {dry.rules} rules"]
    if dry.ignored:
        out.append(f"({dry.ignored} logs of other levels ignored: the service never fetches them)")
    if rules.flatline_rules:
        names = ", ".join(rule.name for rule in rules.flatline_rules)
        out.append(f"(flatline rules watch call-ended webhooks, not logs: {names})")
    if not dry.trials:
        out.append("no rule matched")
    for trial in dry.trials:
        out.append(
            f"\n== {trial.rule}: {trial.matched_logs} matching logs "
            f"(min_matches {trial.min_matches}) → {trial.verdict}"
        )
        if not trial.fired:
            continue
        if trial.shadow:
            out.append(f"shadow rule: recorded as would-send to {', '.join(trial.notify)}")
        else:
            out.append(f"would notify: {', '.join(trial.notify)}")
        for rendering in trial.renderings:
            out.append(f"-- as {', '.join(rendering.receivers)} would see it:")
            out.append(rendering.title)
            out.append(rendering.text)
    return "\n".join(out)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def backtest_text(report: Backtest) -> str:
    """Per rule and day: calls matched, alerts, what was suppressed and the top groups."""
    lines = [
        f"backtest: {report.calls} calls that ended {_when(report.since)} – "
        f"{_when(report.until)} UTC; logs fetched for {report.fetched}"
        + (f" ({report.unfetched} could not be)" if report.unfetched else ""),
        "nothing was sent and no counter was touched",
    ]
    for result in report.rules:
        lines += ["", result.rule]
        if not result.days:
            lines.append("  no call matched")
            continue
        lines.append(f"  {'day':<10}  {'matched':>7}  {'alerts':>6}  suppressed / top groups")
        for day in result.days:
            suppressed = ", ".join(f"{outcome} {n}" for outcome, n in day.suppressed)
            groups = ", ".join(f"{group} ({n})" for group, n in day.top_groups)
            detail = "; ".join(part for part in (suppressed, groups) if part)
            lines.append(f"  {day.day:<10}  {day.matched:>7}  {day.alerts:>6}  {detail}")
        lines.append(f"  {'total':<10}  {result.matched:>7}  {result.alerts:>6}")
    if report.notes:
        lines += ["", *(f"note: {note}" for note in report.notes)]
    return "\n".join(lines)
