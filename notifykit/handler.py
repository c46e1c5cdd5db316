"""``NotifyHandler``: a :class:`logging.Handler` that turns log records into notifications.

::

    logging.getLogger().addHandler(notifykit.NotifyHandler(logging.CRITICAL, to=["oncall"]))
    log.critical("payments database unreachable")   # -> notify("log.critical", severity="critical")

The handler sends synchronously, in the thread that logged (a page must not be lost when the process
exits right after). To log without waiting on the network, put it behind the standard library's
``QueueHandler``/``QueueListener``. It never raises into the logging system (errors go to
:meth:`~logging.Handler.handleError`), and it ignores records from notifykit's own loggers
(``notifykit``, and the packages of loaded plugins such as ``notifykit_exotel``) and any record
logged while it is itself notifying, so
notifykit's logging cannot loop back into it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifykit.notifier import Notifier
    from notifykit.report import Report

__all__ = ["NotifyHandler", "severity_for_level"]

_guard = threading.local()

#: how long the same error (logger and call site) is not sent again, unless the config's
#: ``route:`` says otherwise: a crash loop pages once
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0

#: the longest ``message`` by default: one SMS (160 GSM-7 characters)
DEFAULT_MAX_MESSAGE = 160


def severity_for_level(level: int) -> str:
    """The notification severity for a logging level: DEBUG and INFO give ``info``, WARNING gives
    ``warning``, ERROR ``error``, CRITICAL (and above) ``critical``."""
    if level >= logging.CRITICAL:
        return "critical"
    if level >= logging.ERROR:
        return "error"
    if level >= logging.WARNING:
        return "warning"
    return "info"


class NotifyHandler(logging.Handler):
    """Sends a notification for each log record at or above ``level`` (its parameters: see
    ``__init__``).

    Records go through the alert routing, so a crash loop logging the same error 30 times a
    second pages once.

    The template data holds ``message`` (what a page says: the log message on one line, plus
    the exception's type and the last line of its message, within ``max_message``; see
    :meth:`record_message`), ``exception`` (``"ValueError: disk on fire"``, or ``None``),
    ``logger``, ``level``, ``levelname``, ``pathname``, ``lineno``, ``funcName``, ``exc_text``
    (the whole traceback, or ``None``) and ``stack_text``.
    """

    def __init__(
        self,
        level: int = logging.ERROR,
        *,
        notifier: Notifier | None = None,
        event: str = "log.{levelname}",
        to: str | Iterable[str] | None = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
        data: Mapping[str, Any] | None = None,
        on_report: Callable[[Report], None] | None = None,
        labels: Mapping[str, str] | None = None,
        repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
        max_message: int | None = DEFAULT_MAX_MESSAGE,
    ) -> None:
        """A handler that notifies for each record at or above ``level``.

        :param level: the lowest level that notifies (default ``logging.ERROR``).
        :param notifier: the :class:`~notifykit.Notifier` to use; by default the module-level
            one (``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``), looked up at the first record.
        :param event: the event name, formatted with the record's attributes: the default
            ``"log.{levelname}"`` gives ``log.critical``; a fixed name such as ``"app.crash"``
            works too.
        :param to: passed to ``notify()`` (``None``: the event's config decides).
        :param channels: passed to ``notify()`` (``None``: the event's config decides).
        :param template: passed to ``notify()`` (``None``: the event's config decides).
        :param data: extra template data merged into every notification.
        :param on_report: called with each :class:`~notifykit.Report`, e.g. to count failures.
            A report that is not ``ok`` is otherwise reported through ``handleError`` as a
            warning line on stderr (never an exception).
        :param labels: extra alert labels (routes match them; see :meth:`record_labels`).
        :param repeat_interval: seconds before the same error (same logger and call site) is
            sent again, when the config has no ``route:`` or ``to``/``channels`` are given here
            (default 4h; ``0`` sends every record). With ``route:``, the route's own dedup
            applies.
        :param max_message: the longest ``message`` in characters (as an SMS counts them), cut
            with ``...`` beyond (default 160: one SMS); ``None``: no limit.
        """
        super().__init__(level)
        if max_message is not None and (isinstance(max_message, bool) or max_message < 20):
            raise ValueError(
                f"max_message must be at least 20 characters, or None for no limit; got "
                f"{max_message!r}"
            )
        self.max_message = max_message
        self.notifier = notifier
        self.event = event
        self.to = to if to is None or isinstance(to, str) else tuple(to)
        self.channels = (
            channels if channels is None or isinstance(channels, str) else tuple(channels)
        )
        self.template = template
        self.extra_data = dict(data or {})
        self.on_report = on_report
        self.labels = dict(labels or {})
        self.repeat_interval = repeat_interval
        self.last_report: Report | None = None

    def _notifier(self) -> Notifier:
        if self.notifier is None:
            from notifykit.notifier import get_notifier

            self.notifier = get_notifier()
        return self.notifier

    def record_data(self, record: logging.LogRecord) -> dict[str, Any]:
        """The template data for a record."""
        message = self._log_message(record)
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = logging.Formatter().formatException(record.exc_info)
        exception = _exception_line(record.exc_info, exc_text)
        return {
            **self.extra_data,
            "message": self.record_message(message, exception),
            "exception": exception,
            "logger": record.name,
            "level": record.levelno,
            "levelname": record.levelname.lower(),
            "pathname": record.pathname,
            "lineno": record.lineno,
            "funcName": record.funcName,
            "exc_text": exc_text,
            "stack_text": record.stack_info,
        }

    def record_message(self, message: str, exception: str | None) -> str:
        """What a page says about a record: ``message`` on one line, then ``exception`` (or only
        its type in brackets, when the message already quotes it), cut to :attr:`max_message`.
        The exception keeps up to half of the room, so a long message never hides it.

        >>> NotifyHandler().record_message("payments down", "ValueError: disk on fire")
        'payments down: ValueError: disk on fire'
        """
        from notifykit.text.summary import fit, sms_length

        text = " ".join(message.split())
        limit = self.max_message
        if not exception:
            return text if limit is None else fit(text, limit)
        kind, _, last = exception.partition(": ")
        if text and last and last in text:
            # The message quotes the exception already ("failed: disk on fire"): its type will do.
            suffix = f" ({kind})"
            return text + suffix if limit is None else fit(text, limit - len(suffix)) + suffix
        joined = f"{text}: {exception}" if text else exception
        if limit is None or sms_length(joined) <= limit:
            return joined
        exception = fit(exception, max(limit // 2, limit - sms_length(text) - 2))
        if not text:
            return exception
        return f"{fit(text, limit - sms_length(exception) - 2)}: {exception}"

    def _log_message(self, record: logging.LogRecord) -> str:
        """The formatted log message, without the traceback and stack a formatter appends
        (the page gets the exception's summary instead)."""
        if self.formatter is None:
            return record.getMessage()
        formatted = self.format(record)
        stack = record.stack_info and self.formatter.formatStack(record.stack_info)
        for tail in (stack, record.exc_text):
            if tail and formatted.endswith(tail):
                formatted = formatted[: -len(tail)].rstrip("\n")
        return formatted

    def event_for(self, record: logging.LogRecord) -> str:
        """The event name for a record (``event`` formatted with the record's attributes)."""
        fields = {**record.__dict__, "levelname": record.levelname.lower()}
        try:
            return self.event.format_map(fields)
        except (KeyError, ValueError, IndexError):
            return self.event

    def record_labels(self, record: logging.LogRecord) -> dict[str, str]:
        """The alert labels of a record: ``logger`` and ``location`` (``path:line`` of the
        logging call) plus the handler's ``labels``. The same call site failing again is the
        same alert, whatever its message says (a crash loop's messages differ in ids)."""
        return {
            **self.labels,
            "logger": record.name,
            "location": f"{record.pathname}:{record.lineno}",
        }

    def _send(self, notifier: Notifier, record: logging.LogRecord) -> Report:
        """Through the routing, so the same error repeated is sent once per repeat interval."""
        from notifykit.report import Report
        from notifykit.routing.escalation import Receiver

        direct = None
        if notifier.config.routing is None or self.to is not None or self.channels is not None:
            # Recipients named here: a receiver of the handler's own (dedup kept).
            defaults = notifier.config.defaults
            to = (self.to,) if isinstance(self.to, str) else self.to
            channels = (self.channels,) if isinstance(self.channels, str) else self.channels
            direct = Receiver(
                "NotifyHandler",
                tuple(channels if channels is not None else defaults.channels),
                tuple(to if to is not None else defaults.to),
                template=self.template,
            )
        result = notifier._route(
            self.event_for(record),
            severity_for_level(record.levelno),
            self.record_data(record),
            self.record_labels(record),
            self.template,
            None,
            False,
            False,
            repeat_interval=self.repeat_interval,
            direct=direct,
        )
        assert isinstance(result, Report)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_guard, "active", False):
            return  # logged by notifykit (or a hook) while this thread is notifying: no loops
        package = record.name.split(".")[0]
        if package == "notifykit":
            return  # notifykit's own records (a failed delivery...) never page anyone
        _guard.active = True
        try:
            notifier = self._notifier()
            if package in notifier.registry.packages:
                return  # nor do its plugins' (the Exotel client's retries...)
            report = self._send(notifier, record)
            self.last_report = report
            if self.on_report is not None:
                self.on_report(report)
            elif not report.ok:
                raise RuntimeError(f"notification not fully delivered: {report.summary()}")
        except Exception:
            self.handleError(record)
        finally:
            _guard.active = False


def _exception_line(exc_info: Any, exc_text: str | None) -> str | None:
    """``"ValueError: disk on fire"``: the exception's type and the last line of its message
    (a chained exception's last one: what a traceback ends with), or ``None`` without one."""
    exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
    if isinstance(exc, BaseException):
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        kind = type(exc).__name__
        return f"{kind}: {lines[-1]}" if lines else kind
    if exc_text:
        lines = [line.strip() for line in exc_text.splitlines() if line.strip()]
        return lines[-1] if lines else None
    return None
