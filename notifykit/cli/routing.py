"""The alert routing commands: ``routes tree``, ``routes test``, ``alerts``, ``ack``, ``resolve``
and ``audit``, registered with the others by :mod:`notifykit.cli.app`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import click

from notifykit.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    SEVERITY,
    State,
    by_option,
    command,
    group,
    parse_labels,
    refuse_sandbox,
    split_list,
)
from notifykit.cli.complete import (
    complete_alert_keys,
    complete_events,
    complete_receivers,
)
from notifykit.cli.output import Line, Result

if TYPE_CHECKING:
    from notifykit.ledger.audit import AuditRecord
    from notifykit.notifier import Notifier
    from notifykit.routing.listing import OpenAlert

__all__ = ["COMMANDS", "ack", "alerts", "audit", "resolve", "routes"]


@group()
def routes() -> None:
    """Show and test the alert routing (route:, receivers:...)."""


@routes.command("tree")
def routes_tree() -> Result:
    """Print the route tree: matchers, receivers, timers, time intervals."""
    from notifykit.routing.explain import render_tree

    notifier = State.current().reader()
    routing = notifier.config.routing
    assert routing is not None
    tree = render_tree(routing)
    shown = {
        "implicit": routing.implicit,
        "tree": tree.splitlines(),
        "receivers": sorted(routing.receivers),
    }
    implicit = ["(no route: section; the implicit routes of events:)"] if routing.implicit else []
    return Result(shown, [*implicit, tree])


@routes.command("test")
@click.argument("event", shell_complete=complete_events)
@click.option("--severity", "-s", type=SEVERITY, help="Default: the event's, then defaults'.")
@click.option("--label", "-l", "labels", multiple=True, metavar="K=V", help="Repeatable.")
@click.option(
    "--at", "at", metavar="ISO-TIME", help="When (default now), e.g. 2026-03-02T23:30+05:30."
)
@click.option("--resolved", is_flag=True, help="Explain a resolved alert.")
@click.option(
    "--expect",
    metavar="R1,R2",
    help="Exit 1 unless exactly these receivers are reached.",
    shell_complete=complete_receivers,
)
def routes_test(
    event: str,
    severity: str | None,
    labels: tuple[str, ...],
    at: str | None,
    resolved: bool,
    expect: str | None,
) -> Result:
    """Which routes EVENT matches and why, who is reached, and exactly what would be sent
    (channel, recipient, sender, priority), without sending anything."""
    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(
                f"{at!r} is not an ISO time such as 2026-03-02T23:30+05:30", param_hint="--at"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    notifier = State.current().reader()
    explanation = notifier.explain(
        event, severity=severity, labels=parse_labels(labels), at=when, resolved=resolved
    )
    text: list[str | Line] = [explanation.text()]
    code = EXIT_OK
    if expect is not None:
        wanted = list(split_list((expect,)) or ())
        wanted = [w for part in wanted for w in part.split(",") if w]
        if wanted != list(explanation.receivers):
            text.append(
                Line(
                    f"expected receivers {', '.join(wanted) or '(none)'}, got "
                    f"{', '.join(explanation.receivers) or '(none)'}"
                )
            )
            code = EXIT_PARTIAL
    return Result(explanation.to_dict(), text, code)


@command()
@click.argument("key", shell_complete=complete_alert_keys)
@by_option("Who acknowledges", "in the ledger and its audit trail")
@click.option(
    "--snooze",
    metavar="DURATION",
    help="Pause the escalation for this long (30m, 2h) instead: its next step goes out then.",
)
def ack(key: str, by: str | None, snooze: str | None) -> Result:
    """Acknowledge the escalation of alert KEY (as shown in reports): nothing more is sent for
    it (or, with --snooze, nothing until the snooze ends). Exit 1 when no escalation of KEY is
    active."""
    refuse_sandbox("ack", "no escalation an earlier command started can be in it")
    acked = State.current().notifier().ack(key, by=by, snooze=snooze)
    text = [
        (
            f"snoozed {record.key} until {_local_time(record.wake_at)} (escalation "
            f"{record.policy}, {record.id})"
            if record.state == "snoozed"
            else f"acknowledged {record.key} (escalation {record.policy}, {record.id})"
            + (
                f"; it re-opens at {_local_time(record.wake_at)} unless resolved"
                if record.wake_at is not None
                else ""
            )
        )
        for record in acked
    ]
    return Result(
        {"ok": bool(acked), "acked": [a.to_dict() for a in acked]},
        text or [Line(f"no active escalation for {key!r}")],
        EXIT_OK if acked else EXIT_PARTIAL,
    )


@command()
@click.argument("key", shell_complete=complete_alert_keys)
@by_option("Who resolves", "in the ledger's audit trail")
def resolve(key: str, by: str | None) -> Result:
    """Resolve alert KEY: its escalation stops, and a resolved message goes where the route
    says send_resolved. Exit 1 when no open alert has KEY."""
    refuse_sandbox("resolve", "no alert an earlier command opened can be in it")
    notifier = State.current().notifier()
    reports = notifier.resolve(key, by=by)
    text = [
        f"resolved {r.key}" + (f" ({len(r.succeeded)} sent)" if r.succeeded else "")
        for r in reports
    ]
    return Result(
        {"ok": bool(reports), "resolved": [r.to_dict() for r in reports]},
        text or [Line(f"no open alert with key {key!r}")],
        EXIT_OK if reports else EXIT_PARTIAL,
    )


@command("alerts")
def alerts() -> Result:
    """List the open alerts (like amtool alert query): each once per receiver it reaches, with
    its state (firing, acknowledged, or held and why) and its escalation (policy, last step
    sent, next step and when). Sends nothing and needs no secrets."""
    reader = State.current().reader()
    rows = reader.alerts()
    lines: list[str | Line] = [_alert_line(row) for row in rows] or ["no open alerts"]
    lines.extend(_circuit_warnings(reader))
    return Result([row.to_dict() for row in rows], lines)


def _circuit_warnings(reader: Notifier) -> list[Line]:
    """A stderr line for each provider account whose circuit breaker is not closed: pages
    through it go to their fallback or wait (docs/circuit-breaker.md)."""
    from notifykit.errors import NotifykitError

    try:
        broken = [row for row in reader.ledger.circuits.rows() if row.state != "closed"]
    except NotifykitError:
        return []
    return [
        Line(
            f"warning: the circuit of account {row.key} is {row.state}: nothing is sent through "
            "it until its probe (notifykit circuits)"
        )
        for row in broken
    ]


def _alert_line(row: OpenAlert) -> str:
    """``key  severity  -> receiver  state[ (reason)][  group G][  escalation ...]``."""
    colors = {"firing": "red", "acknowledged": "green", "held": "yellow"}
    line = f"{row.key}  {row.severity}  -> {row.receiver}  " + click.style(
        row.state, fg=colors.get(row.state)
    )
    if row.reason:
        line += f" ({row.reason})"
    if row.group != row.key:
        line += f"  group {row.group}"
    escalation = row.escalation
    if escalation is not None:
        line += f"  escalation {escalation.policy}: "
        line += f"step {escalation.step} sent" if escalation.step else "no step sent yet"
        if escalation.next_step:
            line += f", next {escalation.next_step} at {_local_time(escalation.next_at)}"
        if escalation.acked_by:
            line += f", acknowledged by {escalation.acked_by}"
    return line


def _local_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@command("audit")
@click.option(
    "--since",
    metavar="DURATION|ISO",
    help="Only actions since then: a duration back from now (30m, 24h, 7d) or an ISO time "
    "(2026-03-02T23:30+05:30; without an offset, UTC).",
)
@click.option(
    "--limit", "-n", type=click.IntRange(1), default=100, show_default=True,
    help="At most this many (the newest).",
)  # fmt: skip
def audit(since: str | None, limit: int) -> Result:
    """List the audit trail, oldest first: who acknowledged, resolved or escalated which alert,
    when, and through which path (cli, api, link, call, alertmanager, system)."""
    refuse_sandbox("audit", "it holds no earlier action")
    when = _since(since)
    records = State.current().notifier().audit(since=when, limit=limit)
    text = [_audit_line(record) for record in records]
    empty = "no actions in the audit trail" + (f" since {since}" if since else "")
    return Result([r.to_dict() for r in records], text or [empty], EXIT_OK)


def _since(given: str | None) -> datetime | timedelta | None:
    """``--since``: a duration back from now, or an ISO time (UTC without an offset)."""
    if given is None:
        return None
    from notifykit.config.delivery import parse_duration

    seconds = parse_duration(given)
    if seconds is not None:
        return timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(given.strip())
    except ValueError:
        raise click.BadParameter(
            f"{given!r} is neither a duration (30m, 24h, 7d) nor an ISO time such as "
            "2026-03-02T23:30+05:30",
            param_hint="--since",
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _audit_line(record: AuditRecord) -> str:
    """``time  action  key  by ACTOR via PATH[  escalation POLICY][: detail]``."""
    target = record.target
    line = f"{_local_time(record.at)}  {record.action:<12}  {target.get('key', '-')}"
    if target.get("alert"):
        line += f" (alert {target['alert']})"
    line += f"  by {record.actor or '-'} via {record.path}"
    if target.get("policy"):
        line += f"  escalation {target['policy']}"
    if record.detail:
        line += f": {record.detail}"
    return line


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (routes, ack, resolve, alerts, audit)
