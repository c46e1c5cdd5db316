"""The ``notifykit`` command line (also ``python -m notifykit``).

Exit codes (the same table is in ``--help`` and docs/cli.md):

====  ==========================================================================================
0     Success: every delivery was sent (or, with ``--dry-run``, would have been).
1     Partial: some deliveries were sent; the others failed or were skipped, and none has an
      unknown outcome. Re-send only the failed ones (``--json`` lists them).
2     Nothing was delivered and nothing can have gone out: every delivery failed or was skipped
      before reaching the provider, or a ``status`` lookup failed. Safe to retry.
3     Usage or configuration error (bad arguments, invalid config, unknown template, recipient
      or channel, DLT mismatch...): nothing was sent.
4     Unknown outcome: at least one delivery may have reached the provider without an answer
      (a dropped connection, a timeout after the request...). Do NOT retry blindly: that can
      send twice; look the message up first. Also the code of an unexpected internal error,
      since whatever it interrupted may have been sent, and of a delivery left ``pending`` for
      a worker (it will still go out). ``unknown`` wins over 1 and 2.
====  ==========================================================================================

Errors are one clear line on stderr (a config error lists each problem on its own line), never a
traceback, unless ``NOTIFYKIT_DEBUG=1``. ``-v/--verbose`` shows the HTTP requests, retries and rate
limiter waits on stderr, secrets scrubbed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import click

from notifykit import __version__
from notifykit.cli.complete import complete_channels, complete_events, complete_recipients
from notifykit.cli.logs import LogSetup, instrument_clients, setup_logging
from notifykit.cli.scaffold import init_command
from notifykit.errors import (
    ConfigError,
    ConfigProblem,
    LedgerError,
    NotifykitError,
    ProviderError,
)
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.channels.stop import SendStop
    from notifykit.model import Delivery, Report
    from notifykit.notifier import Notifier
    from notifykit.plugins import Registry

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "cli",
    "exit_code",
    "main",
]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_FAILED = 2
EXIT_USAGE = 3
EXIT_UNKNOWN = 4

#: code -> one line, for ``--help``
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "every delivery sent (or would be, with --dry-run)",
    EXIT_PARTIAL: "some sent, the others failed or skipped, none unknown",
    EXIT_FAILED: "nothing delivered and nothing can have gone out: safe to retry",
    EXIT_USAGE: "usage or configuration error: nothing sent",
    EXIT_UNKNOWN: "some deliveries may have been sent (unknown): do NOT retry blindly",
}

_STATUS_COLORS = {
    "sent": "green",
    "delivered": "green",
    "dry-run": "cyan",
    "pending": "cyan",
    "failed": "red",
    "unknown": "yellow",
    "skipped": "yellow",
}


class _Failure(Exception):
    """A command failed in a way already explained: print ``message`` and exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class NotifykitGroup(click.Group):
    """A click group whose ``main`` maps every outcome onto notifykit's four exit codes."""

    #: set by the group callback from ``--json``: errors are then also printed as JSON on stdout
    json_errors = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._run(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        **extra: Any,
    ) -> int:
        self.json_errors = False
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as err:  # not KeyboardInterrupt: ^C still stops with its traceback
            code = self._failed(err)
            if self.json_errors and not isinstance(err, click.exceptions.Exit):
                _json_error(err, code)
            return code
        return result if isinstance(result, int) else EXIT_OK

    def _failed(self, error: Exception) -> int:
        """Explain ``error`` on stderr in one line (or one per config problem); its exit code."""
        debug = os.environ.get("NOTIFYKIT_DEBUG", "") not in ("", "0")
        try:
            raise error
        except click.exceptions.Exit as err:  # --help, --version
            return int(err.exit_code)
        except click.exceptions.NoArgsIsHelpError as err:
            click.echo(err.ctx.get_help() if err.ctx else str(err), err=True)
            return EXIT_USAGE
        except click.ClickException as err:  # usage errors, bad parameters, missing files
            err.show()
            return EXIT_USAGE
        except click.Abort:
            click.echo("Aborted.", err=True)
            return EXIT_USAGE
        except _Failure as err:
            _error(err.message)
            return err.code
        except ConfigError as err:
            _error(f"invalid configuration ({len(err.problems)} problem(s)):")
            for problem in err.problems:
                click.echo(f"  {problem}", err=True)
            return EXIT_USAGE
        except (ProviderError, LedgerError) as err:
            # A ledger that cannot record a notification refuses it before anything is sent.
            _error(str(err))
            return EXIT_FAILED
        except NotifykitError as err:
            _error(f"{type(err).__name__}: {err}")
            return EXIT_USAGE
        except Exception as err:
            if debug:
                raise
            # Exit 4, not 2: the error may have interrupted a send that reached the provider.
            _error(
                f"internal error: {type(err).__name__}: {err} (whatever it interrupted may have "
                "been sent; run with NOTIFYKIT_DEBUG=1 for a traceback)"
            )
            return EXIT_UNKNOWN


