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
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

import yaml

from notifykit.config.convert import convert
from notifykit.config.delivery import StoreSettings
from notifykit.config.schema import INVALID, Checker, describe
from notifykit.config.settings import Duration, Settings, derived, setting

__all__ = [
    "SECTIONS",
    "CelerySettings",
    "Dispatch",
    "LimiterSettings",
    "ScaleoutSettings",
    "load_scaleout",
]

#: the top-level sections this module reads
SECTIONS = ("limiter", "dispatch", "celery")

#: ``dispatch:``, who delivers what ``submit()`` accepts
Dispatch = Literal["worker", "celery"]


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 0.5:
        raise ValueError(f"expected a fraction of the window (0.01 is 1%), got {text}")
    return value


class LimiterSettings(Settings):
    """``limiter:``, the rate limit shared by every process: a URL (``limiter:
    redis://host:6379/0``, or ``postgresql``: the ledger's database), or a mapping with ``url``
    and the keys below."""

    url: str = setting(
        default="",
        required=True,
        repr=False,
        doc="redis://host:6379/0, postgresql, or postgresql://...",
    )
    margin: float | None = setting(
        default=None,
        parse=_fraction,
        expected="a fraction between 0 and 0.5",
        doc="the safety margin, a fraction of each account's window (default 0.01)",
    )
    hold: Duration = setting(
        default=120.0,
        min=1.0,
        max=3600.0,
        doc="how long a request in flight counts at most if its process dies",
    )
    prefix: str = setting(default="notifykit:limit", doc="the Redis key prefix")
    #: ``redis`` (``url`` names it) or ``postgresql`` (``url`` empty: the ledger's database)
    kind: Literal["redis", "postgresql"] = derived(default="redis")


class CelerySettings(Settings):
    """``celery:``, how deliveries travel on Celery (``dispatch: celery``)."""

    broker: str = setting(default="", required=True, repr=False, doc="redis://... or amqp://...")
    queue: str = setting(
        default="notifykit", pattern=r"[A-Za-z0-9_.:-]+", expected="a queue name", doc="the queue"
    )
    requeue_after: Duration = setting(
        default=900.0,
        min=5.0,
        max=7 * 86400.0,
        doc="a delivery enqueued but not taken by then is enqueued again",
    )
    visibility_timeout: Duration = setting(
        default=3600.0,
        min=1.0,
        max=7 * 86400.0,
        doc="Redis brokers: an unacknowledged task comes back after this",
    )
    enqueue_every: Duration = setting(
        default=1.0, min=0.05, max=3600.0, doc="how often beat enqueues what became due (retries)"
    )


@dataclass(frozen=True)
class ScaleoutSettings:
    """``limiter:``, ``dispatch:`` and ``celery:`` together."""

    limiter: LimiterSettings | None = None
    dispatch: Dispatch = "worker"
    celery: CelerySettings = field(default_factory=CelerySettings)


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
        text = convert(node, str, "limiter", ctx)
        if not isinstance(text, str):
            return None
        settings = LimiterSettings(url=text)
    else:
        settings = convert(node, LimiterSettings, "limiter", ctx)
        if settings is INVALID:
            return None
    url = settings.url.strip()
    _password(url, ctx)
    scheme = url.partition("://")[0].lower() if "://" in url else url.lower()
    if scheme in ("redis", "rediss", "unix"):
        return replace(settings, kind="redis", url=url)
    if scheme in ("postgresql", "postgres"):
        if "://" in url:
            return replace(settings, kind="postgresql", url=url)
        if "://" not in store.location or not store.location.lower().startswith("postgres"):
            ctx.problem(
                node,
                "limiter",
                "limiter: postgresql uses the ledger's database, and store: is not PostgreSQL; "
                "set store: postgresql://..., or give limiter: redis://host:6379/0 or a "
                "postgresql:// URL of its own",
            )
            return None
        return replace(settings, kind="postgresql", url="")
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
    mode: Dispatch = "worker"
    if dispatch is not None:
        checked = convert(dispatch, Dispatch, "dispatch", ctx)
        mode = "celery" if checked == "celery" else "worker"
    settings = CelerySettings()
    if celery is not None:
        if not isinstance(celery, yaml.MappingNode):
            ctx.problem(
                celery, "celery", f"expected a mapping with a broker:, got {describe(celery)}"
            )
        else:
            value = convert(celery, CelerySettings, "celery", ctx)
            if value is not INVALID:
                broker = value.broker.strip()
                _password(broker, ctx)
                scheme = broker.partition("://")[0].lower()
                if "://" not in broker or scheme not in _BROKERS:
                    ctx.problem(
                        celery,
                        "celery.broker",
                        "expected a broker URL such as redis://host:6379/1 or "
                        "amqp://user@host:5672//",
                    )
                settings = replace(value, broker=broker)
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
