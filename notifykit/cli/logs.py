"""What the CLI shows of notifykit's logging: warnings always, and with ``-v`` the HTTP traffic.

Warnings of notifykit and of its plugins become ``warning: ...`` lines on stderr, each once.
``-v/--verbose`` also shows the DEBUG and INFO records: a provider client's request lines
(method, path, status, milliseconds), its retries, and the rate limiter's waits (logged here, by
:func:`instrument_clients`, since the limiter itself does not log), but not those of the loggers
a provider declares quiet (``Provider.quiet_loggers``: its sandbox simulator's request lines).
Every line passes through a scrubber first, so a secret that reached a log message (a token in a
base URL path, a value read from a ``${..._TOKEN}`` variable) is printed as ``***``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["LogSetup", "instrument_clients", "plugin_logger_names", "setup_logging"]

#: the PostgreSQL driver's logger: its pool warns at every reconnection attempt while the server
#: is away, where the worker says it once per outage; shown only with -v (its warnings only)
_DRIVER_LOGGER = "psycopg"

#: the logger this module writes the rate limiter's waits to
logger = logging.getLogger("notifykit.cli")

# Environment variables whose values are scrubbed even before a config names them as secrets:
# a plugin may log a value read from one of these before the config is loaded.
_SECRET_HINTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY")


def plugin_logger_names() -> list[str]:
    """``notifykit`` and the top-level package of every plugin in the ``notifykit`` entry-point
    group (a plugin that logs under ``__name__`` logs there). Read from the entry points'
    metadata, without importing any plugin."""
    names = ["notifykit"]
    for ep in entry_points(group="notifykit"):
        top = ep.value.split(":", 1)[0].split(".", 1)[0].strip()
        if top and top not in names:
            names.append(top)
    return names


class Scrubber:
    """Replaces known secrets by ``***``. Secrets may be added once the config is loaded."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._scrub: Callable[[str], str] = lambda text: text
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        from notifykit.config.schema import scrubber

        with self._lock:
            new = {s for s in secrets if s and len(s) >= 4} - self._secrets
            if not new:
                return
            self._secrets |= new
            self._scrub = scrubber(self._secrets)

    def __call__(self, text: str) -> str:
        return self._scrub(text)


def _secrets_from_environment() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if any(hint in name.upper() for hint in _SECRET_HINTS)
    ]


#: distinct warnings a command remembers having shown (the oldest is forgotten first): a
#: long-running command (``notifykit worker``) must not keep every one for its life
MAX_SEEN = 1024


class _Handler(logging.Handler):
    """Writes scrubbed records to stderr: warnings as ``warning: ...`` (each message once, of
    the last :data:`MAX_SEEN` distinct ones), and, when verbose, everything below WARNING as
    ``<logger>: ...``."""

    def __init__(self, scrub: Scrubber, *, verbose: bool) -> None:
        super().__init__(logging.DEBUG if verbose else logging.WARNING)
        self.scrub = scrub
        self.verbose = verbose
        self.seen: OrderedDict[str, None] = OrderedDict()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "notifykit.deliveries":
            return  # the command prints the report itself
        driver = record.name.split(".", 1)[0] == _DRIVER_LOGGER
        if driver and record.levelno < logging.ERROR:
            if self.verbose:
                message = self.scrub(record.getMessage())
                click.echo(click.style(f"{record.name}: ", dim=True) + message, err=True)
            return
        try:
            message = self.scrub(record.getMessage())
            if record.levelno >= logging.WARNING:
                if message in self.seen:
                    self.seen.move_to_end(message)
                    return
                self.seen[message] = None
                if len(self.seen) > MAX_SEEN:
                    self.seen.popitem(last=False)
                click.echo(click.style("warning: ", fg="yellow") + message, err=True)
                return
            if record.exc_info:
                message += "\n" + self.scrub(logging.Formatter().formatException(record.exc_info))
            click.echo(click.style(f"{record.name}: ", dim=True) + message, err=True)
        except Exception:
            self.handleError(record)


