"""Prometheus metrics: one registry per :class:`~notifykit.runtime.Runtime`, the counters and
histograms the parts of the pipeline feed, and the gauges read from the ledger at each scrape.

The composition root makes one :class:`Metrics` and hands it to the parts that count: the
delivery run (deliveries by state), the dispatcher (how long a channel took to send), the status
stage (callbacks, and the deliveries their statuses changed), the escalation stage
(acknowledgements), the provider clients' rate limiters (waits) and the worker (its loop). It is
*off* until :meth:`Metrics.start`: every call returns at once, and ``prometheus_client`` (30 ms
of imports) is not imported, so ``import notifykit`` and a dry run cost what they did.
``notifykit serve`` (and :func:`notifykit.server.create_app`) and ``notifykit worker
--metrics-port`` start it.

Counters and histograms are this process's own: each process (``serve``, each worker) exports
its own on its own port, the Prometheus way (one target per process; ``up`` says whether it
answers). The gauges of what the ledger holds (pending and unknown deliveries, the oldest pending
one's age, open alerts, open escalations by step, live workers) are read from the ledger when
scraped, so every process exports the same values, right across processes and restarts.

No label carries a recipient, an address or a secret: only names from the config (channel,
channel type, provider, account, policy) and fixed words (state, outcome, step). docs/deploy.md
lists every metric.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.errors import NotifykitError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from notifykit.ledger.base import DeliveryGauges
    from notifykit.ledger.outcome import Change
    from notifykit.ledger.state import RoutingGauges

__all__ = ["CIRCUIT_STATE", "Gauges", "Metrics", "MetricsServer", "parse_address"]

logger = logging.getLogger("notifykit.metrics")

#: The circuit-breaker state metric: ``notifykit_circuit_state{provider,account,state}`` is 1 for
#: the state each provider account's breaker is in (``closed``, ``open``, ``half_open``) and 0 for
#: the others (docs/circuit-breaker.md), read from the ledger at each scrape. Only accounts that
#: have a breaker (a channel sends through them, ``circuit.enabled``) are exported.
CIRCUIT_STATE = "notifykit_circuit_state"
#: the states a circuit can be in, each a sample of :data:`CIRCUIT_STATE`
CIRCUIT_STATES = ("closed", "open", "half_open")

#: channel.send() of one batch: one SMS bulk request is ~0.1-1 s, a batch of calls one request
#: each; a provider timing out shows in the last buckets
SEND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: a rate limiter's wait before a request: zero while under the limit, up to the window (a
#: minute for Exotel) under a burst
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Gauges:
    """What the ledger says at a scrape (read by the runtime for :class:`Metrics`): the
    deliveries' gauges, the routing state's (``None``: not read), and when they were read. (A
    plain class: a dataclass would cost every ``import notifykit.runtime`` a dataclass build.)"""

    __slots__ = ("circuits", "deliveries", "now", "routing")

    def __init__(
        self,
        deliveries: DeliveryGauges,
        routing: RoutingGauges | None,
        now: float,
        circuits: Mapping[str, str] | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.routing = routing
        self.now = now
        #: the state of each provider account's circuit, by key (``exotel:main``)
        self.circuits = circuits or {}


class Metrics:
    """The metrics of one runtime (see the module docstring).

    ``provider_of``: the provider of each channel type (``"none"`` for a channel of no
    provider, such as ``console``); ``gauges``: reads the ledger at a scrape."""

    def __init__(
        self,
        *,
        provider_of: Mapping[str, str] | None = None,
        gauges: Callable[[], Gauges] | None = None,
    ) -> None:
        self._provider_of = dict(provider_of or {})
        self._gauges = gauges
        self._lock = threading.Lock()
        self._registry: CollectorRegistry | None = None
        #: whether :meth:`start` has run (every counting call is a no-op until then)
        self.on = False
        self._m: Any = None

    def __repr__(self) -> str:
        return f"<Metrics {'on' if self.on else 'off'}>"

    # -- turning it on --------------------------------------------------------------------------

    def start(self) -> CollectorRegistry:
        """Turn counting on (idempotent) and return the registry to expose. Imports
        ``prometheus_client``."""
        with self._lock:
            if self._registry is None:
                self._registry = self._build()
                self.on = True
            return self._registry

    @property
    def registry(self) -> CollectorRegistry | None:
        """The registry, once :meth:`start` has run."""
        return self._registry

    def _build(self) -> CollectorRegistry:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            Info,
        )
        from prometheus_client.gc_collector import GCCollector
        from prometheus_client.platform_collector import PlatformCollector
        from prometheus_client.process_collector import ProcessCollector

        from notifykit import __version__

        registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        Info("notifykit_build", "notifykit's version", registry=registry).info(
            {"version": __version__}
        )
        self._m = _Instruments(
            deliveries=Counter(
                "notifykit_deliveries",
                "Deliveries this process recorded in a state: each outcome of a send (sent, "
                "failed, unknown, skipped, pending for a retry), each status a callback or a "
                "lookup applied (delivered, failed...), each delivery found unknown after its "
                "sender died. A delivery counts once for each state it enters.",
                ["channel", "channel_type", "provider", "state"],
                registry=registry,
            ),
            send_seconds=Histogram(
                "notifykit_send_duration_seconds",
                "Time a channel took to send one batch: one notification's recipients on one "
                "channel, a bulk request or a request per recipient, with the rate limiter's "
                "waits and the client's retries.",
                ["channel", "provider"],
                buckets=SEND_BUCKETS,
                registry=registry,
            ),
            callbacks=Counter(
                "notifykit_status_callbacks",
                "Status callbacks received, by outcome: applied (a delivery's state changed), "
                "ignored (a duplicate or late one: nothing changed), unknown_token, expired (410), "
                "unsupported "
                "(the channel reads no callbacks), malformed, error (the ledger failed: 503, "
                "the provider retries).",
                ["channel", "outcome"],
                registry=registry,
            ),
            acks=Counter(
                "notifykit_acknowledgements",
                "Escalations acknowledged, by the audit trail's path: link (the ack link's "
                "page), call (an answered call of a policy with ack_on_answer), keypress (a key "
                "pressed on a paging call), missed-call, whatsapp, web (the console), cli "
                "(notifykit ack), api (Notifier.ack); channel is the channel whose message was "
                "answered, where there is one.",
                ["via", "channel"],
                registry=registry,
            ),
            failovers=Counter(
                "notifykit_failovers",
                "Deliveries handed to their channel's fallback (docs/failover.md): from the "
                "channel that certainly did not send, to the fallback channel.",
                ["channel", "fallback"],
                registry=registry,
            ),
            waits=Histogram(
                "notifykit_rate_limiter_wait_seconds",
                "Time each provider request waited for its account's rate limiter (shared "
                "with limiter:, else the client's own).",
                ["provider", "account"],
                buckets=WAIT_BUCKETS,
                registry=registry,
            ),
            loop=Gauge(
                "notifykit_worker_last_loop_timestamp_seconds",
                "When this process's worker last went round its loop (Unix time); a worker "
                "alive but stuck stops moving it.",
                registry=registry,
            ),
            running=Gauge(
                "notifykit_worker_running",
                "1 while this process's worker runs, 0 once it has stopped.",
                registry=registry,
            ),
        )
        if self._gauges is not None:
            registry.register(_LedgerCollector(self._gauges))
        return registry

    # -- what the parts count -------------------------------------------------------------------

    def deliveries(self, changes: Sequence[Change]) -> None:
        """Recorded outcomes and status changes: one per delivery, in its new state."""
        if not self.on or not changes:
            return
        counter = self._m.deliveries
        counts: dict[tuple[str, str, str], int] = {}
        for change in changes:
            d = change.delivery
            key = (d.channel, d.channel_type, d.state.value)
            counts[key] = counts.get(key, 0) + 1
        for (channel, channel_type, state), n in counts.items():
            counter.labels(channel, channel_type, self.provider(channel_type), state).inc(n)

    def sent_batch(self, channel: str, channel_type: str, seconds: float) -> None:
        """A channel's ``send()`` of one batch took ``seconds``."""
        if self.on:
            self._m.send_seconds.labels(channel, self.provider(channel_type)).observe(seconds)

    def callback(self, channel: str, outcome: str) -> None:
        """A status callback and what became of it (the names in the metric's help)."""
        if self.on:
            self._m.callbacks.labels(channel, outcome).inc()

    def acknowledged(self, via: str, channel: str = "", count: int = 1) -> None:
        """``count`` escalations acknowledged ``via`` an audit path (link, call, keypress,
        web, cli...), answering a message of ``channel`` where there is one."""
        if self.on and count:
            self._m.acks.labels(via, channel).inc(count)

    def failed_over(self, channel: str, fallback: str) -> None:
        """A delivery through ``channel`` was handed to its fallback through ``fallback``."""
        if self.on:
            self._m.failovers.labels(channel, fallback).inc()

    def waited(self, provider: str, account: str, seconds: float) -> None:
        """A provider request waited ``seconds`` for its rate limiter."""
        if self.on:
            self._m.waits.labels(provider, account).observe(seconds)

    def worker_loop(self) -> None:
        """The worker went round its loop (now)."""
        if self.on:
            self._m.loop.set(time.time())

    def worker_running(self, running: bool) -> None:
        if self.on:
            self._m.running.set(1 if running else 0)

    def provider(self, channel_type: str) -> str:
        return self._provider_of.get(channel_type) or "none"

    def limiter(self, limiter: Any, provider: str, account: str) -> Any:
        """``limiter`` (a provider client's ``rate_limiter``), its waits counted. Anything else
        it has (``release()``, ``limit``, ``waited``...) passes through."""
        if not self.on or isinstance(limiter, _MeteredLimiter):
            return limiter
        return _MeteredLimiter(limiter, self, provider, account)


