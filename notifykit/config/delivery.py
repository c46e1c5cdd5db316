"""The config sections for reliable delivery: ``store:``, ``server:``, ``worker:``, ``retry:``
(with a ``retry:`` mapping per channel too) and ``circuit:``, each declared once as a settings
class.

::

    store: notifykit.db                 # or {path: notifykit.db, synchronous: full}, or :memory:
    server:
      public_url: https://alerts.example.com/notifykit   # no public_url: no status callbacks
      host: 127.0.0.1
      port: 8025
      webhook_token: ${ALERTMANAGER_TOKEN}   # or none: POST /alertmanager open on purpose
    worker: {threads: 4, lease: 60s, poll: 1s, reconcile_after: 10m, reconcile_every: 1m}
    retry: {initial: 2s, max: 5m, deadline: 15m, on_unknown: keep}
    circuit: {failures: 5, window: 1m, cool_down: 2m}
    channels:
      sms: {type: exotel-sms, ..., retry: {deadline: 30m}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal
from urllib.parse import urlsplit

import yaml

from notifykit.config.convert import convert
from notifykit.config.schema import _STR_TAG, INVALID, Checker, mapping_items
from notifykit.config.settings import (
    Duration,
    Settings,
    derived,
    is_loopback,
    parse_duration,
    setting,
)
from notifykit.errors import ConfigProblem

__all__ = [
    "DEFAULT_STORE",
    "CircuitSettings",
    "Duration",
    "FailoverSettings",
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


class StoreSettings(Settings):
    """``store:``, where the ledger lives: a path (``store: notifykit.db``), or a mapping with
    ``path`` and the keys below."""

    location: str = setting(
        default=DEFAULT_STORE,
        key="path",
        required=True,
        doc="the SQLite file (relative to the config file), sqlite:///path, :memory:, or "
        "postgresql://user@host/db",
    )
    synchronous: Literal["off", "normal", "full", "extra"] = setting(
        default="full",
        doc="SQLite durability (on PostgreSQL off and normal mean synchronous_commit=off)",
    )
    busy_timeout: Duration = setting(
        default=10.0, max=3600.0, doc="how long a writer waits for another one, or for a lock"
    )
    #: ``True`` when the config named no store (the default file is used)
    implicit: bool = derived(default=True)


class ServerSettings(Settings):
    """``server:``, the status server: where providers reach it (``public_url``) and where
    ``notifykit serve`` listens."""

    public_url: str | None = setting(
        default=None,
        pattern=r"https?://\S+",
        expected="an http(s) URL",
        doc="the URL providers post status callbacks to (maps to host:port); without it no "
        "callbacks are asked for",
    )
    host: str = setting(default="127.0.0.1", doc="where notifykit serve listens")
    port: int = setting(default=8025, min=1, max=65535, doc="the port it listens on")
    webhook_token: str | None = setting(
        default=None,
        secret=True,
        doc="the bearer token for POST /alertmanager (${ALERTMANAGER_TOKEN}), or the word none: "
        "open on purpose",
    )
    threads: int = setting(
        default=8, min=1, max=256, doc="the embedded server's threads running requests at once"
    )
    connection_limit: int = setting(
        default=100,
        min=1,
        max=100_000,
        doc="open connections at most; at the limit the longest-idle one is closed to make room",
    )
    idle_timeout: Duration = setting(
        default=30.0,
        min=0.1,
        max=3600.0,
        doc="a connection with no request in progress is closed after this long",
    )
    request_timeout: Duration = setting(
        default=10.0,
        min=0.1,
        max=3600.0,
        doc="a request's line, headers and body must all arrive within this",
    )
    callback_token_ttl: Duration = setting(
        default=7 * 86400.0,
        min=60.0,
        doc="a batch's callback token is refused this long after its last delivery became final",
    )
    unknown_callbacks: int = setting(
        default=20,
        min=0,
        max=10_000,
        doc="callbacks naming a message id the ledger has not recorded, kept per token at most "
        "(the newest, each trimmed small)",
    )
    unknown_callbacks_keep: Duration = setting(
        default=3600.0, doc="how long those callbacks are kept"
    )
    watch_workers: bool = setting(
        default=True,
        doc="raise notifykit.worker.down (and run the due work itself) when no notifykit worker "
        "was seen for two worker.lease periods; false where no worker is meant to run",
    )
    #: ``webhook_token: none``: ``POST /alertmanager`` is open on purpose (no token wanted)
    webhook_open: bool = derived(default=False)
    #: the lines of the section's keys ("" for the section), for problems found after loading
    lines: Mapping[str, int | None] = derived(default_factory=dict, compare=False)

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


class WorkerSettings(Settings):
    """``worker:``, how ``notifykit worker`` runs."""

    threads: int = setting(
        default=4,
        min=1,
        max=256,
        doc="requests in flight at once (they share the account's rate limit)",
    )
    lease: Duration = setting(
        default=60.0,
        min=1.0,
        max=3600.0,
        doc="a claimed delivery goes to another worker if this one stops renewing it",
    )
    poll: Duration = setting(
        default=1.0,
        min=0.01,
        max=60.0,
        doc="how often an idle worker looks for work nothing woke it for",
    )
    batch: int = setting(default=100, min=1, max=10000, doc="deliveries claimed at once")
    reconcile_after: Duration = setting(
        default=600.0, min=1.0, doc="a sent delivery with no status by then is looked up"
    )
    reconcile_every: Duration = setting(
        default=60.0, min=1.0, doc="how often the worker looks them up"
    )


class RetrySettings(Settings):
    """``retry:`` (and each channel's ``retry:``, over it): when a delivery that failed
    *transiently* (certainly not sent) is tried again.

    Exponential backoff: ``initial`` seconds after the first failure, then times ``multiplier``,
    at most ``max``, with ``jitter`` (a fraction) either way, and never sooner than a provider's
    ``Retry-After``; no retry is scheduled past ``deadline`` seconds after the delivery was first
    due. ``on_unknown`` decides what happens to a delivery that *may* have been sent: ``keep``
    (the default: it stays ``unknown``, never sent twice) or ``resend`` (tried again, which may
    page the person twice; for channels where a duplicate is harmless).
    """

    initial: Duration = setting(default=2.0, max=86400.0, doc="the wait after the first failure")
    max: Duration = setting(default=300.0, max=86400.0, doc="the longest wait between tries")
    deadline: Duration = setting(
        default=900.0,
        max=7 * 86400.0,
        doc="no retry is scheduled past this, from when it was first due",
    )
    on_unknown: Literal["keep", "resend"] = setting(
        default="keep",
        doc="keep: a delivery that may have been sent stays unknown; resend: tried again (may "
        "page twice)",
    )
    #: each wait is the one before times this (not a key of the file)
    multiplier: float = derived(default=2.0)
    #: each wait moves by up to this fraction either way (not a key of the file)
    jitter: float = derived(default=0.2)

    @property
    def resend_unknown(self) -> bool:
        """Whether a delivery that may have been sent is tried again (``on_unknown: resend``)."""
        return self.on_unknown == "resend"


class FailoverSettings(Settings):
    """A channel's ``fallback`` keys (docs/failover.md): where the same message goes when this
    channel *certainly did not* send it for a reason on the provider's side or ours
    (authentication, KYC, balance, a suspended account, a refused connection, throttling past
    the retry deadline, an open circuit). A failure that lies with the recipient (an invalid
    number, DND) never falls over, nor does one that may have been sent (``unknown``) unless
    ``fallback_on_unknown`` says so.

    ::

        channels:
          call: {type: exotel-call, account: main, fallback: [sms-backup, sms]}
    """

    fallback: tuple[str, ...] = setting(
        default=(),
        ref="channel",
        one_or_many=True,
        doc="channels tried in order, each when the one before it certainly did not send",
    )
    fallback_on_unknown: bool = setting(
        default=False,
        doc="also fall over when the request may have been sent (unknown): may page twice",
    )


class CircuitSettings(Settings):
    """``circuit:``, the circuit breaker of each provider account (docs/circuit-breaker.md):
    after ``failures`` failed sends on the provider's side within ``window``, the account is
    skipped for ``cool_down`` (its deliveries go to their fallback, or wait), then one probe
    decides. Shared by every process through the ledger.

    ::

        circuit: {failures: 5, window: 1m, cool_down: 2m}
    """

    enabled: bool = setting(
        default=True, doc="false: every send goes to its provider, whatever it answered before"
    )
    failures: int = setting(
        default=5,
        min=1,
        max=10_000,
        doc="failed sends on the provider's side (a refused account, a refused connection, a "
        "5xx, a timeout) within window that open the account's circuit",
    )
    window: Duration = setting(
        default=60.0,
        min=1.0,
        max=86400.0,
        doc="the window the failures are counted in, from the first of them",
    )
    cool_down: Duration = setting(
        default=120.0,
        min=1.0,
        max=86400.0,
        doc="how long an open circuit skips the account before one probe request decides",
    )


def load_circuit(node: yaml.Node | None, path: str, ctx: Checker) -> CircuitSettings:
    if node is None:
        return CircuitSettings()
    value = convert(node, CircuitSettings, path, ctx)
    return CircuitSettings() if value is INVALID else value


def load_store(node: yaml.Node | None, path: str, ctx: Checker) -> StoreSettings:
    if node is None:
        return StoreSettings()
    if isinstance(node, yaml.ScalarNode):
        text = convert(node, str, path, ctx)
        if not isinstance(text, str):
            return StoreSettings()
        return StoreSettings(location=text, implicit=False)
    value: StoreSettings = convert(node, StoreSettings, path, ctx)
    if value is INVALID:
        return StoreSettings()
    return replace(value, implicit=False)


def load_server(node: yaml.Node | None, path: str, ctx: Checker) -> ServerSettings:
    if node is None:
        return ServerSettings()
    # webhook_token: none, written as such, is no secret: the webhook is open on purpose
    items = mapping_items(node, path, Checker("", {})) if isinstance(node, yaml.MappingNode) else []
    open_ = any(
        key == "webhook_token"
        and isinstance(value, yaml.ScalarNode)
        and value.tag == _STR_TAG
        and value.value == "none"
        for key, _key_node, value in items
    )
    ignore = frozenset({"webhook_token"}) if open_ else frozenset()
    value: ServerSettings = convert(node, ServerSettings, path, ctx, ignore=ignore)
    if value is INVALID:
        return ServerSettings()
    lines: dict[str, int | None] = {"": ctx.line(node)}
    for key, key_node, _value in items:
        if key in value:
            lines[key] = ctx.line(key_node)
    public = value.public_url
    return replace(
        value,
        public_url=public.rstrip("/") if public else None,
        webhook_open=open_,
        lines=lines,
    )


def load_worker(node: yaml.Node | None, path: str, ctx: Checker) -> WorkerSettings:
    if node is None:
        return WorkerSettings()
    value = convert(node, WorkerSettings, path, ctx)
    return WorkerSettings() if value is INVALID else value


def load_retry(
    node: yaml.Node | None, path: str, ctx: Checker, base: RetrySettings
) -> RetrySettings:
    """A ``retry:`` mapping over ``base``: keys it leaves out keep ``base``'s values."""
    if node is None:
        return base
    value = convert(node, RetrySettings, path, ctx, base=base)
    return base if value is INVALID else value
