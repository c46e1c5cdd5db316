"""The composition root: everything a configuration needs is built here, once, in the order data
flows — config → plugins → channels (and their provider clients, with the shared rate limits) →
ledger → queue → pipeline → dispatcher and delivery run — and closed here. Nothing here decides
anything: each part gets its collaborators explicitly, and no part holds "the app"
(Alertmanager's ``app/``).

The :class:`~notifykit.Notifier` is a thin facade over a :class:`Runtime`; ``notifykit.celery``
builds one per worker process. The ledger, the provider clients and the shared limiters are
opened on first use (a dry run, ``routes test`` and ``config check`` open none of them).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import (
    Channel,
    ChannelType,
    check_capabilities,
    wrap_rate_limiter,
)
from notifykit.config.schema import scrubber
from notifykit.config.settings import Settings, replace_keys, secret_keys
from notifykit.delivery.circuit import CircuitBreakers, circuit_keys
from notifykit.delivery.dispatch import NOTIFY_LEASE, Dispatcher
from notifykit.delivery.queues import (
    CeleryQueue,
    Handoff,
    LedgerQueue,
    Producer,
    Queue,
    Stored,
)
from notifykit.delivery.retry import RetryPolicy
from notifykit.delivery.run import DeliveryRun
from notifykit.errors import ConfigError, ConfigProblem, NotifykitError, PluginError
from notifykit.metrics import Gauges, Metrics
from notifykit.pipeline.builder import Pipeline, build_pipeline
from notifykit.pipeline.limits import PagingGuard
from notifykit.plan.planner import Planner
from notifykit.plugins import Hooks, Registry

if TYPE_CHECKING:
    import pluggy
    from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from notifykit.config.loader import Config
    from notifykit.delivery.worker import Worker
    from notifykit.ledger.base import Ledger
    from notifykit.limits import Limiters
    from notifykit.oncall.overrides import StoredOverride
    from notifykit.routing.silences import Silence

__all__ = ["Runtime"]


def _hostname() -> str:
    """``socket.gethostname()`` without importing :mod:`socket` where ``os.uname`` gives the same
    (POSIX: gethostname is uname's nodename); a dry run needs no network module."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


class LedgerSlot:
    """The ledger, opened (and migrated) on first use; a dry run never opens it."""

    def __init__(self, open_ledger: Callable[[], Ledger]) -> None:
        self._open = open_ledger
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self) -> Ledger:
        with self._lock:
            if self._closed:
                raise NotifykitError("this Notifier is closed")
            if self._ledger is None:
                self._ledger = self._open()
            return self._ledger

    @property
    def opened(self) -> bool:
        return self._ledger is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ledger, self._ledger = self._ledger, None
        if ledger is not None:
            ledger.close()


class Clients:
    """One pooled provider client per account, made on first use, with the shared rate limit
    of the account when the config has ``limiter:``."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        settings: Mapping[str, Settings],
        scrub: Callable[[str], str],
        limiters: Callable[[], Limiters | None],
    ) -> None:
        self._config = config
        self._registry = registry
        self.settings = settings
        self._scrub = scrub
        self._limiters = limiters
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._metrics: Metrics | None = None

    def meter(self, metrics: Metrics) -> None:
        """Count the rate limiters' waits of every client, made already or later."""
        with self._lock:
            self._metrics = metrics
            for account, client in self._clients.items():
                self._meter(account, client)

    def _meter(self, account: str, client: Any) -> None:
        """Count the waits of ``client``'s rate limiter (a client declaring one: see
        :class:`~notifykit.channels.RateLimitedClient`)."""
        metrics = self._metrics
        if metrics is None:
            return
        provider = self._config.accounts[account].provider
        wrap_rate_limiter(client, lambda limiter: metrics.limiter(limiter, provider, account))

    def __call__(self, account: str) -> Any:
        with self._lock:
            if self._closed:
                raise NotifykitError("this Notifier is closed")
            client = self._clients.get(account)
            if client is None:
                account_config = self._config.accounts[account]
                provider = self._registry.providers[account_config.provider]
                limiters = self._limiters()
                context = _AccountContext(
                    account,
                    limiters.for_provider(provider.name) if limiters is not None else None,
                )
                try:
                    client = provider.connect(self.settings[account], context)
                except (ValueError, TypeError) as err:
                    # The provider refused settings their declaration let through (an http:// base_url
                    # that is not loopback...): a problem of the account, at the account's line.
                    problem = ConfigProblem(
                        self._config.source,
                        account_config.line,
                        f"accounts.{account}",
                        self._scrub(str(err)),
                    )
                    raise ConfigError([problem]) from None
                self._meter(account, client)
                self._clients[account] = client
            return client

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                close()


