"""Logging fit for a service (``notifykit serve``): the standard ``logging`` module, one line per
record with its time, level and logger, in text or JSON (``--log-format json``, one object a
line for log shippers).

- **Rate-limited**: each distinct message (its logger, level and format string, so one call site
  logging different values is one message) passes :data:`BURST` times per :data:`WINDOW`
  seconds at WARNING and above; the rest are counted, and the next one that passes says how many
  were held back. INFO and DEBUG (deliveries recorded, acknowledgements, access lines) are not
  limited.
- **Bounded memory**: at most :data:`MAX_KEYS` messages are tracked (the least recently seen is
  forgotten first), and a message longer than :data:`MAX_MESSAGE` characters is cut (a webhook's
  900 kB label is not copied into the log).
- **Tracebacks** of records logged with one (``logger.exception``) are kept, at ERROR.
- **No secret**: every line passes through the CLI's scrubber (the config's secrets, values of
  ``*TOKEN*`` variables) before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import IO, Any

__all__ = ["BURST", "MAX_KEYS", "MAX_MESSAGE", "WINDOW", "RateLimit", "service_handler"]

#: records of one distinct message let through per window
BURST = 5
#: seconds
WINDOW = 60.0
#: distinct messages tracked at most
MAX_KEYS = 1024
#: characters of a message kept (a traceback is not counted)
MAX_MESSAGE = 4096


class RateLimit(logging.Filter):
    """Lets each distinct WARNING-or-above message through :data:`BURST` times per
    :data:`WINDOW` seconds (see the module docstring)."""

    def __init__(
        self,
        burst: int = BURST,
        window: float = WINDOW,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst, self.window, self.max_keys = burst, window, max_keys
        self._clock = clock
        self._lock = threading.Lock()
        #: key -> [window start, passed in it, held back]
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        key = (record.name, record.levelno, template[:MAX_MESSAGE])
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] >= self.window:
                held = 0 if entry is None else int(entry[2])
                entry = [now, 0.0, 0.0]
                self._seen[key] = entry
                if held:
                    record.suppressed = held
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
            if entry[1] >= self.burst:
                entry[2] += 1
                return False
            entry[1] += 1
            return True


class _Formatter(logging.Formatter):
    """``2026-01-18T10:01:05.123+05:30 WARNING notifykit.status: message`` (or JSON), the
    message cut at :data:`MAX_MESSAGE`, the whole line scrubbed of secrets."""

    def __init__(self, scrub: Callable[[str], str], *, json_lines: bool) -> None:
        super().__init__()
        self.scrub = scrub
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE} more characters)"
        held = getattr(record, "suppressed", 0)
        if held:
            message += f" ({held} similar message{'s' if held != 1 else ''} held back before this)"
        when = datetime.fromtimestamp(record.created, timezone.utc).astimezone()
        stamp = when.isoformat(timespec="milliseconds")
        trace = self.formatException(record.exc_info) if record.exc_info else ""
        if record.stack_info:
            trace = (trace + "\n" if trace else "") + self.formatStack(record.stack_info)
        if self.json_lines:
            out: dict[str, Any] = {
                "time": stamp,
                "level": record.levelname,
                "logger": record.name,
                "message": self.scrub(message),
            }
            if held:
                out["suppressed"] = held
            if trace:
                out["traceback"] = self.scrub(trace)
            return json.dumps(out, ensure_ascii=False)
        line = f"{stamp} {record.levelname} {record.name}: {message}"
        return self.scrub(line + ("\n" + trace if trace else ""))


class _Stream(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that looks ``sys.stderr`` up when it writes (pytest and the CLI's
    runner replace it)."""

    def __init__(self, stream: IO[str] | None) -> None:
        super().__init__(stream)
        self._fixed = stream is not None

    def emit(self, record: logging.LogRecord) -> None:
        if not self._fixed:
            self.stream = sys.stderr
        super().emit(record)


def service_handler(
    scrub: Callable[[str], str],
    *,
    log_format: str = "text",
    verbose: bool = False,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """A handler for a service's log: INFO and up (DEBUG when ``verbose``), rate-limited,
    scrubbed, in ``text`` or ``json`` lines, on ``stream`` (default: stderr)."""
    handler = _Stream(stream)
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.addFilter(RateLimit())
    handler.setFormatter(_Formatter(scrub, json_lines=log_format == "json"))
    return handler
