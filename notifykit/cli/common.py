"""What every ``notifykit`` command shares: the ``cli`` group and its global options, the exit
codes, the command's state (the Notifier it builds), input parsing, and the command class that
hands what a command returns to the output layer (:mod:`notifykit.cli.output`). Each
command family has its module (:mod:`~notifykit.cli.send`, :mod:`~notifykit.cli.config`,
:mod:`~notifykit.cli.delivery`, :mod:`~notifykit.cli.routing`, :mod:`~notifykit.cli.plugins`,
:mod:`~notifykit.cli.scaffold`); they import this module,
never each other, and :mod:`notifykit.cli.app` registers them all on :data:`cli`. Plugins add
theirs through the ``register_commands`` hook, collected by :class:`NotifykitGroup` the first
time a command is looked up.

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

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from notifykit import __version__
from notifykit.cli.complete import complete_channels, complete_recipients
from notifykit.cli.logs import LogSetup, instrument_clients, setup_logging
from notifykit.cli.output import Result, print_json, render
from notifykit.cli.output import error as error_line
from notifykit.errors import (
    ConfigError,
    LedgerError,
    NotifykitError,
    PluginError,
    ProviderError,
)
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.ledger.audit import Acting
    from notifykit.model import Report
    from notifykit.notifier import Notifier
    from notifykit.plugins import Registry

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "MAX_DATA_DEPTH",
    "SEVERITY",
    "Command",
    "Failure",
    "Group",
    "NotifykitGroup",
    "State",
    "add_global_options",
    "by_option",
    "cli",
    "collect_commands",
    "command",
    "data_options",
    "exit_code",
    "group",
    "is_pass_through",
    "iso_time",
    "notification_options",
    "parse_data",
    "parse_labels",
    "pass_through",
    "plugin_registry",
    "refuse_sandbox",
    "say",
    "split_list",
    "warn_unset",
]

C = TypeVar("C", bound=click.Command)
#: a function a decorator returns unchanged
F = TypeVar("F", bound=Callable[..., Any])

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


class Failure(Exception):
    """A command failed in a way already explained: print ``message`` and exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        self.message = message
        self.code = code
        super().__init__(message)


class Command(click.Command):
    """A notifykit command. What its callback returns, a :class:`~notifykit.cli.output.Result`, is
    printed by the output layer (as JSON with ``--json``, as text otherwise) while the command's
    context is still open (its Notifier not yet closed); the result's code is the command's
    exit code. A callback may also return an exit code, having printed nothing."""

    def invoke(self, ctx: click.Context) -> Any:
        result = super().invoke(ctx)
        if not isinstance(result, Result):
            return result
        state = ctx.find_object(State)
        return render(result, as_json=state is not None and state.json)


class Group(click.Group):
    """A group of notifykit commands (``config check``, ``routes test``...): its commands are
    :class:`Command` s, its groups are groups like it."""

    command_class = Command
    group_class: type[click.Group] | type[type] | None = type


def command(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], Command]:
    """``@command()``: a notifykit command, defined in its module and registered on :data:`cli` by
    :mod:`notifykit.cli.app`."""
    return click.command(name, cls=Command, **attrs)


def group(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], Group]:
    """``@group()``: a group of notifykit commands, ``@<group>.command()`` adding to it."""
    return click.group(name, cls=Group, **attrs)


class NotifykitGroup(Group):
    """The ``notifykit`` group: its ``main`` maps every outcome onto notifykit's exit codes.

    The built-in commands are added when it is made (:mod:`notifykit.cli.app`); the plugins'
    (``register_commands``) the first time a command is looked up or listed, so ``notifykit
    --version`` imports no plugin. A plugin command named like a built-in or another plugin's
    is a :class:`~notifykit.errors.PluginError` naming both."""

    group_class = Group

    #: set by the group callback from ``--json``: errors are then also printed as JSON on stdout
    json_errors = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the plugins' commands, once collected: name -> (plugin name, command)
        self._plugin_commands: dict[str, tuple[str, click.Command]] | None = None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = cmd_name in self.commands
        try:
            self.plugin_commands()
        except _PluginsNotLoaded as err:
            if not builtin:
                raise err.error from None
            # A plugin that cannot be imported: a built-in command meets the error itself when
            # it loads the plugins (or, like `init`, runs without them).
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            self.plugin_commands()
        except _PluginsNotLoaded as err:
            # --help and completion still list the built-ins, saying why the rest are missing.
            click.echo(
                click.style("warning: ", fg="yellow") + f"plugin commands not listed: {err}",
                err=True,
            )
        return super().list_commands(ctx)

    def plugin_commands(self) -> dict[str, tuple[str, click.Command]]:
        """The commands plugins added (name -> (plugin, command)), collected once through the
        ``register_commands`` hook and added to this group, global options included.

        :raises PluginError: a plugin could not be loaded, or named a command like a built-in
            or another plugin's command.
        """
        if self._plugin_commands is None:
            from notifykit.plugins import get_plugin_manager

            try:
                pm = get_plugin_manager()
            except PluginError as err:
                raise _PluginsNotLoaded(err) from err
            found = collect_commands(pm, builtins=self.commands)
            staged = click.Group(name=self.name)
            for name, (_, command) in found.items():
                staged.add_command(command, name)
            add_global_options(staged)
            self.commands.update(staged.commands)
            self._plugin_commands = found
        return self._plugin_commands

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
        except Failure as err:
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


