"""``notifykit heartbeats``: each dead-man's switch of ``heartbeats:`` with its last beat, when the
next is due, its state and the URL its job calls; registered by :mod:`notifykit.cli.app`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from notifykit.cli.common import State, command, refuse_sandbox
from notifykit.cli.output import Line, Result

if TYPE_CHECKING:
    from notifykit.notifier import Notifier
    from notifykit.pipeline.heartbeats import HeartbeatStatus

__all__ = ["COMMANDS", "heartbeats"]

_COLORS = {"ok": "green", "never": "cyan", "late": "yellow", "missed": "red"}


@command("heartbeats")
@click.option(
    "--show-url",
    is_flag=True,
    help="Print each URL with its token (a secret: anyone with it can beat for the job).",
)
def heartbeats(show_url: bool) -> Result:
    """List the heartbeats (dead-man's switches): each one's state (ok, late, missed or never
    beaten), last beat, when the next is due, and the URL its job calls (POST or GET), its token
    shown as <token> unless --show-url. Exit 1 when one is missed."""
    refuse_sandbox("heartbeats", "no job can have beaten into it")
    kit = State.current().notifier()
    found = kit.heartbeats()
    rows = [_row(kit, s, show_url) for s in found]
    missed = any(s.state == "missed" for s in found)
    return Result(rows, _text(kit, found, rows), 1 if missed else 0)


def _row(kit: Notifier, status: HeartbeatStatus, show_url: bool) -> dict[str, Any]:
    return {**status.to_dict(), "url": kit.heartbeat_url(status.name, with_token=show_url)}


def _text(
    kit: Notifier, found: Sequence[HeartbeatStatus], rows: Sequence[dict[str, Any]]
) -> Iterator[str | Line]:
    if not found:
        yield "no heartbeats configured (heartbeats: in the config; see docs/deploy.md)"
        return
    for status, row in zip(found, rows, strict=True):
        state = click.style(f"{status.state:<6}", fg=_COLORS.get(status.state))
        last = "never" if status.last_beat is None else _when(status.last_beat)
        yield (
            f"{status.name}  {state}  last beat {last}  due {_when(status.due)}  "
            f"missed after {_when(status.deadline)}"
        )
        yield f"    {row['url'] or '(set server.public_url to get a URL)'}"
    if not kit.config.server.public_url:
        yield Line("notifykit heartbeats: server.public_url is not set: jobs have no URL to call")


def _when(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp).astimezone()
    return moment.isoformat(sep=" ", timespec="seconds")


COMMANDS: tuple[click.Command, ...] = (heartbeats,)
