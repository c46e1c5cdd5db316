"""The command line's one output layer. A command returns what it found as a :class:`Result`: the
value ``--json`` prints, the text printed otherwise, and its exit code; :func:`render` prints
one or the other, so no command looks at ``--json`` and the two outputs cannot drift apart.

Also here: the text forms several commands share (an ``error:`` line, a report's table). This
module knows nothing of the command's state; :class:`notifykit.cli.common.Command` hands it the
``--json`` flag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.model import Delivery, Report

__all__ = [
    "Line",
    "Result",
    "display_state",
    "error",
    "mapping_lines",
    "print_json",
    "render",
    "report_lines",
]

_STATUS_COLORS = {
    "sent": "green",
    "delivered": "green",
    "dry-run": "cyan",
    "pending": "cyan",
    "failed": "red",
    "unknown": "yellow",
    "skipped": "yellow",
}


@dataclass(frozen=True)
class Line:
    """A line of text output on stderr (a plain ``str`` in a text is a line on stdout)."""

    text: str


@dataclass(frozen=True)
class Result:
    """What a command answers.

    ``data`` is what ``--json`` prints (one JSON document on stdout). ``text`` is what a person
    reads instead: lines on stdout, and :class:`Line` s on stderr, in order; a generator is only
    run without ``--json``. ``after`` are stderr lines printed last in both forms (what a script
    must see on stderr too: an interrupted send naming what may have been sent). ``code`` is the
    command's exit code.
    """

    data: Any
    text: Iterable[str | Line] = ()
    code: int = 0
    after: Sequence[Line] = ()


def render(result: Result, *, as_json: bool) -> int:
    """Print ``result`` as JSON (``as_json``) or as text; its exit code."""
    if as_json:
        print_json(result.data)
    else:
        for line in result.text:
            if isinstance(line, Line):
                click.echo(line.text, err=True)
            else:
                click.echo(line)
    for line in result.after:
        click.echo(line.text, err=True)
    return result.code


def print_json(value: Any) -> None:
    """``value`` as the one JSON document on stdout (indented, UTF-8 kept, anything else as its
    ``str``)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def error(message: str) -> Line:
    """``error: message`` on stderr."""
    return Line(click.style("error: ", fg="red", bold=True) + message)


def mapping_lines(mapping: Mapping[str, Any]) -> Iterator[str]:
    """``key  value`` lines, the values aligned; keys whose value is ``None`` left out."""
    width = max((len(k) for k in mapping), default=0)
    for key, value in mapping.items():
        if value is not None:
            yield f"{key.ljust(width)}  {value}"


# -- a report as text ----------------------------------------------------------------------------


def display_state(report: Report, state: DeliveryState) -> str:
    """A delivery's state as printed: a dry run's planned deliveries read ``dry-run``."""
    if report.dry_run and state is DeliveryState.PENDING:
        return "dry-run"
    return state.value


def _shown_state(report: Report, d: Delivery) -> str:
    """A delivery's state as printed: a fallback not needed (yet) reads ``standby``."""
    return "standby" if d.standby else display_state(report, d.state)


def _display_counts(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in report.deliveries:
        shown = _shown_state(report, d)
        counts[shown] = counts.get(shown, 0) + 1
    return counts


def _failover_details(report: Report) -> dict[str, str]:
    """What each delivery of a failover chain says of it (docs/failover.md): ``fallback of
    sms`` on a fallback, ``fell over to sms-backup`` on the delivery it stood in for."""
    by_id = {d.id: d for d in report.deliveries}
    out: dict[str, str] = {}
    for d in report.deliveries:
        before = by_id.get(d.fallback_of or "")
        if before is None:
            continue
        out[d.id] = f"fallback of {before.channel}"
        if not d.standby:
            out[before.id] = f"fell over to {d.channel}"
    return out


def report_lines(report: Report, *, show_messages: bool) -> Iterator[str]:
    """A report for people: a head line with the counts by state, each channel's message (with
    ``show_messages``), and a table of the deliveries."""
    if getattr(report, "deduplicated", False):
        head = click.style(f"{report.event} ({report.severity}): deduplicated", bold=True)
        yield (
            f"{head}: nothing was sent (the same alert went out before: notifykit history "
            f"{report.id})"
        )
        return
    counts = ", ".join(
        click.style(f"{n} {status}", fg=_STATUS_COLORS.get(status))
        for status, n in _display_counts(report).items()
    )
    n = len(report.deliveries)
    head = f"{report.event} ({report.severity}): {n} deliver{'y' if n == 1 else 'ies'}"
    yield f"{click.style(head, bold=True)}: {counts}"
    if show_messages:
        yield from _message_lines(report)
    rows = []
    chained = _failover_details(report)
    for d in report.deliveries:
        details = []
        if d.id in chained:
            details.append(chained[d.id])
        if d.encoding:
            segments = d.segments or 0
            details.append(
                f"{d.encoding}, {d.info.get('chars', '?')} chars, "
                f"{segments} segment{'s' if segments != 1 else ''}"
            )
        if d.error:
            details.append(d.error)
        rows.append(
            (
                d.channel,
                d.channel_type,
                d.recipient,
                d.address or "-",
                _shown_state(report, d),
                d.provider_id or "-",
                "; ".join(details),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)] if rows else []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(6)]
        cells[4] = click.style(cells[4], fg=_STATUS_COLORS.get(row[4]))
        line = "  " + "  ".join(cells)
        yield f"{line}  {row[6]}".rstrip()


def _message_lines(report: Report) -> Iterator[str]:
    """Each channel's text; a channel with several distinct texts (a routed alert whose
    receivers render differently) shows each, with the receivers it went to."""
    several: dict[str, list[tuple[str | None, tuple[str, ...]]]] = {}
    for t in getattr(report, "texts", ()):
        several.setdefault(t.channel, []).append((t.text, t.receivers))
    for channel, text in report.messages.items():
        for body, receivers in several.get(channel) or [(text, ())]:
            if body is None:
                continue
            to = f" ({', '.join(receivers)})" if receivers else ""
            indented = body.replace("\n", "\n    ")
            yield f"  {click.style(channel, bold=True)} message{to}:\n    {indented}"
