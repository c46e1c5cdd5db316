"""The config sections for reliable delivery: ``store:``, ``server:``, ``worker:`` and ``retry:``
(with a ``retry:`` mapping per channel too), and the ``Duration`` type they use.

::

    store: notifykit.db                 # or {path: notifykit.db, synchronous: full}, or :memory:
    server:
      public_url: https://alerts.example.com/notifykit   # no public_url: no status callbacks
      host: 127.0.0.1
      port: 8025
      webhook_token: ${ALERTMANAGER_TOKEN}   # or none: POST /alertmanager open on purpose
    worker: {threads: 4, lease: 60s, poll: 1s, reconcile_after: 10m, reconcile_every: 1m}
    retry: {initial: 2s, max: 5m, deadline: 15m, on_unknown: keep}
    channels:
      sms: {type: exotel-sms, ..., retry: {deadline: 30m}}
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import yaml

from notifykit.config.schema import (
    _STR_TAG,
    INVALID,
    Checker,
    Choice,
    Field,
    Integer,
    String,
    Struct,
    Type,
    UnsetEnv,
    _warn_inline_secret,
    describe,
)
from notifykit.errors import ConfigProblem

__all__ = [
    "DEFAULT_STORE",
    "Duration",
    "RetrySettings",
    "ServerSettings",
    "StoreSettings",
    "WorkerSettings",
    "is_loopback",
    "open_webhook_problem",
    "parse_duration",
]

#: the ledger file used when the config names none (relative to the config file)
DEFAULT_STORE = "notifykit.db"

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``30s``, ``5m``, ``1h30m``, ``250ms``, ``2d``); a bare
    number is seconds. ``None`` when the text is not one."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


@dataclass(frozen=True)
class Duration(Type):
    """A duration: ``30s``, ``5m``, ``4h``, ``1h30m``, ``250ms``, or a number of seconds."""

    minimum: float = 0.0
    maximum: float | None = None

    description = "a duration (30s, 5m, 4h)"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return ctx.problem(node, path, f"expected a duration such as 30s, got {describe(node)}")
        text = ctx.text(node, path)
        if text is INVALID:
            return INVALID
        seconds = parse_duration(str(text))
        if seconds is None:
            return ctx.problem(
                node, path, f"{text!r} is not a duration: write it like 30s, 5m, 4h or 1h30m"
            )
        if seconds < self.minimum:
            return ctx.problem(node, path, f"must be at least {self.minimum:g}s, got {text}")
        if self.maximum is not None and seconds > self.maximum:
            return ctx.problem(node, path, f"must be at most {self.maximum:g}s, got {text}")
        return seconds


@dataclass(frozen=True)
class StoreSettings:
    """Where the ledger lives: ``location`` is a path, ``sqlite:///path`` or ``:memory:``."""

    location: str = DEFAULT_STORE
    synchronous: str = "full"
    busy_timeout: float = 10.0
    #: ``True`` when the config named no store (the default file is used)
    implicit: bool = True