def _json_error(err: Exception, code: int) -> None:
    """With ``--json``, a failed command still prints one JSON object on stdout, so a script
    piping the output into ``jq`` gets ``ok: false`` and the reason instead of nothing."""
    if isinstance(err, click.ClickException):
        message = err.format_message()
    elif isinstance(err, _Failure):
        message = err.message
    else:
        message = str(err)
    error: dict[str, Any] = {"type": type(err).__name__, "message": message}
    if isinstance(err, ConfigError):
        error["message"] = f"invalid configuration ({len(err.problems)} problem(s))"
        error["problems"] = [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message}
            for p in err.problems
        ]
    payload = {"ok": False, "exit_code": code, "error": error}
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def _error(message: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)


#: the commands that show a progress line while a send waits on a rate limit
_PROGRESS_COMMANDS = frozenset({"notify", "send", "resolve"})


@dataclass
class _State:
    config: str | None
    sandbox: bool
    dry_run: bool
    json: bool
    logs: LogSetup
    registry: Registry | None = None
    _notifier: Notifier | None = None

    @property
    def verbose(self) -> bool:
        return self.logs.verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        if value:
            self.logs.set_verbose()

    def notifier(self) -> Notifier:
        if self._notifier is None:
            from notifykit.notifier import Notifier

            notifier = Notifier.from_config(
                self.config_path(), sandbox=self.sandbox, dry_run=self.dry_run
            )
            click.get_current_context().call_on_close(notifier.close)
            self.loaded(notifier.config)
            warn_unset(notifier.config)
            if self.verbose and not self.dry_run:
                instrument_clients(notifier)
            self._show_rate_progress(notifier)
            self._notifier = notifier
        return self._notifier

    def _show_rate_progress(self, notifier: Notifier) -> None:
        """A send that waits on a rate limit says so on stderr: only on a terminal, never with
        ``--json`` (see :mod:`notifykit.cli.progress`)."""
        ctx = click.get_current_context()
        if self.json or self.dry_run or ctx.info_name not in _PROGRESS_COMMANDS:
            return
        stream = sys.stderr
        if not stream.isatty():
            return
        from notifykit.cli.progress import watch_rate_limits

        ctx.call_on_close(watch_rate_limits(notifier, stream).close)

    def loaded(self, config: Any) -> None:
        """A config was loaded: its secrets are scrubbed from every log line from now on."""
        self.logs.scrub.add(getattr(config, "secrets", ()))

    def config_path(self) -> Path:
        from notifykit.config.loader import find_config

        return find_config(self.config)

    def output(self, payload: Any) -> None:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def warn_unset(config: Any) -> None:
    """A run that sends nothing went on without some ``${VAR}``s: one ``warning:`` line on
    stderr for each (stdout stays the command's output, ``--json`` included)."""
    unset = {(p.line, p.path) for p in getattr(config, "unset", ())}
    for warning in getattr(config, "warnings", ()):
        if (warning.line, warning.path) in unset:
            click.echo(click.style("warning: ", fg="yellow") + str(warning), err=True)


def _state() -> _State:
    state = click.get_current_context().find_object(_State)
    assert state is not None
    return state


def refuse_sandbox(command: str, why: str) -> None:
    """A command that needs a ledger lasting beyond itself refuses ``--sandbox``, whose ledger is
    in memory and dies with the process: ``why`` says what would go wrong there."""
    if _state().sandbox:
        raise _Failure(
            f"--sandbox keeps its ledger in memory, for this one command: {why}. Run "
            f"`notifykit {command}` without --sandbox (it uses the config's store:), or try a "
            "send on the local simulator with `notifykit --sandbox notify EVENT`",
            EXIT_USAGE,
        )


#: How deep --data-json / KEY:=JSON values may nest. Far more than any template needs, and far
#: below the depth at which json, Jinja or the report's JSON output would hit Python's recursion
#: limit (which is an internal error, not a usage error).
MAX_DATA_DEPTH = 32


