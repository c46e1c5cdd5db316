"""Apprise URLs by target name, one notification per URL, and an honest outcome for each.

Apprise's ``notify()`` answers ``True`` or ``False``. ``False`` covers "nothing went out" (the
service refused the request, the connection was refused) and "it may have gone out" (a timeout
after the request was written, a 5xx, a plugin that failed after its first request) alike. This
client tells them apart where Apprise says enough: it notifies each URL through its own plugin
object (so one answer per URL, and none of Apprise's own retries, which resend blindly), with
the plugin's log records captured while it runs, and reads them: an HTTP status in a failure,
the exception text of a connection error, the ``Sent ...`` lines of a plugin that made several
requests. What it cannot classify is ``unknown``: it may have been sent.

Apprise URLs hold the services' tokens, so nothing here puts a URL, or any part of one, in an
error, a result or a ``repr``: a URL is named by its position and Apprise's name for its service
(``url 2 of 3 (Telegram)``). The records Apprise and its HTTP stack (urllib3, requests-oauthlib)
log while this client sends are captured and kept out of the process's logging (their debug
lines carry request paths, where many services put the token).

It imports nothing from notifykit: :mod:`notifykit_apprise.channel` turns its outcomes into
delivery results.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

__all__ = [
    "INSTALL_HINT",
    "NOTIFY_TYPES",
    "AppriseClient",
    "AppriseClientError",
    "AppriseNotInstalledError",
    "TargetOutcome",
    "UnknownTargetError",
    "UrlOutcome",
    "classify",
    "load_apprise",
    "url_problems",
]

#: how to get Apprise: the ``apprise`` extra of notifykit's distribution
INSTALL_HINT = "pip install 'notifykit-pager[apprise]'"

#: Apprise's notification types (its ``NotifyType`` values)
NOTIFY_TYPES = ("info", "success", "warning", "failure")

State = Literal["sent", "failed", "unknown"]

#: the loggers whose records are captured (Apprise's) or dropped (its HTTP stack's) while this
#: client sends; a logger's filters see only the records logged on it, so each is named
_APPRISE_LOGGER = "apprise"
_QUIET_LOGGERS = (
    _APPRISE_LOGGER,
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests_oauthlib.oauth1_session",
    "requests_oauthlib.oauth2_session",
    "requests_oauthlib.oauth1_auth",
    "oauthlib",
)


class AppriseClientError(Exception):
    """Base of this module's errors (never a URL in a message). Outcomes of a notification are
    :class:`UrlOutcome` values, not errors."""


class AppriseNotInstalledError(AppriseClientError, ImportError):
    """Apprise cannot be imported: the ``apprise`` extra is not installed (``broken``: it is,
    but importing it failed with that error)."""

    def __init__(self, broken: str | None = None) -> None:
        if broken is None:
            super().__init__(f"the Apprise library is not installed: {INSTALL_HINT}")
        else:
            super().__init__(f"the Apprise library cannot be imported ({broken}): {INSTALL_HINT}")


class UnknownTargetError(AppriseClientError, LookupError):
    """:meth:`AppriseClient.notify` was given a target name the client has no URLs for."""


def load_apprise() -> ModuleType:
    """The ``apprise`` module.

    :raises AppriseNotInstalledError: it is not installed (the message says how to install it).
    """
    try:
        with _captured():  # its import logs (the locale it chose)
            import apprise
    except ImportError as err:
        if isinstance(err, ModuleNotFoundError) and err.name == "apprise":
            raise AppriseNotInstalledError() from None
        raise AppriseNotInstalledError(f"{type(err).__name__}: {err}") from None
    return apprise


# -- capturing Apprise's log records ---------------------------------------------------------------

_CAPTURE: contextvars.ContextVar[list[logging.LogRecord] | None] = contextvars.ContextVar(
    "notifykit_apprise_capture", default=None
)


class _Quiet(logging.Filter):
    """On Apprise's and its HTTP stack's loggers: while this client sends (in this context), a
    record is kept for :func:`classify` (Apprise's) or dropped, never handled nor propagated."""

    def filter(self, record: logging.LogRecord) -> bool:
        records = _CAPTURE.get()
        if records is None:
            return True  # another user of Apprise in this process: none of our business
        if record.name == _APPRISE_LOGGER or record.name.startswith(_APPRISE_LOGGER + "."):
            records.append(record)
        return False


class _Collect(logging.Handler):
    """The handler of the plugin objects' own logger: every record into the capture."""

    def emit(self, record: logging.LogRecord) -> None:
        records = _CAPTURE.get()
        if records is not None:
            records.append(record)


# A logger outside the logging tree (no parent, no propagation): each plugin object this client
# makes logs here instead of on "apprise", at every level (Apprise's TRACE is DEBUG - 1), so
# its debug lines (the exception text of a connection error) are seen without changing the
# level of any logger the application configures.
_PLUGIN_LOGGER = logging.Logger("notifykit_apprise.plugin_objects", level=1)
_PLUGIN_LOGGER.propagate = False
_PLUGIN_LOGGER.addHandler(_Collect(level=1))

_QUIET = _Quiet()


def _install_quiet() -> None:
    # Each time (addFilter adds a filter once): a logging configuration applied since may have
    # replaced a logger's filters.
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).addFilter(_QUIET)


