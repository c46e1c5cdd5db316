"""``notifykit oncall``: who the ``schedules:`` have on call now (or ``--at`` a moment), the
shifts of one over a range (``--from``/``--to``), or those shifts as an iCalendar feed
(``--ics``). Registered with the others by :mod:`notifykit.cli.app`; docs/oncall.md.

JSON (``--json``): who is on call is ``{"schedule", "at", "who", "layer", "override"}`` (one
object for ``oncall NAME``, a list of them for every schedule); the shifts are
``[{"who", "start", "end"}]``, times ISO 8601 with their offset, in the schedule's zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import click

from notifykit.cli.common import (
    EXIT_OK,
    WINDOW_COLORS,
    State,
    by_option,
    command,
    group,
    refuse_sandbox,
)
from notifykit.cli.complete import complete_schedules
from notifykit.cli.output import Result

if TYPE_CHECKING:
    from notifykit.notifier import Notifier
    from notifykit.oncall import OnCall, Schedule, Shift
    from notifykit.oncall.overrides import StoredOverride

__all__ = ["COMMANDS", "oncall", "override"]

#: the range of ``--from``/``--to``/``--ics`` when one end is not given
DEFAULT_SPAN = timedelta(days=14)


def _moment(text: str | None, schedule: Schedule, option: str) -> datetime | None:
    """``--at``/``--from``/``--to``: ISO 8601 with an offset, or local time in the schedule's
    zone without one, or a date (its local midnight)."""
    if text is None:
        return None
    from notifykit.oncall import ScheduleError, parse_moment

    try:
        return parse_moment(text, schedule.zone)
    except ScheduleError as err:
        raise click.BadParameter(str(err), param_hint=option) from None


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _answer(found: OnCall) -> dict[str, Any]:
    return {
        "schedule": found.schedule,
        "at": _iso(found.at),
        "who": found.who,
        "layer": found.layer,
        "override": found.override,
    }


def _why(found: OnCall) -> str:
    if found.who is None:
        return click.style("nobody on call", fg="yellow")
    return f"{found.who} ({'override' if found.override else f'layer {found.layer}'})"


def _shift(shift: Shift) -> dict[str, str]:
    return {"who": shift.who, "start": _iso(shift.start), "end": _iso(shift.end)}


def _shift_lines(
    name: str, schedule: Schedule, start: datetime, end: datetime, shifts: list[Shift]
) -> Iterator[str]:
    zone = schedule.zone
    yield (f"{name} ({zone.key}), {_iso(start.astimezone(zone))} to {_iso(end.astimezone(zone))}:")
    if not shifts:
        yield click.style("  nobody on call", fg="yellow")
    for shift in shifts:
        yield f"  {_iso(shift.start)}  {_iso(shift.end)}  {shift.who}"


@command("oncall")
@click.argument("name", required=False, shell_complete=complete_schedules)
@click.option("--at", "at", metavar="ISO-TIME", help="When (default now), e.g. 2026-12-08T21:00.")
@click.option(
    "--from", "from_", metavar="ISO-TIME", help="List the shifts from then (default now)."
)
@click.option("--to", "to", metavar="ISO-TIME", help="... until then (default 14 days later).")
@click.option("--ics", is_flag=True, help="Write the shifts as an iCalendar feed.")
def oncall(
    name: str | None, at: str | None, from_: str | None, to: str | None, ics: bool
) -> Result:
    """Who is on call now (or --at a time) in NAME, or in every schedule; with --from/--to, the
    shifts of NAME over that range (adjacent shifts of one person merged); with --ics, those
    shifts as an iCalendar feed to subscribe to. Times without an offset are the schedule's
    local time."""
    listing = ics or from_ is not None or to is not None
    if listing and at is not None:
        raise click.UsageError("--at asks about a moment; --from/--to/--ics list shifts: use one")
    if listing and name is None:
        raise click.UsageError("--from, --to and --ics list the shifts of one schedule: name it")
    kit = State.current().reader()
    schedules = kit.config.schedules
    if name is None:
        if not schedules:
            raise click.UsageError("the config has no schedules: section (docs/oncall.md)")
        answers = [
            kit.oncall(n, _moment(at, s, "--at")) if at else kit.oncall(n)
            for n, s in schedules.items()
        ]
        width = max(len(a.schedule) for a in answers)
        lines = [f"{a.schedule.ljust(width)}  {_why(a)}  at {_iso(a.at)}" for a in answers]
        return Result([_answer(a) for a in answers], lines)
    schedule = kit.planner.schedule(name)
    if not listing:
        found = kit.oncall(name, _moment(at, schedule, "--at"))
        return Result(_answer(found), [f"{name}  {_why(found)}  at {_iso(found.at)}"])
    start = _moment(from_, schedule, "--from")
    end = _moment(to, schedule, "--to")
    if start is None:
        start = end - DEFAULT_SPAN if end is not None else _midnight(kit, schedule)
    if end is None:
        end = start + DEFAULT_SPAN
    if end < start:
        raise click.BadParameter("--to is before --from: give the earlier time first")
    shifts = kit.shifts(name, start, end)
    if ics:
        from notifykit.oncall import to_ics

        feed = to_ics(name, shifts, stamp=datetime.fromtimestamp(kit.clock(), timezone.utc))
        # the feed's own CRLF line ends: the last "\n" is the one the output layer writes
        return Result({"schedule": name, "ics": feed}, [feed[:-1]])
    return Result([_shift(s) for s in shifts], _shift_lines(name, schedule, start, end, shifts))


def _midnight(kit: Notifier, schedule: Schedule) -> datetime:
    """Today's midnight on the schedule's wall clock: a listing's (and a feed's) default start.
    A fixed point, not the current second: a feed's first shift is clipped to its start, and
    its UID would change at every fetch."""
    from notifykit.oncall import local_instant

    today = datetime.fromtimestamp(kit.clock(), schedule.zone).replace(tzinfo=None)
    return local_instant(today.replace(hour=0, minute=0, second=0, microsecond=0), schedule.zone)


@group()
def override() -> None:
    """Put someone on call for a while, over a schedule's rotation: add, list, cancel."""


