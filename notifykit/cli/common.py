"""What every ``notifykit`` command shares: the ``cli`` group and its global options, the exit
codes, the command's state (the Notifier it builds), input parsing and report printing. The
command modules (:mod:`notifykit.cli.main`, :mod:`notifykit.cli.delivery`,
:mod:`notifykit.cli.routing`) import it, never each other.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from notifykit import __version__
from notifykit.cli.complete import complete_channels, complete_recipients
from notifykit.cli.logs import LogSetup, instrument_clients, setup_logging
from notifykit.errors import (
    ConfigError,
    LedgerError,
    NotifykitError,
    ProviderError,
)
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.channels.stop import SendStop
    from notifykit.ledger.audit import Acting
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
    "NotifykitGroup",
    "cli",
    "exit_code",
    "notification_options",
    "parse_labels",
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
            notifier.acting = cli_acting()
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


def cli_acting() -> Acting:
    """Who acts through the command line, for the audit trail: path ``cli``, and the OS user
    name (``--by NAME`` of ``ack`` and ``resolve`` names another)."""
    import getpass

    from notifykit.ledger.audit import Acting

    try:
        user: str | None = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name, no passwd entry
        user = None
    return Acting("cli", user)


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