@contextlib.contextmanager
def _captured() -> Iterator[list[logging.LogRecord]]:
    """Apprise's records logged in this context while inside, kept out of the process's logs."""
    _install_quiet()
    records: list[logging.LogRecord] = []
    token = _CAPTURE.set(records)
    try:
        yield records
    finally:
        _CAPTURE.reset(token)


# -- what a URL is, and why one cannot be loaded -----------------------------------------------------


def _scheme(url: str) -> str | None:
    head, sep, _ = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", head):
        return None
    return head.lower()


def url_problems(url: str, apprise: ModuleType | None = None) -> list[str]:
    """Why Apprise cannot notify ``url`` (nothing when it can), in words that never repeat the
    URL: an unknown scheme, a plugin disabled for a missing dependency, a URL its plugin refuses,
    a URL that names nothing to notify.

    :raises AppriseNotInstalledError: ``apprise`` not given and not installed.
    """
    apprise = apprise or load_apprise()
    scheme = _scheme(url)
    if scheme is None:
        return [
            "not an Apprise URL: write service://... (json://host/path, tgram://token/chat, "
            "ntfy://topic: see https://github.com/caronc/apprise/wiki)"
        ]
    with _captured():
        manager = _manager(apprise)
        known = manager is None or scheme in manager
        plugin = apprise.Apprise.instantiate(url) if known else None
    if not known:
        return [f"Apprise has no {scheme}:// service{_did_you_mean(scheme, manager)}"]
    if plugin is None:
        service = _service_of(manager, scheme)
        if manager is not None and not getattr(manager[scheme], "enabled", True):
            return [
                f"Apprise's {service} plugin ({scheme}://) is disabled on this system: "
                f"{_requirements(manager[scheme])}"
            ]
        return [
            f"Apprise's {service} plugin ({scheme}://) cannot use this URL: a token, host or "
            "target in it is missing or malformed (its format: "
            "https://github.com/caronc/apprise/wiki)"
        ]
    if _target_count(plugin) == 0:
        return [
            f"this {plugin.service_name} URL names nothing to notify (no chat, channel, "
            "number or address in it)"
        ]
    return []


def _manager(apprise: ModuleType) -> Any:
    """Apprise's registry of services (``NotificationManager``), or ``None`` if this version
    has none we know."""
    with contextlib.suppress(ImportError, AttributeError):
        from apprise.manager_plugins import NotificationManager

        return NotificationManager()  # type: ignore[no-untyped-call]
    return getattr(getattr(apprise, "plugins", None), "N_MGR", None)


def _service_of(manager: Any, scheme: str) -> str:
    with contextlib.suppress(Exception):
        return str(manager[scheme].service_name)
    return scheme


def _did_you_mean(scheme: str, manager: Any) -> str:
    import difflib

    with contextlib.suppress(Exception):
        close = difflib.get_close_matches(scheme, list(manager.schemas()), n=1)
        if close:
            return f" (did you mean {close[0]}://?)"
    return ""