class _Instruments:
    """The metric objects of a started :class:`Metrics`."""

    def __init__(
        self,
        *,
        deliveries: Any,
        send_seconds: Any,
        callbacks: Any,
        acks: Any,
        failovers: Any,
        waits: Any,
        loop: Any,
        running: Any,
    ) -> None:
        self.deliveries = deliveries
        self.send_seconds = send_seconds
        self.callbacks = callbacks
        self.acks = acks
        self.failovers = failovers
        self.waits = waits
        self.loop = loop
        self.running = running


class _MeteredLimiter:
    """A client's rate limiter whose waits feed :meth:`Metrics.waited`."""

    def __init__(self, limiter: Any, metrics: Metrics, provider: str, account: str) -> None:
        self._limiter = limiter
        self._metrics = metrics
        self._provider = provider
        self._account = account

    def acquire(self) -> float:
        waited = float(self._limiter.acquire() or 0.0)
        self._metrics.waited(self._provider, self._account, waited)
        return waited

    def __getattr__(self, name: str) -> Any:
        return getattr(self._limiter, name)

    def __repr__(self) -> str:
        return f"<metered {self._limiter!r}>"


class _LedgerCollector:
    """The gauges of what the ledger holds, read at each scrape (two or three indexed queries:
    :meth:`~notifykit.ledger.base.SqlLedger.gauges`,
    :meth:`~notifykit.ledger.state.RoutingState.gauges`). A ledger that cannot be read is
    ``notifykit_ledger_up 0`` and no other ledger gauge, never a failed scrape."""

    def __init__(self, read: Callable[[], Gauges]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return ()  # nothing to check at registration; the names are fixed (below)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily(
            "notifykit_ledger_up", "1 when the ledger answered this scrape's queries, else 0."
        )
        try:
            read = self._read()
        except NotifykitError as err:  # locked, unreachable, closed: say so, scrape the rest
            logger.warning("metrics: the ledger could not be read: %s", err)
            up.add_metric([], 0)
            yield up
            return
        except Exception:
            logger.exception("metrics: reading the ledger gauges failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        d = read.deliveries
        yield GaugeMetricFamily(
            "notifykit_pending_deliveries",
            "Deliveries waiting to be sent (due now, or a retry scheduled later).",
            value=d.pending,
        )
        yield GaugeMetricFamily(
            "notifykit_oldest_pending_delivery_age_seconds",
            "How long the most overdue pending delivery has been due (0 when none is due).",
            value=0.0 if d.oldest_due is None else max(0.0, read.now - d.oldest_due),
        )
        yield GaugeMetricFamily(
            "notifykit_unknown_deliveries",
            "Deliveries in state unknown: they may have been sent and are never resent; check "
            "them with the provider (notifykit reconcile).",
            value=d.unknown,
        )
        yield GaugeMetricFamily(
            "notifykit_live_workers",
            "Workers whose heartbeat reached the ledger within two leases.",
            value=d.workers,
        )
        if read.circuits:
            circuits = GaugeMetricFamily(
                CIRCUIT_STATE,
                "1 for the state each provider account's circuit breaker is in (closed; open: "
                "nothing is sent through it; half_open: one probe is out), 0 for the others.",
                labels=["provider", "account", "state"],
            )
            for key, current in sorted(read.circuits.items()):
                provider, _, account = key.partition(":")
                for state in CIRCUIT_STATES:
                    circuits.add_metric([provider, account, state], 1 if state == current else 0)
            yield circuits
        if read.routing is None:
            return
        yield GaugeMetricFamily(
            "notifykit_open_alerts",
            "Alerts firing: not resolved, raised within resolve_timeout or held open by an "
            "escalation.",
            value=read.routing.open_alerts,
        )
        escalations = GaugeMetricFamily(
            "notifykit_open_escalations",
            "Open escalations by policy, state (active; done: out of steps, nobody answered) "
            "and the last step sent (<round>.<index>, or none).",
            labels=["policy", "state", "step"],
        )
        for (policy, state, step), n in sorted(read.routing.escalations.items()):
            escalations.add_metric([policy, state, step], n)
        yield escalations


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` as ``(host, port)``.

    :raises ValueError: naming what is wrong and the form to use."""
    given = text.strip()
    host, sep, port_text = given.rpartition(":")
    if not sep:
        host, port_text = default_host, given
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, with its port: [::1]:9108")
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"{text!r} is not a port: give PORT (0-65535) or HOST:PORT, e.g. 9108 or 0.0.0.0:9108"
        )
    return host, int(port_text)


class MetricsServer:
    """A registry's metrics on an HTTP port of their own, in a daemon thread (``notifykit
    worker --metrics-port``): ``GET /metrics``. ``port=0`` picks a free port; :attr:`url` says
    where they are.

    :raises OSError: the address cannot be listened on (in use, not this machine's...)."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, host, registry)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"http://{where}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