@override.command("add")
@click.argument("schedule", metavar="SCHEDULE", shell_complete=complete_schedules)
@click.argument("who", metavar="WHO")
@click.option("--for", "duration", metavar="DURATION", help="How long: 8h, 2d.")
@click.option(
    "--from",
    "starts",
    metavar="TIME",
    help="When it starts (default now): ISO 8601; without an offset, the schedule's local time.",
)
@click.option("--to", "ends", metavar="TIME", help="When it ends (instead of --for).")
@click.option("--comment", required=True, help="Why (kept with the override).")
@by_option("Who makes it", "with it and in the audit trail")
def override_add(
    schedule: str,
    who: str,
    duration: str | None,
    starts: str | None,
    ends: str | None,
    comment: str,
    by: str | None,
) -> Result:
    """Put recipient WHO on call for SCHEDULE --for DURATION or until --to: pages to
    schedule:SCHEDULE reach WHO in that time. Prints the override's id."""
    refuse_sandbox("override add", "an override kept there would be gone when the command ends")
    if (duration is None) == (ends is None):
        raise click.UsageError("give either --for DURATION (8h) or --to TIME")
    kit = State.current().notifier()
    found = kit.planner.schedule(schedule)
    made = kit.override(
        schedule,
        who,
        duration=duration,
        starts_at=_moment(starts, found, "--from"),
        ends_at=_moment(ends, found, "--to"),
        comment=comment,
        by=by,
    )
    return Result(made.to_dict(kit.clock()), [made.id], EXIT_OK)


@override.command("list")
@click.argument("schedule", required=False, metavar="[SCHEDULE]", shell_complete=complete_schedules)
@click.option("--all", "include_ended", is_flag=True, help="Include ended and cancelled ones.")
def override_list(schedule: str | None, include_ended: bool) -> Result:
    """List the overrides in force or to come (--all: the ended ones too), oldest first: a
    later one wins where two overlap."""
    refuse_sandbox("override list", "it holds no override an earlier command made")
    kit = State.current().notifier()
    now = kit.clock()
    found = kit.overrides(schedule, include_ended=include_ended)
    lines = [_override_line(o, now, kit) for o in found]
    return Result([o.to_dict(now) for o in found], lines or ["no overrides"], EXIT_OK)


def _override_line(made: StoredOverride, now: float, kit: Notifier) -> str:
    """``id  state  schedule: who  START -> END  by WHO: comment`` (the schedule's zone)."""
    # the config's zone, read once (no ledger read a line); a schedule since removed from the
    # config still lists, in UTC
    found = kit.config.schedules.get(made.schedule)
    zone = found.zone if found is not None else timezone.utc
    start = datetime.fromtimestamp(made.starts_at, zone)
    end = datetime.fromtimestamp(made.ends_at, zone)
    state = made.state(now)
    color = WINDOW_COLORS.get(state)
    return (
        f"{made.id}  {click.style(state, fg=color)}  {made.schedule}: {made.who}  "
        f"{_iso(start)} -> {_iso(end)}  by {made.created_by or '-'}: {made.comment}"
    )


@override.command("cancel")
@click.argument("override_id", metavar="ID")
@by_option("Who cancels it")
def override_cancel(override_id: str, by: str | None) -> Result:
    """End override ID now (its id, or its first 4+ characters): the schedule decides again."""
    refuse_sandbox("override cancel", "it holds no override an earlier command made")
    kit = State.current().notifier()
    ended = kit.cancel_override(override_id, by=by)
    return Result(ended.to_dict(kit.clock()), [f"cancelled {ended.id}"], EXIT_OK)


COMMANDS = (oncall, override)