def _requirements(plugin_class: Any) -> str:
    requirements = getattr(plugin_class, "requirements", None) or {}
    packages = requirements.get("packages_required") or ()
    needed = [packages] if isinstance(packages, str) else [str(p) for p in packages]
    if needed:
        spelled = " ".join(f"'{p}'" if " " in p or ">" in p or "<" in p else p for p in needed)
        return f"it needs {', '.join(needed)} (pip install {spelled})"
    return "a library it needs is missing"


def _target_count(plugin: Any) -> int:
    try:
        return len(plugin)
    except TypeError:
        return 1


# -- outcomes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlOutcome:
    """What became of one URL's notification. ``reason`` is in this module's words (never the
    URL nor Apprise's own messages, which may quote it); ``status`` the HTTP status Apprise
    reported, when it did. A ``failed`` outcome was certainly not sent; ``transient``: trying
    again later may succeed (a refused connection, HTTP 429)."""

    index: int
    count: int
    service: str
    state: State
    reason: str
    transient: bool = False
    status: int | None = None
    elapsed: float = 0.0

    @property
    def label(self) -> str:
        """``url 2 of 3 (Telegram)``, or ``Telegram`` for a target of one URL."""
        if self.count == 1:
            return self.service
        return f"url {self.index} of {self.count} ({self.service})"


@dataclass(frozen=True)
class TargetOutcome:
    """What became of one target's notification, one :class:`UrlOutcome` per URL.

    ``sent`` when any URL's service accepted it (the person was reached through it; the others
    are in :attr:`problems`), else ``unknown`` when any URL may have been sent, else ``failed``
    (``transient`` when any URL's failure is)."""

    target: str
    urls: tuple[UrlOutcome, ...]

    @property
    def state(self) -> State:
        states = {u.state for u in self.urls}
        if "sent" in states:
            return "sent"
        if "unknown" in states:
            return "unknown"
        return "failed"

    @property
    def transient(self) -> bool:
        return any(u.transient for u in self.urls if u.state == "failed")

    @property
    def services(self) -> list[str]:
        """Apprise's names of the services notified, in order (``["Telegram", "ntfy"]``)."""
        return [u.service for u in self.urls]

    @property
    def problems(self) -> list[str]:
        """``label: reason`` of each URL that was not sent."""
        return [f"{u.label}: {u.reason}" for u in self.urls if u.state != "sent"]

    @property
    def error(self) -> str:
        """The problems, joined: the delivery's error."""
        return "; ".join(self.problems)


# Evidence in Apprise's records, from the most certain to the least. Apprise's plugins log an
# HTTP failure as "... error=<status>." and a connection error as "Socket Exception: <the
# requests exception>" (at debug level), and each request a service accepted as "Sent ...".
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")
_SENT = re.compile(r"^Sent\b")
# Raised before the connection was established: nothing was written.
_NOT_CONNECTED = {
    "the connection was refused": ("Connection refused", "[Errno 111]", "ECONNREFUSED"),
    "its host name did not resolve": (
        "NameResolutionError",
        "Failed to resolve",
        "Name or service not known",
        "nodename nor servname",
        "getaddrinfo failed",
        "Temporary failure in name resolution",
    ),
    "the connection timed out before it was established": (
        "ConnectTimeoutError",
        "connect timeout=",
    ),
    "the network is unreachable": ("Network is unreachable", "No route to host"),
    "no connection could be established": (
        "Failed to establish a new connection",
        "NewConnectionError",
    ),
}
_CERTIFICATE = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed")
# Raised once the request was (or may have been) written: the service may have it.
_NO_ANSWER = ("Read timed out", "ReadTimeoutError", "read timeout=")
_CUT_OFF = ("Connection aborted", "RemoteDisconnected", "Connection reset", "ProtocolError")
_DISABLED = ("disabled on this system",)
_RETRY_LATER = frozenset({408, 425, 429})


