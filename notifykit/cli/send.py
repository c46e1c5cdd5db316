"""``notifykit notify`` and ``notifykit send``: a notification, or one message through one channel,
sent now; Ctrl-C and SIGTERM while they send are honest (what may have gone out is named, what
was not started stays in the ledger for a worker)."""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from notifykit.cli.common import (
    EXIT_UNKNOWN,
    EXIT_USAGE,
    SEVERITY,
    State,
    command,
    data_options,
    exit_code,
    notification_options,
    parse_data,
    parse_labels,
    say,
    split_list,
)
from notifykit.cli.complete import complete_channels, complete_events, complete_recipients
from notifykit.cli.output import Line, Result, error, report_lines
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.channels.stop import SendStop
    from notifykit.model import Delivery, Report
    from notifykit.notifier import Notifier

__all__ = ["COMMANDS", "notify", "send"]


@command()
@click.argument("event", shell_complete=complete_events)
@notification_options
@click.option("--key", metavar="K", help="The alert key (default: the event and its labels).")
@click.option("--resolved", is_flag=True, help="The alert is over: stop its escalation.")
def notify(
    event: str,
    severity: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    to: tuple[str, ...],
    channels: tuple[str, ...],
    template: str | None,
    labels: tuple[str, ...],
    key: str | None,
    resolved: bool,
) -> Result:
    """Send a notification for EVENT, like notify() in Python.

    Ctrl-C or SIGTERM while it sends starts no new request: the ones in flight are recorded,
    the others stay pending in the ledger (for `notifykit worker`), and it exits 4 naming the
    deliveries that may have been sent (3 if none was); a second signal stops waiting for the
    requests in flight (recorded unknown)."""
    payload = parse_data(data, data_json)
    notifier = State.current().notifier()
    return _honestly(
        "notify",
        notifier,
        lambda: notifier.notify(
            event,
            severity=severity,
            data=payload,
            to=split_list(to),
            channels=split_list(channels),
            template=template,
            labels=parse_labels(labels),
            key=key,
            resolved=resolved,
        ),
    )


@command()
@click.argument("kind")
@click.option("--channel", metavar="C", help="Channel name (default: the only one of KIND).",
              shell_complete=complete_channels)  # fmt: skip
@click.option("--to", "-t", multiple=True, required=True, metavar="R",
              help="Recipient, group or phone number; repeatable.",
              shell_complete=complete_recipients)  # fmt: skip
@click.option("--body", "-b", metavar="TEXT", help="The text to send (instead of a template).")
@click.option("--template", metavar="T", help="Template to render (default: defaults.template).")
@data_options
@click.option("--severity", "-s", type=SEVERITY, default="info", show_default=True)
def send(
    kind: str,
    channel: str | None,
    to: tuple[str, ...],
    body: str | None,
    template: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    severity: str,
) -> Result:
    """Send one message through one configured channel of KIND (what its channel type delivers:
    sms, call, flow with the Exotel plugin; `notifykit plugins` lists them)."""
    if body is not None and template is not None:
        raise click.UsageError("give --body or --template, not both")
    notifier = State.current().notifier()
    kinds = sorted({notifier.channel_type(n).kind for n in notifier.channels})
    if kind not in kinds:
        from notifykit.config.schema import did_you_mean

        raise click.UsageError(
            f"no channel of kind {kind!r}{did_you_mean(kind, kinds)} is configured; "
            f"kinds configured: {', '.join(kinds) or 'none'}"
        )
    of_kind = [n for n in notifier.channels if notifier.channel_type(n).kind == kind]
    if channel is None:
        if len(of_kind) != 1:
            found = ", ".join(of_kind) or "none"
            raise click.UsageError(
                f"pick the channel with --channel: {len(of_kind)} {kind} channels configured "
                f"({found})"
            )
        channel = of_kind[0]
    elif channel in notifier.channels and channel not in of_kind:
        actual = notifier.channel_type(channel)
        raise click.UsageError(
            f"channel {channel!r} is a {actual.kind} channel ({actual.name}), not {kind}"
        )
    if body is not None and notifier.channel_type(channel).template_suffix is None:
        raise click.UsageError(
            f"a {kind} channel carries no text (it connects two numbers): drop --body"
        )
    payload = parse_data(data, data_json)
    return _honestly(
        "send",
        notifier,
        lambda: notifier.send(
            channel,
            to=split_list(to),
            body=body,
            template=template,
            data=payload,
            severity=severity,
            event=f"send.{kind}",
        ),
    )


def _honestly(command: str, notifier: Notifier, sending: Callable[[], Report]) -> Result:
    """What ``sending()`` sent, under :func:`_sending`'s signal handlers. They stay until the
    command's context closes: the report is printed under them too, so a signal then cannot
    turn a send that went out into "Aborted." (exit 3)."""
    stop = click.get_current_context().with_resource(_sending(command))
    try:
        report = sending()
    except KeyboardInterrupt:
        interrupted = _interrupted_report(notifier, stop)
        if interrupted is None:
            raise  # nothing was stored: "Aborted."
        stop.abandon("SIGINT")
        report = interrupted
    if stop.stopped:
        return _interrupted(report, stop, notifier.ledger.location)
    return _sent(report)


