"""The config sections for running on several processes and hosts: ``limiter:``, ``dispatch:``
and ``celery:``.

::

    store: postgresql://notifykit@db.internal/notifykit
    limiter: redis://redis.internal:6379/0   # or postgresql: the ledger's database
    # limiter: {url: redis://..., margin: 0.01, hold: 2m, prefix: "notifykit:limit"}
    dispatch: celery                         # worker (the default): `notifykit worker` delivers
    celery:
      broker: amqp://notifykit@rabbit.internal//    # or redis://redis.internal:6379/1
      queue: notifykit
      requeue_after: 15m        # a delivery enqueued but not taken by then is enqueued again
      visibility_timeout: 1h    # Redis brokers: an unacknowledged task comes back after this
      enqueue_every: 1s         # how often beat enqueues what became due (retries)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from notifykit.config.delivery import Duration, StoreSettings
from notifykit.config.schema import (
    INVALID,
    Checker,
    Choice,
    Field,
    String,
    Struct,
    Type,
    describe,
)

__all__ = [
    "SECTIONS",
    "CelerySettings",
    "LimiterSettings",
    "ScaleoutSettings",
    "load_scaleout",
]

#: the top-level sections this module reads
SECTIONS = ("limiter", "dispatch", "celery")


@dataclass(frozen=True)
class LimiterSettings:
    """The shared rate limiter: ``kind`` ``redis`` (``url`` names it) or ``postgresql``
    (``url`` empty: the ledger's database)."""

    kind: str
    url: str = field(default="", repr=False)
    #: the safety margin, as a fraction of each account's window (``None``: 1%)
    margin: float | None = None
    hold: float = 120.0
    prefix: str = "notifykit:limit"


@dataclass(frozen=True)
class CelerySettings:
    """How deliveries travel on Celery (``dispatch: celery``)."""

    broker: str = field(default="", repr=False)
    queue: str = "notifykit"
    requeue_after: float = 900.0
    visibility_timeout: float = 3600.0
    enqueue_every: float = 1.0


@dataclass(frozen=True)
class ScaleoutSettings:
    """``limiter:``, ``dispatch:`` and ``celery:`` together."""

    limiter: LimiterSettings | None = None
    dispatch: str = "worker"
    celery: CelerySettings = field(default_factory=CelerySettings)


@dataclass(frozen=True)
class _Fraction(Type):
    description = "a fraction between 0 and 0.5"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> object:
        text = ctx.text(node, path)
        if text is INVALID:
            return INVALID
        try:
            value = float(str(text))
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 0.5:
            return ctx.problem(
                node, path, f"expected a fraction of the window (0.01 is 1%), got {text}"
            )
        return value


_LIMITER_FIELDS = {
    "url": Field(String(), required=True, help="redis://host:6379/0, or postgresql"),
    "margin": Field(_Fraction(), help="safety margin, a fraction of each account's window"),
    "hold": Field(Duration(1.0, 3600.0), default=120.0),
    "prefix": Field(String(), default="notifykit:limit"),
}
_CELERY_FIELDS = {
    "broker": Field(String(), required=True, help="redis://... or amqp://..."),
    "queue": Field(String(r"[A-Za-z0-9_.:-]+", "a queue name"), default="notifykit"),
    "requeue_after": Field(Duration(5.0, 7 * 86400.0), default=900.0),
    "visibility_timeout": Field(Duration(1.0, 7 * 86400.0), default=3600.0),
    "enqueue_every": Field(Duration(0.05, 3600.0), default=1.0),
}
_BROKERS = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def _password(url: str, ctx: Checker) -> None:
    # A password in a URL is a secret: scrubbed from every message, like a token.
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password:
        ctx.secrets.add(password)


def _limiter(node: yaml.Node, store: StoreSettings, ctx: Checker) -> LimiterSettings | None:
    if isinstance(node, yaml.ScalarNode):
        text = String().check(node, "limiter", ctx)
        if text is INVALID:
            return None
        value: dict[str, Any] = {
            "url": str(text),
            "margin": None,
            "hold": 120.0,
            "prefix": "notifykit:limit",
        }
    else:
        checked = Struct(_LIMITER_FIELDS).check(node, "limiter", ctx)
        if checked is INVALID:
            return None
        value = checked
    url = str(value["url"]).strip()
    _password(url, ctx)
    scheme = url.partition("://")[0].lower() if "://" in url else url.lower()
    margin, hold, prefix = value["margin"], float(value["hold"]), str(value["prefix"])
    if scheme in ("redis", "rediss", "unix"):
        return LimiterSettings("redis", url, margin, hold, prefix)
    if scheme in ("postgresql", "postgres"):
        if "://" in url:
            return LimiterSettings("postgresql", url, margin, hold, prefix)
        if "://" not in store.location or not store.location.lower().startswith("postgres"):
            ctx.problem(
                node,
                "limiter",
                "limiter: postgresql uses the ledger's database, and store: is not PostgreSQL; "
                "set store: postgresql://..., or give limiter: redis://host:6379/0 or a "
                "postgresql:// URL of its own",
            )
            return None
        return LimiterSettings("postgresql", "", margin, hold, prefix)
    ctx.problem(
        node,
        "limiter",
        f"{url.split('@')[-1]!r} is not a shared limiter notifykit knows; use "
        "redis://host:6379/0, or postgresql (the ledger's database)",
    )
    return None


def load_scaleout(
    sections: Mapping[str, yaml.Node], store: StoreSettings, ctx: Checker
) -> ScaleoutSettings:
    """The three sections (of the config's top-level ``sections``), checked against each other
    and ``store``."""
    limiter, dispatch, celery = (sections.get(name) for name in SECTIONS)
    shared = None if limiter is None else _limiter(limiter, store, ctx)
    mode = "worker"
    if dispatch is not None:
        checked = Choice(("worker", "celery")).check(dispatch, "dispatch", ctx)
        mode = "worker" if checked is INVALID else str(checked)
    settings = CelerySettings()
    if celery is not None:
        if not isinstance(celery, yaml.MappingNode):
            ctx.problem(
                celery, "celery", f"expected a mapping with a broker:, got {describe(celery)}"
            )
        else:
            value = Struct(_CELERY_FIELDS).check(celery, "celery", ctx)
            if value is not INVALID:
                broker = str(value["broker"]).strip()
                _password(broker, ctx)
                scheme = broker.partition("://")[0].lower()
                if "://" not in broker or scheme not in _BROKERS:
                    ctx.problem(
                        celery,
                        "celery.broker",
                        "expected a broker URL such as redis://host:6379/1 or "
                        "amqp://user@host:5672//",
                    )
                settings = CelerySettings(
                    broker=broker,
                    queue=value["queue"],
                    requeue_after=value["requeue_after"],
                    visibility_timeout=value["visibility_timeout"],
                    enqueue_every=value["enqueue_every"],
                )
    if mode == "celery":
        if not settings.broker:
            ctx.problem(
                dispatch,
                "dispatch",
                "dispatch: celery needs a broker: add celery: {broker: redis://host:6379/1} "
                "(or amqp://...)",
            )
        if store.location == ":memory:":
            ctx.problem(
                dispatch,
                "dispatch",
                "dispatch: celery needs a ledger the Celery workers share; store: :memory: is "
                "this process's alone",
            )
        if importlib.util.find_spec("celery") is None:  # found, not imported: start-up stays cheap
            ctx.problem(
                dispatch,
                "dispatch",
                "dispatch: celery needs Celery, which is not installed: "
                "pip install 'notifykit-pager[celery]'",
            )
    return ScaleoutSettings(limiter=shared, dispatch=mode, celery=settings)