def classify(ok: bool, records: Sequence[logging.LogRecord]) -> tuple[State, str, bool, int | None]:
    """``(state, reason, transient, status)`` of one plugin's ``notify()`` from its answer and
    the records it logged (see the module docstring).

    Any sign that a request may have reached the service (a request accepted, an answer other
    than 4xx, no answer in time, a connection cut) makes it ``unknown``, whatever else failed;
    it is ``failed`` only on signs that nothing was received (a 4xx, no connection), and
    ``unknown`` again when there is no sign either way."""
    if ok:
        return "sent", "accepted", False, None
    messages = [(r.levelno, r.getMessage()) for r in records]
    text = "\n".join(t for _, t in messages)
    sent = sum(1 for level, t in messages if level == logging.INFO and _SENT.match(t))
    statuses = [
        int(m.group(1))
        for level, t in messages
        if level >= logging.WARNING
        for m in [_HTTP_STATUS.search(t)]
        if m is not None
    ]
    others = [s for s in statuses if not 400 <= s < 500]
    # -- it may have been received
    if sent:
        return (
            "unknown",
            f"the service accepted {sent} of its requests, then one failed: it may have been "
            "delivered in part",
            False,
            statuses[-1] if statuses else None,
        )
    if others:
        return (
            "unknown",
            f"the service answered HTTP {others[0]}: it may have accepted the message before "
            "failing",
            False,
            others[0],
        )
    if any(marker in text for marker in _NO_ANSWER):
        return "unknown", "the service did not answer in time: it may have received it", False, None
    if any(marker in text for marker in _CUT_OFF):
        return (
            "unknown",
            "the connection was cut before the service answered: it may have received it",
            False,
            None,
        )
    # -- it was not
    if statuses:
        status = statuses[-1]
        retry = any(s in _RETRY_LATER for s in statuses)
        return "failed", f"the service refused it: HTTP {status} (not sent)", retry, status
    if any(marker in text for marker in _CERTIFICATE):
        return "failed", "its TLS certificate was refused (not sent)", False, None
    for why, markers in _NOT_CONNECTED.items():
        if any(marker in text for marker in markers):
            return "failed", f"{why} (not sent)", True, None
    if any(marker in text for marker in _DISABLED):
        return "failed", "Apprise's plugin is disabled on this system (not sent)", False, None
    # -- no sign either way
    return (
        "unknown",
        "Apprise reported a failure without saying whether the service received the message "
        "(Apprise cannot tell): it may have been sent",
        False,
        None,
    )


# -- the client -------------------------------------------------------------------------------------


class _Url:
    """One URL's plugin object; a lock keeps two threads from notifying through it at once (a
    plugin object holds state between requests: its throttle, a session)."""

    __slots__ = ("count", "index", "lock", "plugin", "service")

    def __init__(self, plugin: Any, index: int, count: int) -> None:
        self.plugin = plugin
        self.index = index
        self.count = count
        self.service = str(getattr(plugin, "service_name", None) or "the service")
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<url {self.index} of {self.count} ({self.service})>"