def _load_json(text: str, param_hint: str, what: str) -> Any:
    """``json.loads`` with every failure a usage error (exit 3) that says what to fix."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise click.BadParameter(f"{what}not valid JSON: {err}", param_hint=param_hint) from None
    except RecursionError:
        value = None
        depth = MAX_DATA_DEPTH + 1
    else:
        depth = _depth(value)
    if depth > MAX_DATA_DEPTH:
        raise click.BadParameter(
            f"{what}JSON nested too deeply (more than {MAX_DATA_DEPTH} levels of objects or "
            "lists); pass flatter data",
            param_hint=param_hint,
        )
    return value


def _depth(value: Any) -> int:
    """How many levels of lists and objects ``value`` nests (iteratively: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > MAX_DATA_DEPTH:
                return deepest
        stack.extend((child, level) for child in children)
    return deepest


def _parse_data(items: Sequence[str], data_json: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if data_json:
        loaded = _load_json(data_json, "--data-json", "")
        if not isinstance(loaded, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--data-json")
        data.update(loaded)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE (or KEY:=JSON)", param_hint="--data"
            )
        if key.endswith(":"):
            shown = item if len(item) <= 60 else item[:57] + "..."
            data[key[:-1]] = _load_json(value, "--data", f"{shown!r}: after ':=': ")
        else:
            data[key] = value
    return data


def _split(values: Sequence[str]) -> list[str] | None:
    """``--to a --to b,c`` as ``[a, b, c]``; ``None`` when not given."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def exit_code(report: Report) -> int:
    """The exit code for a report: any ``unknown`` delivery makes it 4 (may have been sent), so a
    script that retries on 2 (or re-sends the failures on 1) never sends twice; so does one left
    ``pending`` for a worker (held back by our own infrastructure: it will still go out)."""
    if report.unknown or (
        not report.dry_run and any(d.state is DeliveryState.PENDING for d in report.deliveries)
    ):
        return EXIT_UNKNOWN
    if report.ok:
        return EXIT_OK
    return EXIT_PARTIAL if report.succeeded else EXIT_FAILED


def _display_state(report: Report, state: DeliveryState) -> str:
    """A delivery's state as printed: a dry run's planned deliveries read ``dry-run``."""
    if report.dry_run and state is DeliveryState.PENDING:
        return "dry-run"
    return state.value


def _display_counts(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in report.deliveries:
        shown = _display_state(report, d.state)
        counts[shown] = counts.get(shown, 0) + 1
    return counts


def _print_report(report: Report, *, show_messages: bool) -> None:
    if getattr(report, "deduplicated", False):
        head = click.style(f"{report.event} ({report.severity}): deduplicated", bold=True)
        click.echo(
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
    click.echo(f"{click.style(head, bold=True)}: {counts}")
    if show_messages:
        _print_messages(report)
    rows = []
    for d in report.deliveries:
        details = []
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
                _display_state(report, d.state),
                d.provider_id or "-",
                "; ".join(details),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)] if rows else []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(6)]
        cells[4] = click.style(cells[4], fg=_STATUS_COLORS.get(row[4]))
        line = "  " + "  ".join(cells)
        click.echo(f"{line}  {row[6]}".rstrip())


def _print_messages(report: Report) -> None:
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
            click.echo(f"  {click.style(channel, bold=True)} message{to}:\n    {indented}")


def _finish(report: Report) -> int:
    state = _state()
    if state.json:
        state.output(report.to_dict())
    else:
        if state.sandbox and report.dry_run:
            click.echo(click.style("sandbox, dry run: ", fg="cyan") + "nothing was sent")
        elif state.sandbox:
            click.echo(
                click.style("sandbox: ", fg="cyan")
                + "sent to a throwaway local provider simulator; nothing left this machine"
            )
        _print_report(report, show_messages=True)
        for note in getattr(report, "notes", ()):
            click.echo(click.style("note: ", fg="yellow") + note)
    return exit_code(report)


# -- Ctrl-C and SIGTERM while sending (notify, send) --------------------------------------------

#: may have reached the provider: never resend them blindly
_MAYBE_SENT = (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.UNKNOWN)
#: how many deliveries an interrupted run names on stderr (``--json`` has them all)
_NAMED = 10


def _say(text: str) -> None:
    """A line on stderr from a signal handler: if the main thread was itself writing to stderr,
    a buffered write would raise "reentrant call"; the line is then dropped, not the run."""
    with suppress(RuntimeError, OSError, ValueError):
        click.echo(text, err=True)


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
            _say(
                f"notifykit {command}: {name}: starting no new request; waiting for the ones in "
                f"flight ({name} again to stop waiting)"
            )
            return
        stop.abandon(name)
        for signum_, old in previous.items():
            signal.signal(signum_, old)
        _say(f"notifykit {command}: {name} again: not waiting for the requests in flight")

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


def _finish_interrupted(report: Report, stop: SendStop, location: str) -> int:
    """The report of a send interrupted by a signal, and a line naming every delivery that may
    have been sent. Exit 4 when any may have been sent (do not resend blindly), 3 when
    nothing was; the deliveries not started are ``pending`` in the ledger, for a worker."""
    state = _state()
    maybe = [d for d in report.deliveries if d.state in _MAYBE_SENT]
    pending = [d for d in report.deliveries if d.state is DeliveryState.PENDING]
    code = EXIT_UNKNOWN if maybe else EXIT_USAGE
    if state.json:
        state.output(
            {
                **report.to_dict(),
                "interrupted": stop.reason,
                "exit_code": code,
                "may_have_been_sent": [d.id for d in maybe],
                "not_sent_pending": [d.id for d in pending],
            }
        )
    else:
        _print_report(report, show_messages=False)
    reason = stop.reason or "interrupted"
    if maybe:
        _error(
            f"interrupted ({reason}): {len(maybe)} deliver{'y' if len(maybe) == 1 else 'ies'} "
            f"may have been sent; do NOT resend {'it' if len(maybe) == 1 else 'them'} blindly: "
            + _named(maybe)
        )
    else:
        _error(f"interrupted ({reason}): nothing was sent")
    if pending:
        n = len(pending)
        where = (
            "pending in this process's in-memory ledger, which ends with it"
            if location == ":memory:"
            else f"pending in {location}, for `notifykit worker` to send"
        )
        click.echo(f"{n} deliver{'y was' if n == 1 else 'ies were'} not sent: {where}", err=True)
    return code


def _named(deliveries: Sequence[Delivery]) -> str:
    shown = []
    for d in deliveries[:_NAMED]:
        sid = f", {d.provider_id}" if d.provider_id else ""
        to = d.recipient if d.address in (None, d.recipient) else f"{d.recipient} {d.address}"
        shown.append(f"{d.id} ({d.channel} -> {to}: {d.state}{sid})")
    more = len(deliveries) - _NAMED
    return "; ".join(shown) + (f"; and {more} more (--json lists them all)" if more > 0 else "")


# -- the command group ------------------------------------------------------------------------


def _exit_code_epilog() -> str:
    rows = "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    return f"\b\nExit codes:\n{rows}"


@click.group(
    name="notifykit",
    cls=NotifykitGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_exit_code_epilog(),
)
@click.option(
    "--config",
    "-c",
    "config",
    metavar="FILE",
    help="Config file (default: $NOTIFYKIT_CONFIG, then ./notifykit.yaml).",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Run against throwaway local provider simulators: no account or secrets needed.",
)
@click.option("--dry-run", is_flag=True, help="Render and route, but send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Show HTTP requests (method, path, status, ms), retries and rate-limiter waits on "
    "stderr, secrets scrubbed.",
)
@click.version_option(__version__, "--version", prog_name="notifykit")
@click.pass_context
def cli(
    ctx: click.Context,
    config: str | None,
    sandbox: bool,
    dry_run: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """notifykit: send notifications (SMS, calls, IVR flows...) as a YAML config says.

    Start with `notifykit init` (a commented config and example templates), then
    `notifykit --sandbox notify db.down --data host=db1` (a local simulator, no account).
    """
    logs = setup_logging(ctx, verbose=verbose)
    ctx.obj = _State(config=config, sandbox=sandbox, dry_run=dry_run, json=as_json, logs=logs)
    if isinstance(ctx.command, NotifykitGroup):
        ctx.command.json_errors = as_json


_data_options = [
    click.option("--data", "-d", "data", multiple=True, metavar="KEY=VALUE",
                 help="Template data; repeatable. KEY:=JSON for non-string values."),
    click.option("--data-json", metavar="JSON", help="Template data as one JSON object."),
]  # fmt: skip


def parse_labels(items: Sequence[str], param_hint: str = "--label") -> dict[str, str]:
    """``--label k=v`` options as a mapping (the last of a repeated name wins)."""
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=param_hint)
        labels[name.strip()] = value
    return labels


def _with_data(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_data_options):
        f = option(f)
    return f


_SEVERITY = click.Choice(["info", "warning", "error", "critical"])


def notification_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``notify`` and ``submit`` share: what notify() takes."""
    options = [
        click.option("--severity", "-s", type=_SEVERITY, help="Default: the event's, then defaults'."),
        *_data_options,
        click.option("--to", "-t", multiple=True, metavar="R", help="Recipient, group or phone number.",
                     shell_complete=complete_recipients),
        click.option("--channel", "channels", multiple=True, metavar="C", help="Channel name.",
                     shell_complete=complete_channels),
        click.option("--template", metavar="T", help="Template name (default: the event's)."),
        click.option("--label", "-l", "labels", multiple=True, metavar="K=V",
                     help="Alert label (what routes match); repeatable."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
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
) -> int:
    """Send a notification for EVENT, like notify() in Python.

    Ctrl-C or SIGTERM while it sends starts no new request: the ones in flight are recorded,
    the others stay pending in the ledger (for `notifykit worker`), and it exits 4 naming the
    deliveries that may have been sent (3 if none was); a second signal stops waiting for the
    requests in flight (recorded unknown)."""
    payload = _parse_data(data, data_json)
    notifier = _state().notifier()
    with _sending("notify") as stop:
        try:
            report = notifier.notify(
                event,
                severity=severity,
                data=payload,
                to=_split(to),
                channels=_split(channels),
                template=template,
                labels=parse_labels(labels),
                key=key,
                resolved=resolved,
            )
        except KeyboardInterrupt:
            interrupted = _interrupted_report(notifier, stop)
            if interrupted is None:
                raise  # nothing was stored: "Aborted."
            stop.abandon("SIGINT")
            report = interrupted
        if stop.stopped:
            return _finish_interrupted(report, stop, notifier.ledger.location)
        return _finish(report)


@cli.command()
@click.argument("kind")
@click.option("--channel", metavar="C", help="Channel name (default: the only one of KIND).",
              shell_complete=complete_channels)  # fmt: skip
@click.option("--to", "-t", multiple=True, required=True, metavar="R",
              help="Recipient, group or phone number; repeatable.",
              shell_complete=complete_recipients)  # fmt: skip
@click.option("--body", "-b", metavar="TEXT", help="The text to send (instead of a template).")
@click.option("--template", metavar="T", help="Template to render (default: defaults.template).")
@_with_data
@click.option("--severity", "-s", type=_SEVERITY, default="info", show_default=True)
def send(
    kind: str,
    channel: str | None,
    to: tuple[str, ...],
    body: str | None,
    template: str | None,
    data: tuple[str, ...],
    data_json: str | None,
    severity: str,
) -> int:
    """Send one message through one configured channel of KIND (what its channel type delivers:
    sms, call, flow with the Exotel plugin; `notifykit plugins` lists them)."""
    if body is not None and template is not None:
        raise click.UsageError("give --body or --template, not both")
    notifier = _state().notifier()
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
    payload = _parse_data(data, data_json)
    with _sending("send") as stop:
        try:
            report = notifier.send(
                channel,
                to=_split(to),
                body=body,
                template=template,
                data=payload,
                severity=severity,
                event=f"send.{kind}",
            )
        except KeyboardInterrupt:
            interrupted = _interrupted_report(notifier, stop)
            if interrupted is None:
                raise
            stop.abandon("SIGINT")
            report = interrupted
        if stop.stopped:
            return _finish_interrupted(report, stop, notifier.ledger.location)
        return _finish(report)


# -- config ------------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--strict", is_flag=True, help="Warnings (an inline secret...) fail the check too.")
@click.option(
    "--strict-events",
    is_flag=True,
    help="Events no route or events: entry names are problems (see --event).",
)
@click.option("--event", "events", multiple=True, metavar="E",
              help="An event the application sends, for --strict-events; repeatable.")  # fmt: skip
def config_check(
    file: str | None, strict: bool, strict_events: bool, events: tuple[str, ...]
) -> int:
    """Validate FILE (default: --config, $NOTIFYKIT_CONFIG, ./notifykit.yaml): print every problem
    as file:line: key.path: message, and every warning (a secret written in the file instead of
    ${ENV}, an unset ${ENV}: no secret is needed here...) as "warning: file:line: key.path:
    message". Exit 0 when valid (warnings allowed, unless --strict), 3 otherwise."""
    from notifykit.config.loader import find_config
    from notifykit.notifier import Notifier
    from notifykit.plugins import get_plugin_manager

    state = _state()
    path = find_config(file or state.config)
    try:
        # Build every channel and client too, sending nothing: their plugins check settings the
        # schema cannot (a flow needs exactly one of app_id and url...), and a config that passes
        # here must not be refused by `notify`. No secret is needed (CI has the file, not the
        # credentials): an unset ${VAR} is a warning, which --strict makes fail.
        with Notifier.from_config(
            path,
            sandbox=state.sandbox,
            dry_run=True,
            require_secrets=False,
            plugin_manager=get_plugin_manager(),
        ) as notifier:
            cfg = notifier.config
            state.loaded(cfg)
    except ConfigError as err:
        if state.json:
            state.output(
                {
                    "ok": False,
                    "file": str(path),
                    "problems": [_problem_dict(p) for p in err.problems],
                }
            )
        else:
            for problem in err.problems:
                click.echo(str(problem))
            n = len(err.problems)
            _error(f"{path}: {n} problem{'s' if n != 1 else ''}")
        return EXIT_USAGE
    exposed = _open_webhook(cfg)
    if exposed is not None:
        if state.json:
            state.output({"ok": False, "file": str(path), "problems": [_problem_dict(exposed)]})
        else:
            click.echo(str(exposed))
            _error(f"{path}: 1 problem")
        return EXIT_USAGE
    summary = {
        "accounts": len(cfg.accounts),
        "channels": len(cfg.channels),
        "recipients": len(cfg.recipients),
        "groups": len(cfg.groups),
        "templates": len(cfg.templates),
        "events": len(cfg.events),
    }
    # Config.warnings: problems that do not stop a config from working (a secret written inline).
    warnings: Sequence[ConfigProblem] = tuple(getattr(cfg, "warnings", ()) or ())
    mismatched, notes = template_problems(cfg)
    if mismatched:
        if state.json:
            state.output(
                {
                    "ok": False,
                    "file": str(path),
                    "problems": [_problem_dict(p) for p in mismatched],
                    "notes": notes,
                }
            )
        else:
            for problem in mismatched:
                click.echo(str(problem))
            for note in notes:
                click.echo(f"note: {note}")
            n = len(mismatched)
            _error(f"{path}: {n} problem{'s' if n != 1 else ''}")
        return EXIT_USAGE
    if strict_events:
        from notifykit.cli.routing import event_problems

        unknown = event_problems(cfg, _split(events) or ())
        if unknown:
            if state.json:
                state.output(
                    {
                        "ok": False,
                        "file": str(path),
                        "problems": [_problem_dict(p) for p in unknown],
                    }
                )
            else:
                for problem in unknown:
                    click.echo(str(problem))
                n = len(unknown)
                _error(f"{path}: {n} unknown event{'s' if n != 1 else ''} (--strict-events)")
            return EXIT_USAGE
    failed = strict and bool(warnings)
    if state.json:
        state.output(
            {
                "ok": not failed,
                "file": str(path),
                "problems": [],
                "warnings": [
                    {**_problem_dict(w), "message": state.logs.scrub(w.message)} for w in warnings
                ],
                "notes": notes,
                **summary,
            }
        )
    else:
        for warning in warnings:
            click.echo(click.style("warning: ", fg="yellow") + state.logs.scrub(str(warning)))
        for note in notes:
            click.echo(f"note: {note}")
        parts = ", ".join(f"{n} {k if n != 1 else k[:-1]}" for k, n in summary.items())
        n = len(warnings)
        noted = f", {n} warning{'s' if n != 1 else ''}" if n else ""
        if failed:
            _error(f"{path}: {n} warning{'s' if n != 1 else ''} (--strict)")
        else:
            click.echo(f"{path}: OK ({parts}){noted}")
    return EXIT_USAGE if failed else EXIT_OK


def template_problems(cfg: Any) -> tuple[list[ConfigProblem], list[str]]:
    """``config check``: render each variant of each template with ``templates:`` settings with
    sample values and run the checks ``templates render`` runs (each channel type's
    ``inspect``: for Exotel SMS, length and the DLT pattern), so a template edited away from its
    registered text is a problem at the entry's line rather than a refusal at the first alert.

    Returns the problems, and notes on templates sample values could not render (a filter that
    needs a real date, say), which are left to ``templates render --data``.
    """
    from notifykit.errors import TemplateError

    engine = cfg.template_engine
    inspected = {
        ct.template_suffix for ct in _registry().channel_types.values() if ct.inspect is not None
    }
    problems: list[ConfigProblem] = []
    notes: list[str] = []
    for name, settings in cfg.templates.items():
        event, severity = _sample_event(cfg, name)
        for variant in _template_suffixes():
            qualified = f"{name}.{variant}"
            if variant not in inspected or not engine.exists(qualified):
                continue
            try:
                body = _render_with_samples(engine, qualified, event, severity)
            except TemplateError as err:
                notes.append(
                    f"templates.{name}: {qualified} could not be rendered with sample values, so "
                    f"it was not checked against its settings ({err}); check it with "
                    f"`notifykit templates render {qualified} --data KEY=VALUE...`"
                )
                continue
            failed = [i for i in _inspections(variant, body, settings) if not i.ok]
            if failed:
                lines = [line for i in failed for line in i.lines]
                # the lines templates render shows in red (see _styled_check), if it marks any
                bad = [line for line in lines if "MISMATCH" in line or "OVER " in line]
                shown = body if len(body) <= 160 else body[:159] + "…"
                problems.append(
                    ConfigProblem(
                        cfg.source,
                        cfg.template_lines.get(name),
                        f"templates.{name}",
                        f"{qualified} ({engine.locate(qualified)}) rendered with sample values "
                        f"as {shown!r} fails its checks: {'; '.join(bad or lines)}",
                    )
                )
    return problems, notes


def _sample_event(cfg: Any, template: str) -> tuple[str, str]:
    """The event and severity to render ``template`` with: the first event using it, else an
    example event at the default severity."""
    for event in cfg.events.values():
        if event.template == template:
            return event.name, event.severity or cfg.defaults.severity
    return "example.event", cfg.defaults.severity


#: how many missing variables a template may ask for before ``config check`` gives up on it
_MAX_SAMPLES = 64


def _render_with_samples(engine: Any, name: str, event: str, severity: str) -> str:
    """Render ``name`` giving each variable it requires (a top-level name or ``data.key`` with no
    default) a sample value, its own name: ``{{ data.host }}`` renders as ``host``. What has a
    default keeps it (``data.since | default(now)``). Raises the template's error when it needs
    more than a sample string (a date, a number, a nested value)."""
    from notifykit.errors import TemplateRenderError
    from notifykit.plan.planner import template_context

    data: dict[str, Any] = {}
    for _ in range(_MAX_SAMPLES):
        try:
            return str(engine.render(name, template_context(event, severity, data)))
        except TemplateRenderError as err:
            key = (err.variable or "").removeprefix("data.")
            if not key.isidentifier() or key in data:
                raise
            data[key] = key[:20]
    return str(engine.render(name, template_context(event, severity, data)))


def _open_webhook(cfg: Any) -> ConfigProblem | None:
    """``POST /alertmanager`` reachable beyond this machine without a token (and no
    ``webhook_token: none``): a problem of the config, though it loads (notify never serves)."""
    from notifykit.config.delivery import open_webhook_problem

    server = getattr(cfg, "server", None)
    return open_webhook_problem(cfg.source, server) if server is not None else None


def _problem_dict(problem: ConfigProblem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "path": problem.path,
        "message": problem.message,
    }


def _registry() -> Registry:
    """The plugins' registry, loaded once per command."""
    from notifykit.plugins import Registry, get_plugin_manager

    state = _state()
    if state.registry is None:
        state.registry = Registry.from_manager(get_plugin_manager())
    return state.registry


# -- templates ---------------------------------------------------------------------------------


@cli.group()
def templates() -> None:
    """Render and list message templates."""


def _engine_and_settings() -> tuple[Any, Callable[[str], Any]]:
    """The config's template engine and per-template settings, or, without a config, an engine
    over ./templates and notifykit's defaults."""
    from notifykit.config.loader import find_config, load_config
    from notifykit.errors import ConfigNotFoundError

    state = _state()
    registry = _registry()
    try:
        path = find_config(state.config)
    except ConfigNotFoundError:
        if state.config:
            raise
        from notifykit.text.templates import TemplateEngine

        local = [Path("templates")] if Path("templates").is_dir() else []
        engine = TemplateEngine(
            local,
            plugin_paths=registry.template_dirs,
            filters=registry.template_filters,
            globals=registry.template_globals,
        )
        return engine, lambda name: {}
    cfg = load_config(path, registry=registry, sandbox=True)
    return cfg.template_engine, cfg.template_settings


def _template_suffixes() -> tuple[str, ...]:
    """The template suffixes the channel types use (``sms``, ``voice``...), longest first."""
    suffixes = {ct.template_suffix for ct in _registry().channel_types.values()}
    return tuple(sorted((s for s in suffixes if s), key=len, reverse=True)) or ("sms", "voice")


def _split_template_name(name: str, suffixes: Sequence[str]) -> tuple[str, str | None]:
    """``db_down.sms.j2``, ``db_down.sms`` -> ``("db_down", "sms")``; ``db_down`` -> ``("db_down",
    None)``. The name ``templates list`` prints (the file name) means the same template as the
    name ``notify`` renders, so both get the SMS and DLT checks."""
    from notifykit.text.templates import TEMPLATE_SUFFIX

    stem = name.removesuffix(TEMPLATE_SUFFIX)
    for suffix in suffixes:
        if stem.endswith(f".{suffix}") and len(stem) > len(suffix) + 1:
            return stem[: -len(suffix) - 1], suffix
    return stem, None


@templates.command("render")
@click.argument("name")
@_with_data
@click.option("--severity", "-s", type=_SEVERITY, default="warning", show_default=True)
@click.option("--event", "-e", default="example.event", show_default=True)
def templates_render(
    name: str, data: tuple[str, ...], data_json: str | None, severity: str, event: str
) -> int:
    """Render template NAME (db_down.sms, or db_down for every variant) and show its body,
    SMS encoding, length, segments and DLT check."""
    from notifykit.errors import TemplateNotFoundError
    from notifykit.notifier import template_context

    state = _state()
    engine, settings_for = _engine_and_settings()
    payload = _parse_data(data, data_json)
    base, suffix = _split_template_name(name, _template_suffixes())
    if suffix:
        names = [f"{base}.{suffix}"]
    elif "." in name:  # a suffix no channel type uses (``notes.txt``): render it as named
        names = [name]
    else:
        names = [f"{base}.{s}" for s in ("sms", "voice") if engine.exists(f"{base}.{s}")]
        if not names:
            raise TemplateNotFoundError(
                f"no template {base}.sms or {base}.voice found in "
                + ", ".join(str(d) for d in engine.search_dirs),
                template=base,
            )
    settings = settings_for(base)
    context = template_context(event, severity, payload)
    results = []
    code = EXIT_OK
    for qualified in names:
        body = engine.render(qualified, context)
        entry: dict[str, Any] = {
            "template": qualified,
            "file": str(engine.locate(qualified)),
            "body": body,
        }
        # The checks of the channel types that render this variant (names are normalised
        # above: ``db_down.sms.j2`` is ``db_down.sms`` here), without building any channel.
        variant = qualified.rsplit(".", 1)[-1] if "." in qualified else None
        inspections = _inspections(variant, body, settings)
        if inspections:
            for inspection in inspections:
                entry.update(inspection.info)
                if not inspection.ok:
                    code = EXIT_USAGE
            entry["checks"] = [line for i in inspections for line in i.lines]
        else:
            entry.update(chars=len(body))
        results.append(entry)
    if state.json:
        state.output(results if len(results) > 1 else results[0])
        return code
    for entry in results:
        click.echo(click.style(f"{entry['template']}", bold=True) + f"  ({entry['file']})")
        click.echo("  " + entry["body"].replace("\n", "\n  "))
        for line in entry.get("checks", ()):
            click.echo(f"  {_styled_check(line)}")
        if "checks" not in entry:
            click.echo(f"  {entry['chars']} chars")
    return code


def _inspections(variant: str | None, body: str, settings: Mapping[str, Any]) -> list[Any]:
    """What each channel type rendering ``variant`` says of ``body`` (``ChannelType.inspect``),
    once per distinct inspector."""
    seen: set[Any] = set()
    found = []
    for channel_type in _registry().channel_types.values():
        inspect = channel_type.inspect
        if variant is None or channel_type.template_suffix != variant or inspect is None:
            continue
        if inspect in seen:
            continue
        seen.add(inspect)
        found.append(inspect(body, settings))
    return found


def _styled_check(line: str) -> str:
    for word, color in (("MISMATCH", "red"), ("OVER ", "red"), ("match", "green")):
        if word in line:
            head, _, tail = line.partition(word)
            return head + click.style(word, fg=color) + tail
    return line


@templates.command("list")
def templates_list() -> int:
    """List every template, in lookup order of directories."""
    state = _state()
    engine, _ = _engine_and_settings()
    names = engine.list_templates()
    rows = [{"name": n, "file": str(engine.locate(n))} for n in names]
    if state.json:
        state.output(rows)
    else:
        for row in rows:
            click.echo(f"{row['name']}  {row['file']}")
    return EXIT_OK


# -- plugins, status ---------------------------------------------------------------------------


@cli.command()
def plugins() -> int:
    """List loaded plugins: versions, hooks, channel types and providers."""
    from notifykit.plugins import known_plugin_names

    state = _state()
    registry = _registry()
    infos = registry.plugin_infos()
    if state.json:
        state.output(
            {
                "plugins": [i.to_dict() for i in infos],
                "blocked": registry.blocked(),
                "channel_types": {
                    name: {
                        "plugin": registry.owners[("channel_type", name)],
                        "kind": ct.kind,
                        "template": ct.template_suffix,
                        "provider": ct.provider,
                        "description": ct.description,
                    }
                    for name, ct in sorted(registry.channel_types.items())
                },
            }
        )
        return EXIT_OK
    for info in infos:
        version = f" {info.version}" if info.version else ""
        package = f" ({info.package}{version})" if info.package else ""
        click.echo(click.style(info.name, bold=True) + package)
        click.echo(f"  hooks: {', '.join(info.hooks) or '-'}")
        for name in info.channel_types:
            ct = registry.channel_types[name]
            click.echo(f"  channel type {name}: {ct.description}")
        for name in info.providers:
            click.echo(f"  provider {name}: {registry.providers[name].description}")
    known = known_plugin_names()
    for name in registry.blocked():
        why = "blocked by" if name in known else "named in"
        note = "" if name in known else ", but matches no plugin"
        click.echo(click.style(name, bold=True) + f" ({why} NOTIFYKIT_DISABLE_PLUGINS{note})")
    return EXIT_OK


@cli.command()
@click.argument("sid")
@click.option("--account", "-a", metavar="A", help="Account name (default: the only one).")
@click.option("--kind", metavar="KIND", help="What the id is (sms, call...; default: try each).")
def status(sid: str, account: str | None, kind: str | None) -> int:
    """Look up the status of an SMS or a call by its provider id (SID)."""
    state = _state()
    notifier = state.notifier()
    accounts = notifier.config.accounts
    if account is None:
        if len(accounts) != 1:
            names = ", ".join(accounts) or "none"
            raise click.UsageError(f"pick the account with --account ({names})")
        account = next(iter(accounts))
    elif account not in accounts:
        raise click.UsageError(f"no account named {account!r} ({', '.join(accounts) or 'none'})")
    provider = notifier.registry.providers[accounts[account].provider]
    if provider.lookup is None:
        raise _Failure(f"provider {provider.name!r} cannot look up statuses", EXIT_USAGE)
    result = provider.lookup(notifier.client(account), sid, kind)
    if state.json:
        state.output(dict(result))
    else:
        _print_mapping(result)
    return EXIT_OK


def _print_mapping(result: Mapping[str, Any]) -> None:
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        if value is None:
            continue
        click.echo(f"{key.ljust(width)}  {value}")


# -- init, simulator ---------------------------------------------------------------------------

cli.add_command(init_command)

#: commands whose arguments are passed on untouched (no global options added after them)
_PASS_THROUGH = frozenset({"simulator"})


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def simulator(args: tuple[str, ...]) -> int:
    """Run the local Exotel simulator in the foreground (python -m notifykit_exotel.simulator);
    every argument is its own: notifykit simulator --help lists them."""
    run = _simulator_main()
    # The simulator sets up its own logging (a line per request); the CLI's handlers would
    # swallow it.
    _state().logs.restore()
    try:
        code = run(list(args))
    except SystemExit as err:  # argparse: --help (0) or a usage error (2)
        code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    # argparse's (and the simulator's) usage errors exit 2, which here means something else.
    return EXIT_USAGE if code == 2 else int(code or 0)


def _simulator_main() -> Callable[[list[str]], int | None]:
    """The simulator's ``main(argv)``: from its package once it exports one, else its
    ``__main__`` module. Imported here, not at start-up: only this command needs the server."""
    try:
        from notifykit_exotel import simulator as package
    except ImportError as err:
        raise _Failure(
            f"the Exotel plugin is not installed ({err}): pip install notifykit-pager", EXIT_USAGE
        ) from None
    run = getattr(package, "main", None)
    if not callable(run):
        import importlib

        run = importlib.import_module("notifykit_exotel.simulator.__main__").main
    return cast("Callable[[list[str]], int | None]", run)


# -- the global options, accepted after the command too --------------------------------------


def _set_global(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that sets a global option from a subcommand's position."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        state = ctx.find_object(_State)
        if state is not None:
            setattr(state, attr, value)
        if attr == "json":
            root = ctx.find_root().command
            if isinstance(root, NotifykitGroup):
                root.json_errors = True
        return value

    return callback


def _add_global_options(group: click.Group) -> None:
    """Let ``--config``, ``--sandbox``, ``--dry-run`` and ``--json`` also follow the command
    (``notifykit notify db.down --sandbox``), as well as precede it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _add_global_options(command)
            continue
        if command.name in _PASS_THROUGH:
            continue  # its arguments are another program's
        command.params.extend(
            [
                click.Option(["--config", "-c"], metavar="FILE", expose_value=False,
                             callback=_set_global("config"), help="Same as before the command."),
                click.Option(["--sandbox"], is_flag=True, expose_value=False,
                             callback=_set_global("sandbox"), help="Same as before the command."),
                click.Option(["--dry-run"], is_flag=True, expose_value=False,
                             callback=_set_global("dry_run"), help="Same as before the command."),
                click.Option(["--json"], is_flag=True, expose_value=False,
                             callback=_set_global("json"), help="Same as before the command."),
                click.Option(["--verbose", "-v"], is_flag=True, expose_value=False,
                             callback=_set_global("verbose"), help="Same as before the command."),
            ]
        )  # fmt: skip


# The delivery commands (submit, worker, serve, history...) register on `cli` when imported; they
# must be registered before the global options are added to every command.
from notifykit.cli import delivery  # noqa: E402, F401

from notifykit.cli import routing  # noqa: E402, F401  # isort: skip

_add_global_options(cli)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="notifykit")
    raise AssertionError("unreachable")  # pragma: no cover