class _PluginsNotLoaded(PluginError):
    """The plugins could not be loaded (one fails to import...), so neither could their
    commands: ``error`` says why."""

    def __init__(self, error: PluginError) -> None:
        super().__init__(str(error))
        self.error = error


def collect_commands(
    pm: Any, builtins: Mapping[str, click.Command]
) -> dict[str, tuple[str, click.Command]]:
    """Every plugin's commands, by name: each ``register_commands`` implementation called on its
    own, in load order, with a group of its own, so that what it adds is known to be its.

    :raises PluginError: a command named like one of ``builtins`` or another plugin's, a
        plugin adding something that is not a click command, or one failing in the hook.
    """
    found: dict[str, tuple[str, click.Command]] = {}
    for impl in pm.hook.register_commands.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue
        owner = pm.get_name(impl.plugin) or repr(impl.plugin)
        staged = Group(name="notifykit")
        try:
            impl.function(**dict.fromkeys(impl.argnames, staged))
        except PluginError:
            raise
        except Exception as err:
            raise PluginError(
                f"plugin {owner!r} failed in register_commands: {type(err).__name__}: {err}"
            ) from err
        for name, command in staged.commands.items():
            if not isinstance(command, click.Command):
                raise PluginError(
                    f"plugin {owner!r} added {command!r} as command {name!r}: not a click command"
                )
            if name in builtins:
                raise PluginError(
                    f"command {name!r} is defined twice, by notifykit (a built-in command) and by "
                    f"plugin {owner!r}: rename the plugin's command"
                )
            if name in found:
                raise PluginError(
                    f"command {name!r} is defined twice, by plugin {found[name][0]!r} and by "
                    f"plugin {owner!r}: rename one, or block one with NOTIFYKIT_DISABLE_PLUGINS"
                )
            found[name] = (owner, command)
    return found


#: the attribute that marks a pass-through command (see :func:`pass_through`)
_PASS_THROUGH = "notifykit_pass_through"


def pass_through(command: C) -> C:
    """Mark ``command`` as passing its arguments on untouched (to another program's parser):
    :func:`add_global_options` leaves it alone, so ``--json`` or ``-v`` after it are its own.
    Use on a command (``pass_through(my_command)``) before it is added."""
    setattr(command, _PASS_THROUGH, True)
    return command


def is_pass_through(command: click.Command) -> bool:
    """Whether ``command`` was marked by :func:`pass_through`."""
    return bool(getattr(command, _PASS_THROUGH, False))


#: the ``error.type`` of a failure a command explained, as scripts have seen it since the class
#: was private to one module
_FAILURE_TYPE = "_Failure"


def _json_error(err: Exception, code: int) -> None:
    """With ``--json``, a failed command still prints one JSON object on stdout, so a script
    piping the output into ``jq`` gets ``ok: false`` and the reason instead of nothing."""
    if isinstance(err, click.ClickException):
        message = err.format_message()
    elif isinstance(err, Failure):
        message = err.message
    else:
        message = str(err)
    kind = _FAILURE_TYPE if isinstance(err, Failure) else type(err).__name__
    error: dict[str, Any] = {"type": kind, "message": message}
    if isinstance(err, ConfigError):
        error["message"] = f"invalid configuration ({len(err.problems)} problem(s))"
        error["problems"] = [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message}
            for p in err.problems
        ]
    print_json({"ok": False, "exit_code": code, "error": error})


def _error(message: str) -> None:
    """``error: message`` on stderr."""
    click.echo(error_line(message).text, err=True)


#: the commands that show a progress line while a send waits on a rate limit
_PROGRESS_COMMANDS = frozenset({"notify", "send", "resolve"})


