"""The :class:`Notifier`: the API an application uses. It plans a notification, records it in the
ledger, and delivers it, now (:meth:`Notifier.notify`) or through a worker
(:meth:`Notifier.submit`, :meth:`Notifier.worker`).

Data flows one way: notify → plan (:mod:`notifykit.plan`: everything that can be the caller's
mistake is raised here, before anything is stored or sent) → ledger (:mod:`notifykit.ledger`: the
notification and its deliveries in one transaction) → dispatch (:mod:`notifykit.worker`: hooks,
``sending`` committed, ``channel.send``, the outcome recorded) → channel → provider client.
Failures while sending are never raised: each is a ``failed`` (or ``unknown``) delivery in the
:class:`~notifykit.Report`.

Everything that can be done once is done in :meth:`Notifier.from_config`: config validation, the
template engine (which caches compiled templates), the channel objects, groups expanded. Provider
clients (one pooled client per account) and the ledger are opened on first use and shared.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pluggy

from notifykit.channels.base import Channel, ChannelType, Recipient, send_stopped
from notifykit.config.loader import Config, find_config, load_config
from notifykit.config.schema import did_you_mean, scrubber
from notifykit.errors import (
    ConfigError,
    ConfigProblem,
    NotificationError,
    NotifykitError,
)
from notifykit.limits import connect_settings
from notifykit.plan.planner import Plan, Planner, template_context
from notifykit.plugins import Hooks, Registry, get_plugin_manager
from notifykit.report import Delivery, DeliveryState, Report, Submission
from notifykit.worker.dispatch import NOTIFY_LEASE, Dispatcher, job_delivery
from notifykit.worker.retry import RetryPolicy

if TYPE_CHECKING:
    from datetime import datetime

    from notifykit.ledger.base import Change, Ledger
    from notifykit.ledger.routing import EscalationRecord
    from notifykit.routing.escalation import Receiver
    from notifykit.routing.explain import Explanation
    from notifykit.routing.listing import OpenAlert
    from notifykit.routing.service import Router
    from notifykit.worker.worker import Worker

__all__ = [
    "Notifier",
    "anotify",
    "configure",
    "get_notifier",
    "notify",
    "reset",
    "template_context",
]

logger = logging.getLogger("notifykit")
#: One record per notification: INFO when every delivery succeeded, WARNING otherwise.
delivery_logger = logging.getLogger("notifykit.deliveries")
status_logger = logging.getLogger("notifykit.status")

DataArg = Mapping[str, Any] | None
ToArg = str | Iterable[str] | None


class _Context:
    """The :class:`~notifykit.channels.ChannelContext` a channel factory gets."""

    def __init__(self, notifier: Notifier, channel_name: str) -> None:
        self._notifier = notifier
        self._channel_name = channel_name

    @property
    def channel_name(self) -> str:
        return self._channel_name

    def client(self, account: str) -> Any:
        return self._notifier._client(account)

    def account_settings(self, account: str) -> Mapping[str, Any]:
        return self._notifier._account_settings[account]


class Notifier:
    """Sends notifications as a configuration says. Build it with :meth:`from_config`.

    A Notifier is thread-safe and meant to live as long as the application: it holds the pooled
    provider clients and the ledger. Close it (or use it as a context manager) to release them,
    and to stop the simulator in sandbox mode.
    """

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
    ) -> None:
        self.config = config
        #: the time source (epoch seconds) of the ledger, the dispatcher and workers; tests pass
        #: a controllable one to run retry and escalation schedules without waiting
        self.clock: Callable[[], float] = clock or time.time
        self.registry = registry
        self.dry_run = dry_run
        self._hooks = Hooks(registry.pm)
        self._exit_stack = exit_stack or ExitStack()
        self._closed = False
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._ledger: Ledger | None = None
        self._router: Router | None = None
        self._store = store
        self._owner = f"notify:{_hostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        if config.unset and not dry_run:
            # Loaded for a run that sends nothing (load_config(dry_run=True)): its unset
            # variables read as <unset:...>, which must never reach a provider.
            raise ConfigError(list(config.unset))
        overrides = account_overrides or {}
        self._account_settings: dict[str, Mapping[str, Any]] = {
            name: {**account.settings, **overrides.get(name, {})}
            for name, account in config.accounts.items()
        }
        self._scrub = scrubber([*config.secrets, *extra_secrets])
        self._channel_types: dict[str, ChannelType] = {}
        self._channels: dict[str, Channel] = {}
        problems: list[ConfigProblem] = []
        for name, channel_config in config.channels.items():
            channel_type = registry.channel_types[channel_config.type]
            self._channel_types[name] = channel_type
            try:
                self._channels[name] = channel_type.factory(
                    channel_config.settings, _Context(self, name)
                )
            except ConfigError as err:  # its account's settings were refused (see _client)
                problems.extend(p for p in err.problems if p not in problems)
            except NotifykitError:
                raise
            except (ValueError, TypeError) as err:
                problems.append(
                    ConfigProblem(
                        config.source,
                        channel_config.line,
                        f"channels.{name}",
                        self._scrub(str(err)),
                    )
                )
        if problems:
            self.close()
            raise ConfigError(problems)
        self.planner = Planner(
            config, self._channels, self._channel_types, self._scrub, clock=lambda: self.clock()
        )
        policies = {
            name: RetryPolicy.from_settings(config.retry_for(name)) for name in self._channels
        }
        default_policy = RetryPolicy.from_settings(config.retry)
        self.dispatcher = Dispatcher(
            self._channels,
            self._channel_types,
            self._hooks,
            self._scrub,
            lambda channel: policies.get(channel, default_policy),
            self.status_url,
            clock=lambda: self.clock(),
        )

    # -- construction -----------------------------------------------------------------------

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
    ) -> Notifier:
        """Load and validate a config and build every channel.

        :param source: a file path, or a mapping with the same shape as the YAML; by default
            ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``.
        :param sandbox: run against throwaway provider simulators (each provider's sandbox
            factory); account secrets and ``${VAR}`` references it replaces need not be set.
            The ledger is then in memory (a sandbox's messages do not belong in the real one).
        :param dry_run: render and route, but send and store nothing (deliveries are
            ``pending``).
        :param plugin_manager: the plugins to use (default: :func:`get_plugin_manager`).
        :param environ: the environment for ``${VAR}`` substitution (default ``os.environ``).
        :param store: the ledger to use instead of the config's ``store:`` (a path or
            ``:memory:``).
        :param clock: the time source (default ``time.time``), for tests of schedules.
        :param require_secrets: whether the config's ``${VAR}``s must be set (default: unless
            ``dry_run``). Without, an unset one is a warning (``config.warnings``) and reads as
            ``<unset:${VAR}>``; what may reach a provider (:meth:`worker`, :meth:`reconcile`,
            :meth:`resolve`, :meth:`alertmanager`, :meth:`client`) then raises
            :class:`ConfigError` naming them, and ``dry_run=False`` is refused at once.
        :raises ConfigError: with every problem found in the config.
        :raises PluginError: a plugin failed to load.
        """
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
        secrets: list[str] = []
        try:
            if sandbox:
                overrides, secrets = _start_sandboxes(config, registry, stack)
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
            )
        except BaseException:
            stack.close()
            raise

    def close(self) -> None:
        """Close the provider clients and the ledger, and stop sandboxes. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
            ledger, self._ledger = self._ledger, None
        for client in clients:
            close = getattr(client, "close", None)
            if callable(close):
                close()
        if ledger is not None:
            ledger.close()
        self._exit_stack.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = " sandbox" if self.config.sandbox else ""
        mode += " dry-run" if self.dry_run else ""
        return f"<Notifier {self.config.source!r} channels={list(self._channels)}{mode}>"

    def _client(self, account: str) -> Any:
        with self._lock:
            if self._closed:
                raise NotifykitError("this Notifier is closed")
            client = self._clients.get(account)
            if client is None:
                account_config = self.config.accounts[account]
                provider = self.registry.providers[account_config.provider]
                try:
                    client = provider.connect(
                        connect_settings(self, provider.name, self._account_settings[account])
                    )
                except (ValueError, TypeError) as err:
                    # The provider refused settings the schema let through (an http:// base_url
                    # that is not loopback...): a problem of the account, at the account's line.
                    problem = ConfigProblem(
                        self.config.source,
                        account_config.line,
                        f"accounts.{account}",
                        self._scrub(str(err)),
                    )
                    raise ConfigError([problem]) from None
                self._clients[account] = client
            return client

    # -- the ledger -------------------------------------------------------------------------

    @property
    def store_location(self) -> str:
        """Where the ledger is: the ``store`` given, the config's ``store:``, else
        ``notifykit.db`` next to the config file (in memory for a config given as a mapping)."""
        if self._store is not None:
            return self._store
        settings = self.config.store
        if settings.implicit and not Path(self.config.source).is_file():
            return ":memory:"
        return settings.location

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened (and migrated) on first use.

        :raises LedgerError: it cannot be opened.
        """
        with self._lock:
            if self._closed:
                raise NotifykitError("this Notifier is closed")
            if self._ledger is None:
                from notifykit.ledger import open_ledger

                settings = self.config.store
                self._ledger = open_ledger(
                    self.store_location,
                    base_dir=self.config.base_dir,
                    synchronous=settings.synchronous,
                    busy_timeout=settings.busy_timeout,
                )
            return self._ledger

    def status_url(self, token: str) -> str | None:
        """The status callback URL of a batch token (``None`` without ``server.public_url``)."""
        public = self.config.server.public_url
        return f"{public}/status/{token}" if public else None

    # -- public API -------------------------------------------------------------------------

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The configured channels, by name."""
        return dict(self._channels)

    def channel_type(self, channel: str) -> ChannelType:
        """The :class:`ChannelType` of a configured channel."""
        self.planner.check_channels([channel])
        return self._channel_types[channel]

    def client(self, account: str) -> Any:
        """The shared client of a configured account (e.g. an ``ExotelClient``)."""
        self._needs_secrets()
        if account not in self.config.accounts:
            raise NotificationError(
                f"no account named {account!r}{did_you_mean(account, self.config.accounts)}"
            )
        return self._client(account)

    def resolve_recipients(self, targets: Iterable[str]) -> list[Recipient]:
        """Recipient names, group names and phone numbers as :class:`Recipient` objects, each
        person once, in order. Raises :class:`RecipientError` for anything unknown or invalid."""
        return self.planner.resolve_recipients(targets)

    def plan(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
        key: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Plan:
        """The :class:`~notifykit.plan.Plan` for a notification: what :meth:`notify` would
        send, to whom, through which channel and with which provider options. Raises like
        :meth:`notify`; stores and sends nothing. ``labels``: the template variable ``labels``
        (never part of ``data``)."""
        event_config = self.config.events.get(event)
        defaults = self.config.defaults
        severity = severity or (event_config and event_config.severity) or defaults.severity
        channel_names = _names(channels)
        if channel_names is None:
            channel_names = (
                event_config.channels
                if event_config and event_config.channels is not None
                else defaults.channels
            )
        targets = _names(to)
        if targets is None:
            targets = (
                event_config.to if event_config and event_config.to is not None else defaults.to
            )
        template = template or (event_config and event_config.template) or defaults.template
        return self.planner.plan(
            event,
            severity,
            data,
            targets,
            channel_names,
            template,
            None,
            key=key,
            dry_run=self.dry_run,
            routing={"labels": dict(labels)} if labels else None,
        )

    def notify(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
        key: str | None = None,
        labels: Mapping[str, str] | None = None,
        resolved: bool = False,
    ) -> Report:
        """Send a notification for ``event`` now and report what happened to every delivery.

        Anything not given comes from the event's entry in ``events:``, then from ``defaults:``.
        The notification goes through the ledger first, so a crash while sending leaves its
        deliveries for a worker (or ``unknown``), never a silent loss.

        :param event: what happened, e.g. ``"db.down"``; also the template variable ``event``.
        :param severity: ``info``, ``warning``, ``error`` or ``critical``.
        :param data: the template's variables (also available as ``data`` in templates).
        :param to: recipient names, group names, or phone numbers (E.164, or Indian national
            numbers); a string is one recipient.
        :param channels: channel names from ``channels:``.
        :param template: the template name (``db_down`` renders ``db_down.sms`` for SMS channels
            and ``db_down.voice`` for flow channels).
        :param key: the alert key (default: the event plus every label, narrowed by the route's
            ``group_by``): what dedup, ``ack`` and ``resolve`` use. With an ``events:``-only
            config, or with ``to``/``channels`` given, it is an idempotency key, as before: a
            notification with a key already in the ledger is not sent again (its report is
            returned).
        :param labels: what routes match (strings); templates see them as ``labels``.
        :param resolved: the condition is over: pending escalation steps are cancelled and a
            resolved message goes where the route says ``send_resolved: true``.

        Without ``to`` and ``channels`` the notification goes through the routing (``route:``,
        or the implicit routes of ``events:``): see ``docs/routing.md``.

        :raises RecipientError: an unknown recipient or group, or an invalid number.
        :raises NotificationError: an unknown severity or channel, or no channel or recipient.
        :raises TemplateError: a template is missing, fails to render, is too long or does not
            match its DLT pattern. Nothing has been sent when any of these is raised.
        :raises LedgerError: the ledger cannot record it (nothing was sent).
        """
        if self._routed(to, channels):
            result = self._route(event, severity, data, labels, template, key, resolved, False)
            assert isinstance(result, Report)
            return result
        plan = self.plan(
            event,
            severity=severity,
            data=data,
            to=to,
            channels=channels,
            template=template,
            key=key,
            labels=labels,
        )
        return self._execute(plan)

    def send(
        self,
        channel: str,
        *,
        to: ToArg,
        body: str | None = None,
        template: str | None = None,
        data: DataArg = None,
        severity: str = "info",
        event: str = "direct",
        key: str | None = None,
    ) -> Report:
        """Send one message through one channel: a raw ``body``, or a rendered ``template``.

        A call channel that carries no text takes neither. Raises like :meth:`notify`.
        """
        if body is not None and template is not None:
            raise NotificationError("give a body or a template, not both")
        targets = _names(to) or ()
        if body is None and template is None:
            template = self.config.defaults.template
        plan = self.planner.plan(
            event,
            severity,
            data,
            targets,
            (channel,),
            template,
            body,
            key=key,
            dry_run=self.dry_run,
        )
        return self._execute(plan)

    def submit(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
        key: str | None = None,
        labels: Mapping[str, str] | None = None,
        resolved: bool = False,
    ) -> Submission:
        """Accept a notification for delivery by a worker (``notifykit worker``) and return at
        once. Same arguments as :meth:`notify`; every caller mistake is raised before anything
        is stored. When this returns, the notification and all its deliveries are in the
        ledger, in one transaction.

        :param key: an idempotency key: a second submit with the same key returns the first
            submission with ``duplicate=True`` and stores nothing new.
        :raises LedgerError: the ledger cannot record it (it was *not* accepted).
        """
        if self.dry_run:
            raise NotificationError("a dry run stores nothing: submit() needs a real run")
        if self._routed(to, channels):
            result = self._route(event, severity, data, labels, template, key, resolved, True)
            assert isinstance(result, Submission)
            return result
        plan = self.plan(
            event,
            severity=severity,
            data=data,
            to=to,
            channels=channels,
            template=template,
            key=key,
            labels=labels,
        )
        if self.config.scaleout.dispatch == "celery":
            from notifykit.celery import submit as submit_to_celery

            return submit_to_celery(self, plan)  # the ledger commit, then the Celery tasks
        return self.ledger.add(plan)

    async def anotify(
        self,
        event: str,
        *,
        severity: str | None = None,
        data: DataArg = None,
        to: ToArg = None,
        channels: str | Iterable[str] | None = None,
        template: str | None = None,
        key: str | None = None,
        labels: Mapping[str, str] | None = None,
        resolved: bool = False,
    ) -> Report:
        """:meth:`notify` for asyncio code: the blocking work runs in a worker thread, so the event
        loop keeps running while messages are sent."""
        import asyncio  # here, not at module level: it costs sync users ~20 ms of import time

        return await asyncio.to_thread(
            self.notify,
            event,
            severity=severity,
            data=data,
            to=to,
            channels=channels,
            template=template,
            key=key,
            labels=labels,
            resolved=resolved,
        )

    def worker(self, **options: Any) -> Worker:
        """A :class:`~notifykit.worker.Worker` on this Notifier's ledger (``threads``,
        ``lease``, ``poll``, ``batch``, ``name``, ``clock``: defaults from ``worker:``)."""
        from notifykit.worker.worker import Worker

        self._needs_secrets()
        return Worker(self, **options)

    def history(self, *, limit: int = 20, state: str | DeliveryState | None = None) -> list[Report]:
        """Notifications in the ledger, newest first, as :class:`Report` objects (``limit`` 0:
        all; ``state``: only those with a delivery in that state)."""
        wanted = None if state is None else _state(state)
        return self.ledger.reports(limit=limit, state=wanted)

    def report(self, notification_id: str) -> Report:
        """One notification from the ledger, each delivery with its ``attempt_log`` and
        ``events``. :raises LedgerError: no notification has that id."""
        return self.ledger.report(notification_id, detail=True)

    # -- status -----------------------------------------------------------------------------

    def handle_status_callback(self, token: str, body: bytes, content_type: str) -> int:
        """Apply a provider's status callback for the batch ``token``; returns the HTTP status
        to answer: 200 (applied, or a duplicate or late one: the provider must stop retrying),
        404 (unknown token), 400 (a body that is not a status callback)."""
        ledger = self.ledger
        deliveries = ledger.by_token(token)
        if not deliveries:
            status_logger.warning("status callback for an unknown token rejected (404)")
            return 404
        channel_name = deliveries[0].channel
        parse = getattr(self._channels.get(channel_name), "parse_status", None)
        if parse is None:
            status_logger.warning(
                "status callback for channel %r, which reads none, rejected (404)", channel_name
            )
            return 404
        try:
            updates = list(parse(body, content_type))
        except (ValueError, TypeError) as err:
            status_logger.warning(
                "malformed status callback for channel %r rejected (400): %s",
                channel_name,
                self._scrub(str(err)),
            )
            return 400
        now = self.clock()
        changes = []
        routed = []
        by_provider = {d.provider_id: d.notification_id for d in deliveries}
        for update in updates:
            change = ledger.apply_status(token, update, "callback", now)
            if change is not None:
                changes.append(change)
            notification_id = by_provider.get(update.provider_id)
            if notification_id is not None:
                routed.append((notification_id, update, change))
        self._announce(changes)
        self.router.on_status(routed)
        return 200

    def reconcile(self, *, older_than: float | None = None, limit: int = 200) -> list[Delivery]:
        """Ask providers about deliveries whose final status never came (sent or unknown, with a
        provider id, nothing heard for ``older_than`` seconds, default ``worker.reconcile_after``)
        and apply what they say. Returns the deliveries that changed."""
        self._needs_secrets()
        ledger = self.ledger
        now = self.clock()
        after = self.config.worker.reconcile_after if older_than is None else older_than
        candidates = ledger.reconcile_candidates(now, after, limit)
        changes: list[Change] = []
        routed = []
        for n, delivery in enumerate(candidates):
            if send_stopped():  # a stopping worker starts no new lookup: the rest wait
                candidates = candidates[:n]
                break
            lookup = getattr(self._channels.get(delivery.channel), "lookup_status", None)
            if lookup is None or delivery.provider_id is None:
                continue
            try:
                update = lookup(delivery.provider_id)
            except Exception as err:
                logger.warning(
                    "reconcile: looking up delivery %s failed: %s: %s",
                    delivery.id,
                    type(err).__name__,
                    self._scrub(str(err)),
                )
                continue
            if update is None:
                continue
            change = ledger.apply_status("", update, "reconcile", self.clock(), delivery.id)
            if change is not None:
                changes.append(change)
            routed.append((delivery.notification_id, update, change))
        ledger.mark_checked([d.id for d in candidates], now)
        self._announce(changes)
        self.router.on_status(routed)
        return [c.delivery for c in changes]

    def _recover(self, now: float) -> list[Change]:
        """Deliveries left ``sending`` by a dead worker become ``unknown`` (hooks told)."""
        changes = self.ledger.recover(now)
        self._announce(changes)
        return changes

    def _announce(self, changes: Sequence[Change]) -> None:
        for change in changes:
            notification = self.ledger.notification(change.delivery.notification_id)
            self._hooks.after_status_change(change.delivery, change.previous, notification)

    # -- alert routing (issue 8; notifykit.routing.service) -----------------------------------
    # Kept in its own region: the Router does the work, these are the public entry points.

    @property
    def router(self) -> Router:
        """The routing engine of this Notifier (built on first use)."""
        with self._lock:
            if self._router is None:
                from notifykit.routing.service import Router

                self._router = Router(self)
            return self._router

    def _routed(self, to: ToArg, channels: str | Iterable[str] | None) -> bool:
        """Whether a notify()/submit() goes through routing: when the caller names no
        recipients or channels (naming them is a direct send, as before)."""
        return to is None and channels is None and self.config.routing is not None

    def _route(
        self,
        event: str,
        severity: str | None,
        data: DataArg,
        labels: Mapping[str, str] | None,
        template: str | None,
        key: str | None,
        resolved: bool,
        submit: bool,
        *,
        repeat_interval: float | None = None,
        direct: Receiver | None = None,
    ) -> Report | Submission:
        from notifykit.routing.alert import Alert

        event_config = self.config.events.get(event)
        severity = severity or (event_config and event_config.severity) or None
        severity = severity or self.config.defaults.severity
        try:
            alert = Alert(event, severity, labels or {}, data or {}, key=key, resolved=resolved)
        except ValueError as err:
            raise NotificationError(str(err)) from None
        result, _plans = self.router.route(
            alert,
            template=template,
            submit=submit,
            repeat_interval=repeat_interval,
            direct=direct,
        )
        if isinstance(result, Report):
            delivery_logger.log(
                logging.INFO if result.ok else logging.WARNING, "%s", result.summary()
            )
        return result

    def resolve(self, key: str) -> list[Report]:
        """Resolve the open alerts whose key is ``key`` (as shown in reports: the text, its
        short form, or 8+ digits of its digest): pending escalation steps are cancelled and a
        resolved message goes where the route says ``send_resolved: true``. Returns one report
        per alert resolved (empty: no open alert or active escalation has that key)."""
        self._needs_secrets()
        return self.router.resolve(key)

    def ack(self, key: str, *, by: str | None = None) -> list[EscalationRecord]:
        """Acknowledge the active escalations of ``key``: nothing more is sent for them (until
        the alert fires again after it is resolved). Returns the escalations acknowledged
        (empty: none was active)."""
        return self.router.ack(key, by)

    def alerts(self) -> list[OpenAlert]:
        """The open alerts (routed, not resolved), newest first, each once per receiver it
        reaches: its key and group key, labels, ``state`` (``firing``, ``acknowledged`` or
        ``held``, with the ``reason``) and its escalation (policy, last step sent, next step
        and when). What ``notifykit alerts`` lists; empty for an ``events:``-only config."""
        return self.router.alerts()

    def explain(
        self,
        event: str,
        *,
        severity: str | None = None,
        labels: Mapping[str, str] | None = None,
        at: datetime | None = None,
        resolved: bool = False,
    ) -> Explanation:
        """What routing would do with this alert at ``at`` (default: now), without sending:
        the routes matched and why, the receivers reached, every delivery with its channel,
        recipient, sender and priority, and what is muted (``notifykit routes test``)."""
        return self.router.explain(
            event, severity=severity, labels=labels, at=at, resolved=resolved
        )

    def alertmanager(self, body: bytes | str) -> dict[str, Any]:
        """Route each alert of a Prometheus Alertmanager webhook body (``POST /alertmanager``),
        each fingerprint + startsAt once. :raises AlertmanagerPayloadError: not a version 4
        payload."""
        self._needs_secrets()
        return self.router.alertmanager(body)

    def ack_url(self, ack_id: str) -> str | None:
        """The signed acknowledgement link of an escalation (templates get it as ``ack_url``)."""
        return self.router.ack_url(ack_id)

    def _needs_secrets(self) -> None:
        """What may reach a provider refuses a config loaded without its ``${VAR}``s (their
        keys read ``<unset:...>``), with the problems a sending run reports."""
        if self.config.unset:
            raise ConfigError(list(self.config.unset))

    # -- executing a plan -------------------------------------------------------------------

    def _execute(self, plan: Plan) -> Report:
        if self.dry_run:
            deliveries = self.dispatcher.dry_run(plan)
            report = Report(
                plan.notification.event,
                plan.notification.severity,
                tuple(deliveries),
                True,
                plan.messages,
                id=plan.notification.id,
                key=plan.notification.key,
                created=plan.notification.created,
            )
        else:
            ledger = self.ledger
            now = self.clock()
            # The groups sent at once are stored 'sending' in the same commit (when no hook
            # can veto them), so their requests go out after one transaction, not two.
            started = self.dispatcher.first_groups(plan.jobs)
            submission = ledger.add(
                plan, lease_owner=self._owner, lease_until=now + NOTIFY_LEASE, sending=started
            )
            if submission.duplicate:
                return ledger.report(submission.id)
            # Send now, without ledger retries: a transient failure is final here (the client
            # already retried what it safely could), so a caller who retries a failed notify()
            # cannot race a scheduled retry into a double send.
            changes = self.dispatcher.deliver_now(
                ledger, self._owner, plan, started=started, lease=NOTIFY_LEASE
            )
            done = {c.delivery.id: c.delivery for c in changes}
            report = Report(
                plan.notification.event,
                plan.notification.severity,
                tuple(
                    done.get(job.id) or job_delivery(job, DeliveryState.PENDING)
                    for job in plan.jobs
                ),
                False,
                plan.messages,
                id=plan.notification.id,
                key=plan.notification.key,
                created=plan.notification.created,
            )
        level = logging.INFO if report.ok else logging.WARNING
        if delivery_logger.isEnabledFor(level):  # the summary is built only to be logged
            delivery_logger.log(level, "%s", report.summary())
        return report


def _hostname() -> str:
    """``socket.gethostname()`` without importing :mod:`socket` where ``os.uname`` gives the same
    (POSIX: gethostname is uname's nodename); a dry run needs no network module."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def _state(value: str | DeliveryState) -> DeliveryState:
    try:
        return DeliveryState(value)
    except ValueError:
        states = [s.value for s in DeliveryState]
        raise NotificationError(
            f"unknown delivery state {value!r}{did_you_mean(str(value), states)}; use one of "
            + ", ".join(states)
        ) from None


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _start_sandboxes(
    config: Config, registry: Registry, stack: ExitStack
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """Start one sandbox per provider in use; return per-account overrides and their secrets."""
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
            secrets.extend(
                str(v)
                for k, v in values.items()
                if k in provider.settings and provider.settings[k].secret and v
            )
        overrides[name] = per_provider[provider.name]
    return overrides, secrets


# -- the module-level notify() ---------------------------------------------------------------

_default_lock = threading.Lock()
_defaults: dict[Path, Notifier] = {}
_configured: Notifier | None = None


def configure(
    source: str | os.PathLike[str] | Mapping[str, Any] | Notifier | None = None, **kwargs: Any
) -> Notifier:
    """Set the Notifier the module-level :func:`notify` uses (a Notifier, or a config to build
    one from with :meth:`Notifier.from_config` and ``kwargs``); returns it."""
    global _configured
    notifier = source if isinstance(source, Notifier) else Notifier.from_config(source, **kwargs)
    with _default_lock:
        _configured = notifier
    return notifier


def get_notifier() -> Notifier:
    """The Notifier behind :func:`notify`: the one :func:`configure` set, else one built (once,
    thread-safely, then cached) from ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``.

    :raises ConfigNotFoundError: neither exists.
    """
    with _default_lock:
        if _configured is not None:
            return _configured
        path = find_config().resolve()
        notifier = _defaults.get(path)
        if notifier is None:
            notifier = Notifier.from_config(path)
            _defaults[path] = notifier
        return notifier


def reset() -> None:
    """Forget (and close) the default Notifiers; the next :func:`notify` reads the config again."""
    global _configured
    with _default_lock:
        notifiers = [*_defaults.values(), *([_configured] if _configured else [])]
        _defaults.clear()
        _configured = None
    for notifier in notifiers:
        notifier.close()


def notify(
    event: str,
    *,
    severity: str | None = None,
    data: DataArg = None,
    to: ToArg = None,
    channels: str | Iterable[str] | None = None,
    template: str | None = None,
    key: str | None = None,
    labels: Mapping[str, str] | None = None,
    resolved: bool = False,
) -> Report:
    """:meth:`Notifier.notify` on the default Notifier (see :func:`get_notifier`)."""
    return get_notifier().notify(
        event,
        severity=severity,
        data=data,
        to=to,
        channels=channels,
        template=template,
        key=key,
        labels=labels,
        resolved=resolved,
    )


async def anotify(
    event: str,
    *,
    severity: str | None = None,
    data: DataArg = None,
    to: ToArg = None,
    channels: str | Iterable[str] | None = None,
    template: str | None = None,
    key: str | None = None,
    labels: Mapping[str, str] | None = None,
    resolved: bool = False,
) -> Report:
    """:meth:`Notifier.anotify` on the default Notifier (built in a worker thread if needed)."""
    import asyncio

    notifier = await asyncio.to_thread(get_notifier)
    return await notifier.anotify(
        event,
        severity=severity,
        data=data,
        to=to,
        channels=channels,
        template=template,
        key=key,
        labels=labels,
        resolved=resolved,
    )