@dataclass(frozen=True)
class ServerSettings:
    """The status server: where providers reach it (``public_url``) and where it listens."""

    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8025
    webhook_token: str | None = field(default=None, repr=False)
    #: ``webhook_token: none``: ``POST /alertmanager`` is open on purpose (no token wanted)
    webhook_open: bool = False
    #: the embedded server's threads running requests (the app) at once
    threads: int = 8
    #: open connections at most; at the limit the longest-idle one is closed to make room
    connection_limit: int = 100
    #: a connection with no request in progress is closed after this long (keep-alive, half-open)
    idle_timeout: float = 30.0
    #: a request's line, headers and body must all arrive within this (slow clients are closed)
    request_timeout: float = 10.0
    #: a batch's callback token is refused this long after its last delivery became final
    callback_token_ttl: float = 7 * 86400.0
    #: callbacks naming a message id the ledger has not recorded: kept per token at most this
    #: many (the newest), each trimmed small, for ``unknown_callbacks_keep`` seconds
    unknown_callbacks: int = 20
    unknown_callbacks_keep: float = 3600.0
    #: the lines of the section's keys ("" for the section), for problems found after loading
    lines: Mapping[str, int | None] = field(default_factory=dict, repr=False, compare=False)

    def webhook_exposure(self, host: str | None = None) -> str | None:
        """Why anyone could page people through ``POST /alertmanager``, or ``None``.

        The webhook is *reachable* when ``public_url`` names a host other than this machine (a
        proxy forwards the world to it), or when the server listens on an address that is not
        loopback (``host``, default :attr:`host`: ``0.0.0.0``, a LAN address...). Reachable and
        without a ``webhook_token`` is a problem, unless the config says ``webhook_token: none``.
        """
        if self.webhook_token or self.webhook_open:
            return None
        listen = self.host if host is None else host
        if self.public_url and not is_loopback(urlsplit(self.public_url).hostname or ""):
            why = "server.public_url points beyond this machine"
        elif not is_loopback(listen):
            why = f"notifykit serve listens on {listen or 'every address'}, not a loopback address"
        else:
            return None
        return (
            f"{why}, so anyone who can reach POST /alertmanager can page people, and no "
            "webhook_token is set: set webhook_token: ${ALERTMANAGER_TOKEN} (the same bearer "
            "token in Alertmanager's http_config authorization), or webhook_token: none to leave "
            "the webhook open on purpose"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost`` or a loopback address."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_webhook_problem(
    source: str, server: ServerSettings, host: str | None = None
) -> ConfigProblem | None:
    """:meth:`ServerSettings.webhook_exposure` as a problem of ``source`` (the config file), at
    the key that makes the webhook reachable; ``None`` when there is none."""
    reason = server.webhook_exposure(host)
    if reason is None:
        return None
    lines = server.lines
    line = lines.get("webhook_token") or lines.get("public_url") or lines.get("host")
    return ConfigProblem(source, line or lines.get(""), "server.webhook_token", reason)


@dataclass(frozen=True)
class WorkerSettings:
    """How ``notifykit worker`` runs."""

    threads: int = 4
    lease: float = 60.0
    poll: float = 1.0
    batch: int = 100
    reconcile_after: float = 600.0
    reconcile_every: float = 60.0


@dataclass(frozen=True)
class RetrySettings:
    """When a delivery that failed *transiently* (certainly not sent) is tried again.

    Exponential backoff: ``initial`` seconds after the first failure, then times ``multiplier``,
    at most ``max``, with ``jitter`` (a fraction) either way, and never sooner than a provider's
    ``Retry-After``; no retry is scheduled past ``deadline`` seconds after the delivery was first
    due. ``on_unknown`` decides what happens to a delivery that *may* have been sent: ``keep``
    (the default: it stays ``unknown``, never sent twice) or ``resend`` (tried again, which may
    page the person twice; for channels where a duplicate is harmless).
    """

    initial: float = 2.0
    max: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2
    deadline: float = 900.0
    on_unknown: str = "keep"


#: what the webhook_token type reads ``none`` as: no token, on purpose
WEBHOOK_OPEN: Any = type("WebhookOpen", (), {"__repr__": lambda self: "WEBHOOK_OPEN"})()


@dataclass(frozen=True)
class WebhookToken(Type):
    """``server.webhook_token``: a secret (``${ENV}``), or the word ``none``, which says the
    Alertmanager webhook is open on purpose. ``none`` is no secret: never scrubbed from output
    (it is a common word), and no "secret written in the file" warning."""

    description = "a bearer token (${ENV_VAR}), or none"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG and node.value == "none":
            return WEBHOOK_OPEN
        was_secret = ctx.secret_field
        ctx.secret_field = True  # what ${VAR} brings in is a secret, scrubbed from problems
        try:
            value = String().check(node, path, ctx)
        finally:
            ctx.secret_field = was_secret
        if isinstance(value, str) and value and not isinstance(value, UnsetEnv):
            ctx.secrets.add(value)
        _warn_inline_secret(node, path, ctx)
        return value