class _AccountContext:
    """The :class:`~notifykit.channels.AccountContext` a provider's ``connect`` gets."""

    def __init__(self, account_name: str, rate_limiter: Any) -> None:
        self._account_name = account_name
        self._rate_limiter = rate_limiter

    @property
    def account_name(self) -> str:
        return self._account_name

    @property
    def rate_limiter(self) -> Any:
        return self._rate_limiter


class _Context:
    """The :class:`~notifykit.channels.ChannelContext` a channel factory gets."""

    def __init__(self, clients: Clients, channel_name: str) -> None:
        self._clients = clients
        self._channel_name = channel_name

    @property
    def channel_name(self) -> str:
        return self._channel_name

    def client(self, account: str) -> Any:
        return self._clients(account)

    def account_settings(self, account: str) -> Settings:
        return self._clients.settings[account]


class Runtime:
    """Everything one configuration runs on (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        *,
        dry_run: bool = False,
        account_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        exit_stack: ExitStack | None = None,
        extra_secrets: Iterable[str] = (),
        store: str | None = None,
        clock: Callable[[], float] | None = None,
        channel_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if config.unset and not dry_run:
            # Loaded for a run that sends nothing (load_config(dry_run=True)): its unset
            # variables read as <unset:...>, which must never reach a provider.
            raise ConfigError(list(config.unset))
        self.config = config
        self.registry = registry
        self.dry_run = dry_run
        #: the time source (epoch seconds) of every part; tests pass a controllable one
        self.clock: Callable[[], float] = clock or time.time
        self.hooks = Hooks(registry.pm)
        self.exit_stack = exit_stack or ExitStack()
        self.store = store
        #: the lease owner of what notify() sends itself
        self.owner = f"notify:{_hostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.scrub = scrubber([*config.secrets, *extra_secrets])
        overrides = account_overrides or {}
        account_settings = {
            name: replace_keys(account.settings, overrides.get(name, {}))
            for name, account in config.accounts.items()
        }
        self.ledger = LedgerSlot(self._open_ledger)
        #: the metrics every part counts into, off until :meth:`start_metrics`
        self.metrics = Metrics(
            provider_of={
                name: channel_type.provider or "none"
                for name, channel_type in registry.channel_types.items()
            },
            gauges=self._gauges,
        )
        self._limiters: Limiters | None = None
        self._limiters_lock = threading.Lock()
        self.clients = Clients(config, registry, account_settings, self.scrub, self._shared)
        self.channel_types: dict[str, ChannelType] = {}
        self.channels: dict[str, Channel] = {}
        self._build_channels(channel_overrides or {})
        tick = self.clock  # the planner and dispatcher read the clock through this
        self.planner = Planner(
            config,
            self.channels,
            self.channel_types,
            self.scrub,
            clock=lambda: tick(),
            overrides=self._overrides if config.schedules else None,
        )
        policies = {name: RetryPolicy(config.retry_for(name)) for name in self.channels}
        default_policy = RetryPolicy(config.retry)
        #: the provider accounts' circuit breakers (docs/circuit-breaker.md), state in the ledger
        self.circuits = CircuitBreakers(config.circuit, self.circuit_keys(), self.scrub)
        self.dispatcher = Dispatcher(
            self.channels,
            self.channel_types,
            self.hooks,
            self.scrub,
            lambda channel: policies.get(channel, default_policy),
            self.status_url,
            clock=lambda: tick(),
            metrics=self.metrics,
            failover=config.failover,
            circuits=self.circuits,
        )
        #: the Celery producer (``dispatch: celery`` only)
        self.producer: Producer | None = None
        self.queue: Queue = self._queue()
        routing = config.routing
        assert routing is not None, "load_config always sets Config.routing"
        events = config.events
        self.pipeline: Pipeline = build_pipeline(
            routing=routing,
            planner=self.planner,
            event_templates={name: e.template for name, e in events.items()},
            default_template=config.defaults.template,
            default_severity=self.default_severity,
            unknown_event=config.unknown_event,
            channels=self.channels,
            resolve_recipients=self.planner.resolve_recipients,
            first_groups=self.dispatcher.first_groups,
            ledger=self.ledger,
            hooks=self.hooks,
            scrub=self.scrub,
            clock=lambda: tick(),
            public_url=config.server.public_url,
            resolve_timeout=routing.resolve_timeout,
            reconcile_after=config.worker.reconcile_after,
            server=config.server,
            dry_run=dry_run,
            silences=self._dry_run_silences if dry_run else None,
            metrics=self.metrics,
            paging=PagingGuard(
                config.paging_limits,
                {name: t.kind for name, t in self.channel_types.items()},
            ),
            heartbeats=config.heartbeats,
            worker_window=2 * config.worker.lease,
        )
        self.deliveries = DeliveryRun(
            ledger=self.ledger,
            dispatcher=self.dispatcher,
            on_changes=self.pipeline.on_changes,
            clock=lambda: tick(),
            metrics=self.metrics,
        )

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        *,
        sandbox: bool = False,
        dry_run: bool = False,
        plugin_manager: pluggy.PluginManager | None = None,
        environ: Mapping[str, str] | None = None,
        store: str | None = None,
        require_secrets: bool | None = None,
        clock: Callable[[], float] | None = None,
    ) -> Runtime:
        """Load and validate a config, load the plugins, and build everything on them (see
        :meth:`notifykit.Notifier.from_config` for the arguments).

        :raises ConfigError: with every problem found in the config.
        :raises PluginError: a plugin failed to load.
        """
        from notifykit.config.loader import find_config, load_config
        from notifykit.plugins import get_plugin_manager

        if source is None:
            source = find_config()
        pm = plugin_manager if plugin_manager is not None else get_plugin_manager()
        registry = Registry.from_manager(pm)
        if require_secrets is None:
            require_secrets = not dry_run
        config = load_config(
            source,
            registry=registry,
            sandbox=sandbox,
            dry_run=not require_secrets,
            environ=environ,
        )
        stack = ExitStack()
        overrides: dict[str, Mapping[str, Any]] = {}
        channel_overrides: dict[str, Mapping[str, Any]] = {}
        secrets: list[str] = []
        try:
            if sandbox:
                overrides, secrets = _start_sandboxes(config, registry, stack)
                channel_overrides, channel_secrets = _start_channel_sandboxes(
                    config, registry, stack
                )
                secrets.extend(channel_secrets)
                store = store or ":memory:"
            return cls(
                config,
                registry,
                dry_run=dry_run,
                account_overrides=overrides,
                exit_stack=stack,
                extra_secrets=secrets,
                store=store,
                clock=clock,
                channel_overrides=channel_overrides,
            )
        except BaseException:
            stack.close()
            raise

    # -- construction -------------------------------------------------------------------------------

    def _build_channels(self, overrides: Mapping[str, Mapping[str, Any]]) -> None:
        config = self.config
        problems: list[ConfigProblem] = []
        for name, channel_config in config.channels.items():
            channel_type = self.registry.channel_types[channel_config.type]
            self.channel_types[name] = channel_type
            settings = replace_keys(channel_config.settings, overrides.get(name, {}))
            try:
                self.channels[name] = channel_type.factory(settings, _Context(self.clients, name))
            except ConfigError as err:  # its account's settings were refused (see Clients)
                problems.extend(p for p in err.problems if p not in problems)
            except NotifykitError:
                raise
            except (ValueError, TypeError) as err:
                problems.append(
                    ConfigProblem(
                        config.source,
                        channel_config.line,
                        f"channels.{name}",
                        self.scrub(str(err)),
                    )
                )
            else:
                # its optional capabilities (parse_status...), checked once, here
                try:
                    check_capabilities(self.channels[name], name, channel_config.type)
                except PluginError:
                    self.close()
                    raise
        if problems:
            self.close()
            raise ConfigError(problems)

    def _queue(self) -> Queue:
        if self.config.scaleout.dispatch != "celery":
            return LedgerQueue()
        self.producer = Producer(self.config.scaleout.celery, self.scrub, self.exit_stack)

        def release(owner: str, ids: list[str]) -> None:
            self.ledger().release(owner, ids)

        return CeleryQueue(self.producer, self.config.scaleout.celery.requeue_after, release)

    @property
    def store_location(self) -> str:
        """Where the ledger is: the ``store`` given, the config's ``store:``, else
        ``notifykit.db`` next to the config file (in memory for a config given as a mapping)."""
        if self.store is not None:
            return self.store
        settings = self.config.store
        if settings.implicit and not Path(self.config.source).is_file():
            return ":memory:"
        return settings.location

    def _dry_run_silences(self, now: float) -> list[Silence]:
        """The silences a dry run (``routes test``, ``--dry-run notify``) honours: those of a
        ledger that exists already; a dry run creates none."""
        ledger = self._existing_ledger()
        return [] if ledger is None else ledger.routing.active_silences(now)

    def _overrides(self, schedule: str) -> list[StoredOverride]:
        """The on-call overrides made at run time for ``schedule`` (a dry run reads those of
        a ledger that exists already, and creates none)."""
        ledger = self._existing_ledger() if self.dry_run else self.ledger()
        return [] if ledger is None else ledger.routing.overrides(schedule=schedule)

    def _existing_ledger(self) -> Ledger | None:
        """The ledger, if it exists already (what a dry run may read); ``None`` otherwise."""
        location = self.store_location
        scheme, url, rest = location.partition("://")
        if location == ":memory:":
            exists = self.ledger.opened
        elif url and scheme.lower() in ("postgresql", "postgres"):
            exists = True
        else:
            path = Path(rest.removeprefix("/") if url else location).expanduser()
            if not path.is_absolute():
                path = self.config.base_dir / path
            exists = path.is_file()
        return self.ledger() if exists else None

    def _open_ledger(self) -> Ledger:
        from notifykit.ledger import open_ledger

        settings = self.config.store
        return open_ledger(
            self.store_location,
            base_dir=self.config.base_dir,
            synchronous=settings.synchronous,
            busy_timeout=settings.busy_timeout,
        )

    def circuit_keys(self) -> dict[str, str]:
        """The circuit key (``provider:account``) of each channel that sends through a provider
        account; channels of no provider have no circuit."""
        found: dict[str, tuple[str | None, str | None]] = {}
        for name, channel in self.config.channels.items():
            channel_type = self.registry.channel_types.get(channel.type)
            account = channel.settings.get("account")
            provider = channel_type.provider if channel_type is not None else None
            found[name] = (provider, account if isinstance(account, str) else None)
        return circuit_keys(found)

    def _shared(self) -> Limiters | None:
        """The shared rate limits (``limiter:``), opened on first use; a sandbox's throwaway
        simulator gets none (its budget is its own)."""
        shared = self.config.scaleout.limiter
        if shared is None or self.config.sandbox:
            return None
        with self._limiters_lock:
            if self._limiters is None:
                from notifykit.limits import open_limiters

                self._limiters = open_limiters(shared, lambda: self.store_location)
                self.exit_stack.callback(self._limiters.close)
            return self._limiters

    def _gauges(self) -> Gauges:
        """What the metrics read from the ledger at a scrape (its gauges)."""
        now = self.clock()
        ledger = self.ledger()
        routing = self.config.routing
        resolve_timeout = routing.resolve_timeout if routing is not None else 0.0
        keys = sorted(set(self.circuits.keys.values()))
        circuits: dict[str, str] = {}
        if keys:
            stored = {row.key: row.state for row in ledger.circuits.rows()}
            circuits = {key: stored.get(key, "closed") for key in keys}
        return Gauges(
            deliveries=ledger.gauges(now, 2 * self.config.worker.lease),
            routing=ledger.routing.gauges(now, resolve_timeout),
            now=now,
            circuits=circuits,
        )

    # -- wiring helpers -------------------------------------------------------------------------------

    def start_metrics(self) -> CollectorRegistry:
        """Turn the metrics on (idempotent): from now on every part counts, the provider
        clients' rate limiters are timed, and the ledger's gauges are read at each scrape.
        Returns the registry to expose (imports ``prometheus_client``)."""
        registry = self.metrics.start()
        self.clients.meter(self.metrics)
        return registry

    def default_severity(self, event: str) -> str:
        event_config = self.config.events.get(event)
        return (event_config and event_config.severity) or self.config.defaults.severity

    def status_url(self, token: str) -> str | None:
        """The status callback URL of a batch token (``None`` without ``server.public_url``)."""
        public = self.config.server.public_url
        return f"{public}/status/{token}" if public else None

    def notify_handoff(self, now: float) -> Handoff:
        """``notify()`` sends what it stores itself, leased to it."""
        return Handoff(owner=self.owner, until=now + NOTIFY_LEASE, send_now=True)

    def worker(self, **options: Any) -> Worker:
        """A worker on this runtime's ledger (``threads``, ``lease``, ``poll``, ``batch``,
        ``name``, ``clock``, ``reconcile_every``: defaults from ``worker:``)."""
        from notifykit.delivery.worker import Worker

        settings = self.config.worker
        return Worker(
            ledger=self.ledger(),
            run=self.deliveries,
            duties=self.pipeline.due,
            threads=options.pop("threads", None) or settings.threads,
            lease=options.pop("lease", None) or settings.lease,
            poll=options.pop("poll", None) or settings.poll,
            batch=options.pop("batch", None) or settings.batch,
            reconcile_every=options.pop("reconcile_every", None) or settings.reconcile_every,
            clock=options.pop("clock", None) or self.clock,
            name=options.pop("name", None),
            metrics=self.metrics,
            **options,
        )

    def deliver_stored(self, stored: Sequence[Stored]) -> list[Any]:
        """``notify()``'s dispatch of what it stored: each notification sent now."""
        changes: list[Any] = []
        for item in stored:
            if item.submission.duplicate:
                continue
            changes.extend(
                self.deliveries.now(self.owner, item.plan, started=item.started, lease=NOTIFY_LEASE)
            )
        return changes

    def close(self) -> None:
        """Close the channels that have a ``close()``, the provider clients and the ledger, and
        stop sandboxes. Idempotent."""
        for name, channel in list(self.channels.items()):
            close = getattr(channel, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as err:  # the clients and the ledger are closed all the same
                    import logging

                    logging.getLogger("notifykit").warning(
                        "channel %r failed to close: %s: %s",
                        name,
                        type(err).__name__,
                        self.scrub(str(err)),
                    )
        self.clients.close()
        self.ledger.close()
        self.exit_stack.close()


def _start_sandboxes(
    config: Config, registry: Registry, stack: ExitStack
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Start one sandbox per provider in use; return per-account overrides and their secrets."""
    from notifykit.errors import NotificationError

    per_provider: dict[str, Mapping[str, Any]] = {}
    overrides: dict[str, Mapping[str, Any]] = {}
    secrets: list[str] = []
    for name, account in config.accounts.items():
        provider = registry.providers[account.provider]
        if provider.sandbox is None:
            raise NotificationError(
                f"provider {provider.name!r} (account {name!r}) has no sandbox; "
                "run without --sandbox"
            )
        if provider.name not in per_provider:
            values = stack.enter_context(provider.sandbox())
            per_provider[provider.name] = dict(values)
            secret = secret_keys(provider.settings)
            secrets.extend(str(v) for k, v in values.items() if k in secret and v)
        overrides[name] = per_provider[provider.name]
    return overrides, secrets


def _start_channel_sandboxes(
    config: Config, registry: Registry, stack: ExitStack
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Start one sandbox per channel type in use that has one (a webhook's fake receiver);
    return per-channel overrides and their secrets. A channel type without one runs as it is
    (the console channel)."""
    per_type: dict[str, Mapping[str, Any]] = {}
    overrides: dict[str, Mapping[str, Any]] = {}
    secrets: list[str] = []
    for name, channel in config.channels.items():
        channel_type = registry.channel_types[channel.type]
        if channel_type.sandbox is None:
            continue
        if channel_type.name not in per_type:
            values = stack.enter_context(channel_type.sandbox())
            per_type[channel_type.name] = dict(values)
            secret = secret_keys(channel_type.settings)
            secrets.extend(str(v) for k, v in values.items() if k in secret and v)
        overrides[name] = per_type[channel_type.name]
    return overrides, secrets