class AppriseClient:
    """Notifies the URLs of named targets through Apprise, each URL once, and reports an
    outcome per URL (see the module docstring).

    :param targets: the URLs of each target name (``{"alice": ["tgram://...", "ntfy://..."]}``).
        A value that is not a plain ``str`` (a dry run's unset ``${VAR}``) is kept as a URL that
        fails without being tried.
    :param redirect: an Apprise URL notified instead of every target's own (a staging receiver,
        ``--sandbox``'s local one); with it, ``targets`` may be ``None`` (any name goes there).
    :param timeout: seconds to connect and to wait for an answer, per request (Apprise's default,
        4 s each, or the URL's ``cto``/``rto``, when ``None``).
    :param throttle: the least seconds between two requests through one URL (Apprise's own for
        its service when ``None``: 0 for json://, 1.2 s for Slack, 5.5 s for most).
    :raises AppriseNotInstalledError: Apprise is not installed.
    :raises ValueError: a URL Apprise cannot use (the message names the target and position).
    """

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]] | None,
        *,
        redirect: str | None = None,
        timeout: float | None = None,
        throttle: float | None = None,
    ) -> None:
        self._apprise = load_apprise()
        self._timeout = timeout
        self._throttle = throttle
        self._targets: dict[str, tuple[_Url | None, ...]] | None = None
        if targets is not None:
            self._targets = {
                name: tuple(
                    self._load(url, f"targets.{name}", index, len(urls))
                    for index, url in enumerate(urls, 1)
                )
                for name, urls in targets.items()
            }
        self._redirect = self._load(redirect, "redirect", 1, 1) if redirect else None
        if self._targets is None and self._redirect is None:
            raise ValueError("an Apprise client needs targets or a redirect")
        notify_format = getattr(self._apprise, "NotifyFormat", None)
        self._text_format = getattr(notify_format, "TEXT", "text")

    def _load(self, url: str, where: str, index: int, count: int) -> _Url | None:
        if type(url) is not str:
            return None  # a dry run's unset ${VAR} (a str subclass): never sent
        problems = url_problems(url, self._apprise)
        if problems:
            raise ValueError(f"{where}[{index}]: {problems[0]}")
        with _captured():
            plugin = self._apprise.Apprise.instantiate(url)
        if plugin is None:  # url_problems found nothing: Apprise changed its mind
            raise ValueError(f"{where}[{index}]: Apprise cannot use this URL")
        plugin.logger = _PLUGIN_LOGGER
        if self._timeout is not None:
            plugin.socket_connect_timeout = self._timeout
            plugin.socket_read_timeout = self._timeout
        if self._throttle is not None:
            plugin.request_rate_per_sec = self._throttle
        return _Url(plugin, index, count)

    @property
    def targets(self) -> list[str] | None:
        """The target names, or ``None`` when any name goes to the redirect."""
        return None if self._targets is None else sorted(self._targets)

    @property
    def redirected(self) -> bool:
        """Whether every notification goes to the redirect URL instead of its target's."""
        return self._redirect is not None

    def __repr__(self) -> str:
        where = "redirected" if self._redirect is not None else f"targets={self.targets}"
        return f"<AppriseClient {where}>"

    def notify(
        self, target: str, body: str, *, title: str = "", notify_type: str = "info"
    ) -> TargetOutcome:
        """Notify every URL of ``target`` (the redirect instead, when there is one), one after
        the other, and say what became of each.

        :raises UnknownTargetError: no target of that name (and no redirect).
        """
        if self._redirect is not None:
            urls: tuple[_Url | None, ...] = (self._redirect,)
        else:
            assert self._targets is not None
            found = self._targets.get(target)
            if found is None:
                names = ", ".join(sorted(self._targets)) or "none"
                raise UnknownTargetError(f"no Apprise target {target!r} (targets: {names})")
            urls = found
        kind = self._apprise.NotifyType(notify_type) if notify_type in NOTIFY_TYPES else None
        outcomes = [
            self._notify_url(url, index, len(urls), body, title, kind)
            for index, url in enumerate(urls, 1)
        ]
        return TargetOutcome(target, tuple(outcomes))

    def _notify_url(
        self, url: _Url | None, index: int, count: int, body: str, title: str, kind: Any
    ) -> UrlOutcome:
        if url is None:
            return UrlOutcome(index, count, "unset", "failed", "its ${VAR} is not set (not sent)")
        if not getattr(url.plugin, "enabled", True):
            return UrlOutcome(
                index,
                count,
                url.service,
                "failed",
                "Apprise's plugin is disabled on this system (not sent)",
            )
        options: dict[str, Any] = {"body": body, "title": title, "body_format": self._text_format}
        if kind is not None:
            options["notify_type"] = kind
        with url.lock, _captured() as records:
            started = time.monotonic()
            try:
                ok = bool(url.plugin.notify(**options))
            except Exception as err:  # a plugin's bug: it may have raised after sending
                return UrlOutcome(
                    index,
                    count,
                    url.service,
                    "unknown",
                    f"Apprise's plugin raised {type(err).__name__}: it may have been sent",
                    elapsed=time.monotonic() - started,
                )
            elapsed = time.monotonic() - started
        state, reason, transient, status = classify(ok, records)
        return UrlOutcome(index, count, url.service, state, reason, transient, status, elapsed)