class _Quiet(logging.Filter):
    """Drops records below WARNING from some loggers (and their children): e.g. ``--sandbox``'s
    simulator, whose request lines repeat the client's. One filter, on whichever handler the
    command logs through (the CLI's, or a service's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: frozenset[str] = frozenset()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        name = record.name
        return not any(name == q or name.startswith(q + ".") for q in self.names)


class LogSetup:
    """The logging of one CLI invocation; :meth:`restore` puts everything back as it was."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.scrub = Scrubber(_secrets_from_environment())
        self.handler = _Handler(self.scrub, verbose=verbose)
        self._quiet = _Quiet()
        self.handler.addFilter(self._quiet)
        self._saved: list[tuple[logging.Logger, bool, int]] = []
        for name in plugin_logger_names():
            log = logging.getLogger(name)
            self._saved.append((log, log.propagate, log.level))
            log.addHandler(self.handler)
            log.propagate = False
            if verbose:
                log.setLevel(logging.DEBUG)
        # The driver's warnings (its level is left alone: its INFO lines are per query).
        driver = logging.getLogger(_DRIVER_LOGGER)
        self._driver = (driver, driver.propagate)
        driver.addHandler(self.handler)
        driver.propagate = False

    def quiet(self, names: Iterable[str]) -> None:
        """Show nothing below WARNING from these loggers (nor their children), even verbose."""
        self._quiet.names = self._quiet.names | frozenset(names)

    def set_verbose(self) -> None:
        """``-v`` given after the command: turn verbose on for the rest of the run."""
        self.verbose = self.handler.verbose = True
        self.handler.setLevel(logging.DEBUG)
        for log, _, _ in self._saved:
            log.setLevel(logging.DEBUG)

    def use_handler(self, handler: logging.Handler, also: Iterable[str] = ()) -> None:
        """Log through ``handler`` instead (a service's log: ``notifykit serve``), at its level,
        on notifykit's and the plugins' loggers and on the ``also`` ones (the embedded
        server's); :meth:`restore` undoes it too."""
        for name in also:
            log = logging.getLogger(name)
            self._saved.append((log, log.propagate, log.level))
            log.propagate = False
        for log, _, _ in self._saved:
            log.removeHandler(self.handler)
            log.addHandler(handler)
            log.setLevel(handler.level)
        handler.addFilter(self._quiet)
        self.handler = handler  # type: ignore[assignment]

    def restore(self) -> None:
        for log, propagate, level in self._saved:
            log.removeHandler(self.handler)
            log.propagate = propagate
            log.setLevel(level)
        self._saved.clear()
        driver, propagate = self._driver
        driver.removeHandler(self.handler)
        driver.propagate = propagate


def setup_logging(ctx: click.Context, *, verbose: bool) -> LogSetup:
    """Route notifykit's (and its plugins') logging to stderr for this command, and undo it when
    the command ends (so invoking the CLI in-process, as tests do, leaves logging as it found it)."""
    setup = LogSetup(verbose=verbose)
    ctx.call_on_close(setup.restore)
    return setup


class _LoggedLimiter:
    """A client's rate limiter, logging every wait it imposes (at INFO, so ``-v`` shows it)."""

    def __init__(self, limiter: Any, account: str) -> None:
        self._limiter = limiter
        self._account = account

    def acquire(self) -> float:
        waited = float(self._limiter.acquire() or 0.0)
        if waited > 0:
            logger.info(
                "rate limiter (account %s): waited %.0f ms before the next request",
                self._account,
                waited * 1000,
            )
        return waited

    def release(self) -> None:
        release = getattr(self._limiter, "release", None)
        if callable(release):
            release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._limiter, name)

    def __repr__(self) -> str:
        return f"<logged {self._limiter!r}>"


def instrument_clients(notifier: Notifier) -> None:
    """Make the rate limiter of every account's client (a client declaring one, see
    :class:`~notifykit.channels.RateLimitedClient`) log its waits. Builds the clients if the
    channels have not."""
    from notifykit.channels import wrap_rate_limiter

    for account in notifier.config.accounts:
        client = notifier.client(account)
        if isinstance(getattr(client, "rate_limiter", None), _LoggedLimiter):
            continue
        wrap_rate_limiter(client, functools.partial(_LoggedLimiter, account=account))