_STORE_FIELDS = {
    "path": Field(String(), required=True, help="the SQLite file, or :memory:"),
    "synchronous": Field(
        Choice(("off", "normal", "full", "extra")), default="full", help="SQLite durability"
    ),
    "busy_timeout": Field(Duration(0.0, 3600.0), default=10.0),
}
_SERVER = ServerSettings()  # the defaults, written once in the dataclass
_SERVER_FIELDS = {
    "public_url": Field(
        String(r"https?://\S+", "an http(s) URL"),
        help="the URL providers post status callbacks to (maps to host:port)",
    ),
    "host": Field(String(), default="127.0.0.1"),
    "port": Field(Integer(1, 65535), default=8025),
    "webhook_token": Field(
        WebhookToken(),
        help="bearer token for POST /alertmanager, or none (open on purpose)",
    ),
    "threads": Field(Integer(1, 256), default=_SERVER.threads),
    "connection_limit": Field(Integer(1, 100_000), default=_SERVER.connection_limit),
    "idle_timeout": Field(Duration(0.1, 3600.0), default=_SERVER.idle_timeout),
    "request_timeout": Field(Duration(0.1, 3600.0), default=_SERVER.request_timeout),
    "callback_token_ttl": Field(Duration(60.0), default=_SERVER.callback_token_ttl),
    "unknown_callbacks": Field(Integer(0, 10_000), default=_SERVER.unknown_callbacks),
    "unknown_callbacks_keep": Field(Duration(0.0), default=_SERVER.unknown_callbacks_keep),
}
_WORKER_FIELDS = {
    "threads": Field(Integer(1, 256), default=4),
    "lease": Field(Duration(1.0, 3600.0), default=60.0),
    "poll": Field(Duration(0.01, 60.0), default=1.0),
    "batch": Field(Integer(1, 10000), default=100),
    "reconcile_after": Field(Duration(1.0), default=600.0),
    "reconcile_every": Field(Duration(1.0), default=60.0),
}
RETRY_FIELDS = {
    "initial": Field(Duration(0.0, 86400.0), default=None),
    "max": Field(Duration(0.0, 86400.0), default=None),
    "deadline": Field(Duration(0.0, 7 * 86400.0), default=None),
    "on_unknown": Field(Choice(("keep", "resend")), default=None),
}


def load_store(node: yaml.Node | None, path: str, ctx: Checker) -> StoreSettings:
    if node is None:
        return StoreSettings()
    if isinstance(node, yaml.ScalarNode):
        text = String().check(node, path, ctx)
        if text is INVALID:
            return StoreSettings()
        return StoreSettings(location=str(text), implicit=False)
    value = Struct(_STORE_FIELDS).check(node, path, ctx)
    if value is INVALID:
        return StoreSettings()
    return StoreSettings(
        location=value["path"],
        synchronous=value["synchronous"],
        busy_timeout=value["busy_timeout"],
        implicit=False,
    )


def load_server(node: yaml.Node | None, path: str, ctx: Checker) -> ServerSettings:
    if node is None:
        return ServerSettings()
    value = Struct(_SERVER_FIELDS).check(node, path, ctx)
    if value is INVALID:
        return ServerSettings()
    public = value["public_url"]
    token = value["webhook_token"]
    lines: dict[str, int | None] = {"": ctx.line(node)}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value in _SERVER_FIELDS:
                lines[str(key_node.value)] = ctx.line(key_node)
    return ServerSettings(
        public_url=public.rstrip("/") if public else None,
        host=value["host"],
        port=value["port"],
        webhook_token=None if token is WEBHOOK_OPEN else token,
        webhook_open=token is WEBHOOK_OPEN,
        lines=lines,
        threads=value["threads"],
        connection_limit=value["connection_limit"],
        idle_timeout=value["idle_timeout"],
        request_timeout=value["request_timeout"],
        callback_token_ttl=value["callback_token_ttl"],
        unknown_callbacks=value["unknown_callbacks"],
        unknown_callbacks_keep=value["unknown_callbacks_keep"],
    )


def load_worker(node: yaml.Node | None, path: str, ctx: Checker) -> WorkerSettings:
    if node is None:
        return WorkerSettings()
    value = Struct(_WORKER_FIELDS).check(node, path, ctx)
    if value is INVALID:
        return WorkerSettings()
    return WorkerSettings(**value)


def load_retry(
    node: yaml.Node | None, path: str, ctx: Checker, base: RetrySettings
) -> RetrySettings:
    """A ``retry:`` mapping over ``base``: keys it leaves out keep ``base``'s values."""
    if node is None:
        return base
    value = Struct(RETRY_FIELDS).check(node, path, ctx)
    if value is INVALID:
        return base
    changes = {k: v for k, v in value.items() if v is not None}
    return replace(base, **changes)