@dataclass
class State:
    """What a command knows of the global options, and the Notifier it builds (once, closed with
    the command)."""

    config: str | None
    sandbox: bool
    dry_run: bool
    json: bool
    logs: LogSetup
    registry: Registry | None = None
    _notifier: Notifier | None = None

    @classmethod
    def current(cls) -> State:
        """The state of the command running now."""
        state = click.get_current_context().find_object(cls)
        assert state is not None
        return state

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
            self.logs.quiet(
                name for provider in notifier.registry.providers.values()
                for name in provider.quiet_loggers
            )  # fmt: skip
            warn_unset(notifier.config)
            if self.verbose and not self.dry_run:
                instrument_clients(notifier)
            self._show_rate_progress(notifier)
            self._notifier = notifier
        return self._notifier

    def reader(self) -> Notifier:
        """A Notifier that sends nothing and needs no secrets, for commands that only read the
        config and the ledger (``routes test``, ``alerts``, ``oncall``); closed with the
        command."""
        from notifykit.notifier import Notifier

        notifier = Notifier.from_config(self.config_path(), sandbox=self.sandbox, dry_run=True)
        click.get_current_context().call_on_close(notifier.close)
        self.loaded(notifier.config)
        warn_unset(notifier.config)
        return notifier

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

    def inform(self, text: str) -> None:
        """A line on stderr for the person watching a long command (a worker starting); not with
        ``--json``, whose reader wants the result alone."""
        if not self.json:
            click.echo(text, err=True)


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


def refuse_sandbox(command: str, why: str) -> None:
    """A command that needs a ledger lasting beyond itself refuses ``--sandbox``, whose ledger is
    in memory and dies with the process: ``why`` says what would go wrong there."""
    if State.current().sandbox:
        raise Failure(
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


def parse_data(items: Sequence[str], data_json: str | None) -> dict[str, Any]:
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


def split_list(values: Sequence[str]) -> list[str] | None:
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


def say(text: str) -> None:
    """A line on stderr from a signal handler: if the main thread was itself writing to stderr,
    a buffered write would raise "reentrant call"; the line is then dropped, not the run."""
    with suppress(RuntimeError, OSError, ValueError):
        click.echo(text, err=True)


def plugin_registry() -> Registry:
    """The plugins' registry, loaded once per command."""
    from notifykit.plugins import Registry, get_plugin_manager

    state = State.current()
    if state.registry is None:
        state.registry = Registry.from_manager(get_plugin_manager())
    return state.registry


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
    ctx.obj = State(config=config, sandbox=sandbox, dry_run=dry_run, json=as_json, logs=logs)
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


def data_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_data_options):
        f = option(f)
    return f


SEVERITY = click.Choice(["info", "warning", "error", "critical"])


def notification_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``notify`` and ``submit`` share: what notify() takes."""
    options = [
        click.option("--severity", "-s", type=SEVERITY, help="Default: the event's, then defaults'."),
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


# -- the global options, accepted after the command too --------------------------------------


def _set_global(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that sets a global option from a subcommand's position."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        state = ctx.find_object(State)
        if state is not None:
            setattr(state, attr, value)
        if attr == "json":
            root = ctx.find_root().command
            if isinstance(root, NotifykitGroup):
                root.json_errors = True
        return value

    return callback


def add_global_options(group: click.Group) -> None:
    """Let ``--config``, ``--sandbox``, ``--dry-run`` and ``--json`` also follow the command
    (``notifykit notify db.down --sandbox``), as well as precede it; not after a command marked
    :func:`pass_through`, whose arguments are passed on untouched."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            add_global_options(command)
            continue
        if is_pass_through(command):
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


def iso_time(given: str | None, option: str) -> datetime | None:
    """An ISO 8601 time given to ``option`` (without an offset: UTC); ``None`` when not given."""
    if given is None:
        return None
    try:
        when = datetime.fromisoformat(given.strip())
    except ValueError:
        raise click.BadParameter(
            f"{given!r} is not an ISO time such as 2026-03-02T23:30+05:30", param_hint=option
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


#: the colour of a silence's or an override's state (``expired`` stays plain)
WINDOW_COLORS = {"active": "yellow", "pending": "cyan"}


def by_option(who: str, kept: str = "in the audit trail") -> Callable[[F], F]:
    """``--by NAME``: who does an audited action (``who``: "Who silences"), and where it is
    ``kept``; the default, the OS user name, is the Notifier's."""
    return click.option(
        "--by", metavar="NAME", help=f"{who} (kept {kept}; default: your OS user name)."
    )
