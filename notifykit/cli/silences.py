"""The silence commands (Alertmanager's ``amtool silence``): ``silence add``, ``silence list``
and ``silence expire``, registered with the others by :mod:`notifykit.cli.app`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import click

from notifykit.cli.common import (
    EXIT_OK,
    WINDOW_COLORS,
    State,
    by_option,
    group,
    iso_time,
    refuse_sandbox,
)
from notifykit.cli.output import Line, Result

if TYPE_CHECKING:
    from notifykit.routing.silences import Silence

__all__ = ["COMMANDS", "silence"]


@group()
def silence() -> None:
    """Silence alerts for a while (Alertmanager's silences): add, list, expire."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True, metavar="MATCHER...")
@click.option("--for", "duration", metavar="DURATION", help="How long: 30m, 2h, 1d.")
@click.option(
    "--starts", metavar="ISO-TIME", help="When it starts (default now; without an offset, UTC)."
)
@click.option("--ends", metavar="ISO-TIME", help="When it ends (instead of --for).")
@click.option("--comment", required=True, help="Why (kept with the silence).")
@by_option("Who silences", "with it and in the audit trail")
def silence_add(
    matchers: tuple[str, ...],
    duration: str | None,
    starts: str | None,
    ends: str | None,
    comment: str,
    by: str | None,
) -> Result:
    """Silence the alerts MATCHERs match (the routes' syntax, ANDed: service=db
    'env=~"prod|stage"') for --for DURATION or until --ends. Prints the silence's id."""
    refuse_sandbox("silence add", "a silence kept there would be gone when the command ends")
    if (duration is None) == (ends is None):
        raise click.UsageError("give either --for DURATION (2h) or --ends ISO-TIME")
    made = (
        State.current()
        .notifier()
        .silence(
            matchers,
            duration=duration,
            starts_at=iso_time(starts, "--starts"),
            ends_at=iso_time(ends, "--ends"),
            comment=comment,
            by=by,
        )
    )
    return Result(made.to_dict(), [made.id], EXIT_OK)


@silence.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Include expired silences.")
def silence_list(include_expired: bool) -> Result:
    """List the silences in force or to come (--all: the expired ones too), newest first."""
    refuse_sandbox("silence list", "it holds no silence an earlier command made")
    notifier = State.current().notifier()
    now = notifier.clock()
    found = notifier.silences(include_expired=include_expired)
    lines = [_line(s, now) for s in found]
    return Result([s.to_dict(now) for s in found], lines or ["no silences"], EXIT_OK)


def _line(silence: Silence, now: float) -> str:
    """``id  state  until END  matchers  by WHO: comment``."""
    end = datetime.fromtimestamp(silence.ends_at, timezone.utc).astimezone()
    state = silence.state(now)
    color = WINDOW_COLORS.get(state)
    return (
        f"{silence.id}  {click.style(state, fg=color)}  until {end:%Y-%m-%d %H:%M:%S}  "
        f"{', '.join(str(m) for m in silence.matchers)}  by {silence.created_by or '-'}: "
        f"{silence.comment}"
    )


@silence.command("expire")
@click.argument("silence_id", metavar="ID")
@by_option("Who expires it")
def silence_expire(silence_id: str, by: str | None) -> Result:
    """End silence ID now (its id, or its first 4+ characters): the alerts it muted go out at
    their groups' next flush if they still fire."""
    refuse_sandbox("silence expire", "it holds no silence an earlier command made")
    notifier = State.current().notifier()
    expired = notifier.expire_silence(silence_id, by=by)
    return Result(
        expired.to_dict(notifier.clock()),
        [f"expired {expired.id}", Line("alerts it muted go out at their next flush")],
        EXIT_OK,
    )


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (silence,)