def _sent(report: Report) -> Result:
    """A send's report: as JSON, its ``to_dict()``; as text, the table, each channel's message
    and the report's notes, after a line saying a ``--sandbox`` run left nothing go out."""
    return Result(
        report.to_dict(), _report_text(report, State.current().sandbox), exit_code(report)
    )


def _report_text(report: Report, sandbox: bool) -> Iterator[str]:
    if sandbox and report.dry_run:
        yield click.style("sandbox, dry run: ", fg="cyan") + "nothing was sent"
    elif sandbox:
        yield (
            click.style("sandbox: ", fg="cyan")
            + "sent to a throwaway local provider simulator; nothing left this machine"
        )
    yield from report_lines(report, show_messages=True)
    for note in getattr(report, "notes", ()):
        yield click.style("note: ", fg="yellow") + note


# -- Ctrl-C and SIGTERM while sending (notify, send) --------------------------------------------

#: may have reached the provider: never resend them blindly
_MAYBE_SENT = (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.UNKNOWN)
#: how many deliveries an interrupted run names on stderr (``--json`` has them all)
_NAMED = 10


@contextmanager
def _sending(command: str) -> Iterator[SendStop]:
    """SIGINT and SIGTERM while ``command`` sends are honest. The first starts no new request:
    the requests in flight finish and are recorded with the provider's answer, and the
    deliveries not started stay ``pending`` in the ledger (leases released, for a worker). A
    second stops waiting for the requests in flight (recorded ``unknown``: they may have been
    sent); a third acts as usual (Ctrl-C raises, SIGTERM kills)."""
    from notifykit.channels.stop import SendStop, stopping_on

    stop = SendStop()
    if threading.current_thread() is not threading.main_thread():  # no signals here
        with stopping_on(stop):
            yield stop
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if not stop.stopped:
            stop.stop(name)
            say(
                f"notifykit {command}: {name}: starting no new request; waiting for the ones in "
                f"flight ({name} again to stop waiting)"
            )
            return
        stop.abandon(name)
        for signum_, old in previous.items():
            signal.signal(signum_, old)
        say(f"notifykit {command}: {name} again: not waiting for the requests in flight")

    previous.update({s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)})
    try:
        with stopping_on(stop):
            yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _interrupted_report(notifier: Notifier, stop: SendStop) -> Report | None:
    """After a KeyboardInterrupt (a third signal) out of a send: what the ledger holds of the
    notifications it was sending, as one report; None when none was stored yet."""
    if not stop.notifications:
        return None
    reports = [notifier.ledger.report(i) for i in dict.fromkeys(stop.notifications)]
    deliveries = tuple(d for r in reports for d in r.deliveries)
    return dataclasses.replace(reports[0], deliveries=deliveries)


def _interrupted(report: Report, stop: SendStop, location: str) -> Result:
    """The report of a send interrupted by a signal, and a line naming every delivery that may
    have been sent (on stderr, with ``--json`` too). Exit 4 when any may have been sent (do not
    resend blindly), 3 when nothing was; the deliveries not started are ``pending`` in the
    ledger, for a worker."""
    maybe = [d for d in report.deliveries if d.state in _MAYBE_SENT]
    pending = [d for d in report.deliveries if d.state is DeliveryState.PENDING]
    code = EXIT_UNKNOWN if maybe else EXIT_USAGE
    data = {
        **report.to_dict(),
        "interrupted": stop.reason,
        "exit_code": code,
        "may_have_been_sent": [d.id for d in maybe],
        "not_sent_pending": [d.id for d in pending],
    }
    reason = stop.reason or "interrupted"
    if maybe:
        after = [
            error(
                f"interrupted ({reason}): {len(maybe)} deliver{'y' if len(maybe) == 1 else 'ies'} "
                f"may have been sent; do NOT resend {'it' if len(maybe) == 1 else 'them'} "
                "blindly: " + _named(maybe)
            )
        ]
    else:
        after = [error(f"interrupted ({reason}): nothing was sent")]
    if pending:
        n = len(pending)
        where = (
            "pending in this process's in-memory ledger, which ends with it"
            if location == ":memory:"
            else f"pending in {location}, for `notifykit worker` to send"
        )
        after.append(Line(f"{n} deliver{'y was' if n == 1 else 'ies were'} not sent: {where}"))
    return Result(data, report_lines(report, show_messages=False), code, after)


def _named(deliveries: Sequence[Delivery]) -> str:
    shown = []
    for d in deliveries[:_NAMED]:
        sid = f", {d.provider_id}" if d.provider_id else ""
        to = d.recipient if d.address in (None, d.recipient) else f"{d.recipient} {d.address}"
        shown.append(f"{d.id} ({d.channel} -> {to}: {d.state}{sid})")
    more = len(deliveries) - _NAMED
    return "; ".join(shown) + (f"; and {more} more (--json lists them all)" if more > 0 else "")


#: what this module adds to the ``notifykit`` group (registered by :mod:`notifykit.cli.app`)
COMMANDS = (notify, send)
