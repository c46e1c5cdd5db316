"""The :class:`Notifier`: the API an application uses, a thin facade over a
:class:`~notifykit.runtime.Runtime` (the composition root, where everything is built) and its
pipeline (:mod:`notifykit.pipeline`, where every alert goes through the same stages).

``notify()`` sends now: the pipeline routes the alert, stores what goes out (its first deliveries
already ``sending``) in one transaction, and the delivery run sends it and records the outcomes —
two transactions in all. ``submit()`` stores and hands on to the queue (``notifykit worker`` or
Celery). Failures while sending are never raised: each is a ``failed`` (or ``unknown``)
delivery in the :class:`~notifykit.Report`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import Channel, ChannelType, Recipient
from notifykit.config.loader import Config, find_config
from notifykit.config.schema import did_you_mean
from notifykit.delivery.dispatch import planned_delivery
from notifykit.errors import ConfigError, NotificationError, RecipientError
from notifykit.ledger.audit import API, Acting
from notifykit.model import Delivery, DeliveryState, Report, Submission, distinct_texts
from notifykit.plan.planner import Plan, template_context
from notifykit.plugins import Registry
from notifykit.routing.alert import Alert
from notifykit.runtime import Runtime

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    import pluggy
    from prometheus_client import CollectorRegistry

    from notifykit.delivery.dispatch import Dispatcher
    from notifykit.delivery.worker import Worker
    from notifykit.ledger.audit import AuditRecord
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.state import EscalationRecord
    from notifykit.metrics import Metrics
    from notifykit.oncall import OnCall, Shift
    from notifykit.oncall.overrides import StoredOverride
    from notifykit.pipeline.escalate import AckLink
    from notifykit.pipeline.heartbeats import HeartbeatStatus, WatchResult
    from notifykit.pipeline.ingest import Routed
    from notifykit.plan.planner import Planner
    from notifykit.routing.escalation import Receiver
    from notifykit.routing.explain import Explanation
    from notifykit.routing.listing import OpenAlert
    from notifykit.routing.silences import Silence

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

DataArg = Mapping[str, Any] | None
ToArg = str | Iterable[str] | None


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
        self._init(
            Runtime(
                config,
                registry,
                dry_run=dry_run,
                account_overrides=account_overrides,
                exit_stack=exit_stack,
                extra_secrets=extra_secrets,
                store=store,
                clock=clock,
            )
        )

    def _init(self, runtime: Runtime) -> None:
        #: everything this Notifier runs on (the composition root)
        self.runtime = runtime
        self._pipeline = runtime.pipeline
        #: who acts through this Notifier, for the audit trail (:meth:`audit`): the path
        #: (``api``; the command line's is ``cli``) and the person, when one is (``by=`` of
        #: :meth:`ack` and :meth:`resolve` names another)
        self.acting: Acting = API

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> Notifier:
        """A Notifier over a runtime built already."""
        notifier = cls.__new__(cls)
        notifier._init(runtime)
        return notifier

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
        return cls.from_runtime(
            Runtime.from_config(
                source,
                sandbox=sandbox,
                dry_run=dry_run,
                plugin_manager=plugin_manager,
                environ=environ,
                store=store,
                require_secrets=require_secrets,
                clock=clock,
            )
        )

    def close(self) -> None:
        """Close the provider clients and the ledger, and stop sandboxes. Idempotent."""
        self.runtime.close()

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
        return f"<Notifier {self.config.source!r} channels={list(self.channels)}{mode}>"

    # -- what it runs on ----------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def registry(self) -> Registry:
        return self.runtime.registry

    @property
    def dry_run(self) -> bool:
        return self.runtime.dry_run

    @property
    def clock(self) -> Callable[[], float]:
        """The time source (epoch seconds) of the ledger, the dispatcher and workers."""
        return self.runtime.clock

    @property
    def planner(self) -> Planner:
        return self.runtime.planner

    @property
    def dispatcher(self) -> Dispatcher:
        return self.runtime.dispatcher

    @property
    def store_location(self) -> str:
        """Where the ledger is: the ``store`` given, the config's ``store:``, else
        ``notifykit.db`` next to the config file (in memory for a config given as a mapping)."""
        return self.runtime.store_location

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened (and migrated) on first use.

        :raises LedgerError: it cannot be opened.
        """
        return self.runtime.ledger()

    def status_url(self, token: str) -> str | None:
        """The status callback URL of a batch token (``None`` without ``server.public_url``)."""
        return self.runtime.status_url(token)

    @property
    def metrics(self) -> Metrics:
        """This Notifier's Prometheus metrics (off until :meth:`start_metrics`)."""
        return self.runtime.metrics

    def start_metrics(self) -> CollectorRegistry:
        """Turn the Prometheus metrics on (idempotent) and return their registry, to expose
        (``prometheus_client.make_wsgi_app(registry)``; ``notifykit serve`` serves it at
        ``/metrics``). docs/deploy.md lists the metrics."""
        return self.runtime.start_metrics()

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The configured channels, by name."""
        return dict(self.runtime.channels)

    def channel_type(self, channel: str) -> ChannelType:
        """The :class:`ChannelType` of a configured channel."""
        self.planner.check_channels([channel])
        return self.runtime.channel_types[channel]

    def client(self, account: str) -> Any:
        """The shared client of a configured account (e.g. an ``ExotelClient``)."""
        self._needs_secrets()
        if account not in self.config.accounts:
            raise NotificationError(
                f"no account named {account!r}{did_you_mean(account, self.config.accounts)}"
            )
        return self.runtime.clients(account)

    def resolve_recipients(self, targets: Iterable[str]) -> list[Recipient]:
        """Recipient names, group names and phone numbers as :class:`Recipient` objects, each
        person once, in order. Raises :class:`RecipientError` for anything unknown or invalid."""
        return self.planner.resolve_recipients(targets)

    # -- on call ------------------------------------------------------------------------------------

    def oncall(self, name: str, at: datetime | None = None) -> OnCall:
        """Who the ``schedules:`` entry ``name`` has on call at ``at`` (an aware datetime;
        default: now): ``.who`` (a recipient's name, or ``None`` when nobody is), ``.layer``
        (the index of the layer that decided, ``None`` for an override or nobody),
        ``.override`` and ``.at`` (in the schedule's zone). This is who a ``schedule:NAME``
        target reaches at that moment.

        :raises RecipientError: no schedule of that name.
        :raises ValueError: ``at`` has no time zone.
        """
        if at is None:
            return self.planner.on_call(name)
        return self.planner.schedule(name).who_is_on_call(at)

    def shifts(self, name: str, start: datetime, end: datetime) -> list[Shift]:
        """Who schedule ``name`` has on call over ``[start, end)`` (aware datetimes): shifts
        clipped to the range, in order, adjacent shifts of the same person merged, times when
        nobody is on call left out (``.who``, ``.start``, ``.end``, in the schedule's zone).

        :raises RecipientError: no schedule of that name.
        :raises ValueError: a time without a zone, or ``end`` before ``start``.
        """
        return self.planner.schedule(name).shifts(start, end)

    # -- sending ------------------------------------------------------------------------------------

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
        severity = severity or self.runtime.default_severity(event)
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
        or the implicit routes of ``events:``): see ``docs/routing.md``. An alert that waits
        in its group (``group_wait``) is not a failure: the report is ``ok`` and says when it
        goes out (``report.held``).

        :raises RecipientError: an unknown recipient or group, or an invalid number.
        :raises NotificationError: an unknown severity or channel, or no channel or recipient.
        :raises TemplateError: a template is missing, fails to render, is too long or does not
            match its DLT pattern. Nothing has been sent when any of these is raised.
        :raises LedgerError: the ledger cannot record it (nothing was sent).
        """
        if self._routed(to, channels):
            alert = self._alert(event, severity, data, labels, key, resolved)
            return self._send_routed(alert, template=template)
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
        runtime = self.runtime
        now = runtime.clock()
        handoff = runtime.queue.handoff(now)
        if self._routed(to, channels):
            alert = self._alert(event, severity, data, labels, key, resolved)
            routed = self._pipeline.ingest(alert, handoff, template=template, acting=self.acting)
            runtime.queue.enqueue(routed.stored, handoff, runtime.clock())
            return _submission(self, routed)
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
        stored = self._pipeline.store.add(runtime.ledger(), plan, handoff)
        runtime.queue.enqueue([stored], handoff, runtime.clock())
        return stored.submission

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
        """A :class:`~notifykit.delivery.Worker` on this Notifier's ledger (``threads``,
        ``lease``, ``poll``, ``batch``, ``name``, ``clock``: defaults from ``worker:``)."""
        self._needs_secrets()
        return self.runtime.worker(**options)

    def history(self, *, limit: int = 20, state: str | DeliveryState | None = None) -> list[Report]:
        """Notifications in the ledger, newest first, as :class:`Report` objects (``limit`` 0:
        all; ``state``: only those with a delivery in that state)."""
        wanted = None if state is None else _state(state)
        return self.ledger.reports(limit=limit, state=wanted)

    def report(self, notification_id: str) -> Report:
        """One notification from the ledger, each delivery with its ``attempt_log`` and
        ``events``. :raises LedgerError: no notification has that id."""
        return self.ledger.report(notification_id, detail=True)

    # -- status -------------------------------------------------------------------------------------

    def handle_status_callback(self, token: str, body: bytes, content_type: str) -> int:
        """Apply a provider's status callback for the batch ``token``; returns the HTTP status
        to answer: 200 (applied, or a duplicate or late one: the provider must stop retrying),
        404 (unknown token), 400 (a body that is not a status callback)."""
        return self._pipeline.status.callback(token, body, content_type)

    def reconcile(self, *, older_than: float | None = None, limit: int = 200) -> list[Delivery]:
        """Ask providers about deliveries whose final status never came (sent or unknown, with a
        provider id, nothing heard for ``older_than`` seconds, default ``worker.reconcile_after``)
        and apply what they say. Returns the deliveries that changed."""
        self._needs_secrets()
        return self._pipeline.status.reconcile(older_than=older_than, limit=limit)

    # -- alerts -------------------------------------------------------------------------------------

    def resolve(
        self, key: str, *, by: str | None = None, acting: Acting | None = None
    ) -> list[Report]:
        """Resolve the open alerts whose key is ``key`` (any form a report shows: the group's
        key, the alert's own, its short form, or 8+ digits of a digest): pending escalation
        steps are cancelled and a resolved message goes where the route says
        ``send_resolved: true``. ``by``: who resolves (the audit trail's actor); ``acting``:
        the path it comes through, for this call only (default :attr:`acting`; the web console
        passes ``Acting("web", user)``). Returns one report per alert resolved (empty: no open
        alert or active escalation has that key)."""
        self._needs_secrets()
        runtime = self.runtime
        handoff = runtime.notify_handoff(runtime.clock())
        routed = self._pipeline.resolve(key, handoff, (acting or self.acting).by(by))
        return [self._finish(r) for r in routed]

    def ack(
        self,
        key: str,
        *,
        by: str | None = None,
        snooze: timedelta | float | str | None = None,
        acting: Acting | None = None,
    ) -> list[EscalationRecord]:
        """Acknowledge the active escalations of ``key`` (any form a report shows): nothing more
        is sent for them (until the alert fires again after it is resolved, or the policy's
        ``ack_timeout`` re-opens them), and the deliveries of their steps that have not started
        are cancelled. ``by``: who acknowledges (kept as the escalation's ``acked_by`` and the
        audit trail's actor); ``acting``: the path (as for :meth:`resolve`). ``snooze`` (a
        timedelta, seconds, or ``"30m"``): pause them instead; their next step goes out when the
        snooze ends, unless resolved first. Returns the escalations acknowledged or snoozed
        (empty: none was active).

        :raises NotificationError: ``snooze`` is not a positive duration.
        """
        seconds = None
        if snooze is not None:
            seconds = _seconds(snooze)
            if seconds is None or seconds <= 0:
                raise NotificationError(f"snooze={snooze!r} is not a positive duration (30m, 2h)")
        return self._pipeline.escalations.ack(key, (acting or self.acting).by(by), snooze=seconds)

    # -- silences -----------------------------------------------------------------------------------

    def silence(
        self,
        matchers: str | Iterable[str],
        *,
        duration: timedelta | float | str | None = None,
        starts_at: datetime | float | None = None,
        ends_at: datetime | float | None = None,
        comment: str,
        by: str | None = None,
        acting: Acting | None = None,
    ) -> Silence:
        """Silence the alerts ``matchers`` match (Alertmanager's silences: the routes' matcher
        syntax, ``service="db"``, ``env=~"prod|stage"``; several are ANDed) from ``starts_at``
        (default now) until ``ends_at``, or for ``duration`` (a timedelta, seconds, or ``"2h"``).
        Every flush in that time mutes them; one still firing when the silence ends goes out at
        its group's next flush. ``comment`` says why; ``by``: who (kept with the silence and in
        the audit trail); ``acting``: the path (as for :meth:`resolve`). Returns the silence
        (its ``id`` expires it early).

        :raises SilenceError: bad matchers (the message names the problem and the fix), no
            comment, no end, or an end not after the start.
        """
        from notifykit.routing.silences import SilenceError, parse_silence_matchers

        if self.dry_run:
            raise NotificationError("a dry run stores nothing: a silence needs the ledger")
        items = [matchers] if isinstance(matchers, str) else list(matchers)
        parsed = parse_silence_matchers(items)
        if not comment or not comment.strip():
            raise SilenceError('a silence needs a comment saying why (comment="deploy of db")')
        now = self.clock()
        start, end = _span(now, starts_at, ends_at, duration, "silence", SilenceError)
        return self._pipeline.silence(
            parsed, start, end, comment.strip(), (acting or self.acting).by(by)
        )

    def override(
        self,
        schedule: str,
        who: str,
        *,
        duration: timedelta | float | str | None = None,
        starts_at: datetime | float | None = None,
        ends_at: datetime | float | None = None,
        comment: str,
        by: str | None = None,
        acting: Acting | None = None,
    ) -> StoredOverride:
        """Put ``who`` (a recipient) on call for ``schedule`` from ``starts_at`` (default now)
        until ``ends_at``, or for ``duration`` (a timedelta, seconds, or ``"8h"``): it wins over
        the schedule's layers and its configured overrides, and a later override over an
        earlier one. Pages to ``schedule:NAME`` reach ``who`` in that time. ``comment`` says
        why; ``by``: who made it (kept with it and in the audit trail); ``acting``: the path.
        Returns it (its ``id`` cancels it).

        :raises OverrideError: no comment, no end, an end not after the start or in the past.
        :raises RecipientError: no such schedule, or ``who`` is not a recipient.
        """
        from notifykit.oncall.overrides import OverrideError

        if self.dry_run:
            raise NotificationError("a dry run stores nothing: an override needs the ledger")
        self.planner.schedule(schedule)  # a RecipientError naming the schedules, if none
        if who not in self.config.recipients:
            raise RecipientError(
                f"{who!r} is not a recipient{did_you_mean(who, self.config.recipients)}: an "
                "override puts a person from recipients: on call"
            )
        if not comment or not comment.strip():
            raise OverrideError('an override needs a comment saying why (comment="swap")')
        now = self.clock()
        start, end = _span(now, starts_at, ends_at, duration, "override", OverrideError)
        return self._pipeline.override(
            schedule, who, start, end, comment.strip(), (acting or self.acting).by(by)
        )

    def overrides(
        self, schedule: str | None = None, *, include_ended: bool = False
    ) -> list[StoredOverride]:
        """The on-call overrides made at run time (of ``schedule``), in force or to come, in
        the order they were made (``include_ended``: the ended and cancelled ones too). What
        ``notifykit override list`` shows."""
        ending_after = None if include_ended else self.clock()
        return self.ledger.routing.overrides(schedule=schedule, ending_after=ending_after)

    def cancel_override(
        self, override_id: str, *, by: str | None = None, acting: Acting | None = None
    ) -> StoredOverride:
        """End an override now (its id, or its first 4+ characters): who is on call is the
        schedule's again. Returns it, ended.

        :raises OverrideError: no override, or several, have that id.
        """
        return self._pipeline.cancel_override(override_id, (acting or self.acting).by(by))

    def silences(self, *, include_expired: bool = False) -> list[Silence]:
        """The silences in force or still to come, newest first (``include_expired``: the
        expired ones too). What ``notifykit silence list`` shows (the console too)."""
        state = self.ledger.routing
        if include_expired:
            return state.silences()
        return state.silences(ending_after=self.clock())

    def expire_silence(
        self, silence_id: str, *, by: str | None = None, acting: Acting | None = None
    ) -> Silence:
        """End a silence now (its id, or its first 4+ characters): the alerts it muted go out
        at their groups' next flush if they still fire. Returns it, ended.

        :raises SilenceError: no silence, or several, have that id.
        """
        return self._pipeline.expire_silence(silence_id, (acting or self.acting).by(by))

    def audit(
        self, *, since: datetime | timedelta | float | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """The audit trail, oldest first: who acknowledged, resolved or escalated what, when
        and through which path (``cli``, ``api``, ``link``, ``call``, ``keypress``,
        ``missed-call``, ``alertmanager``, ``system``), at most the newest ``limit`` actions since ``since`` (a datetime, a
        timedelta back from now, or epoch seconds). What ``notifykit audit`` lists.

        :raises LedgerError: the ledger cannot be read.
        """
        return self.ledger.routing.audit(since=_since(since, self.clock()), limit=limit)

    def alerts(self) -> list[OpenAlert]:
        """The open alerts (firing, or held in their groups), newest first, each once per
        receiver it reaches: its key and group key, labels, ``state`` (``firing``,
        ``acknowledged`` or ``held``, with the ``reason``) and its escalation (policy, last
        step sent, next step and when). What ``notifykit alerts`` lists; empty for an
        ``events:``-only config."""
        return self._pipeline.alerts()

    # -- heartbeats -------------------------------------------------------------------------------

    def heartbeat(self, name: str, token: str) -> bool:
        """Record a beat of the heartbeat ``name`` (``POST /heartbeat/<name>/<token>``); when
        its missed alert was raised, it is resolved, and what that sends is sent now. ``False``
        (nothing recorded) when no heartbeat has that name or the token is not its own.

        :raises LedgerError: the ledger cannot record it.
        """
        beats = self._pipeline.heartbeats
        if not beats.accepts(name, token):
            return False
        self._needs_secrets()
        runtime = self.runtime
        for routed in beats.beat(name, runtime.notify_handoff(runtime.clock())):
            self._finish(routed)
        return True

    def heartbeats(self) -> list[HeartbeatStatus]:
        """Every configured heartbeat's state (``ok``, ``late``, ``missed``, ``never``), last
        beat and due time (``notifykit heartbeats``)."""
        return self._pipeline.heartbeats.statuses()

    def heartbeat_url(self, name: str, *, with_token: bool = False) -> str | None:
        """The URL a heartbeat's job calls (``None`` without ``server.public_url``); its token
        is ``<token>`` unless ``with_token`` (it is a secret: anyone with it can beat)."""
        public = self.config.server.public_url
        if not public:
            return None
        token = self._pipeline.heartbeats.token(name) if with_token else "<token>"
        return f"{public}/heartbeat/{name}/{token}"

    def watch_workers(self) -> WatchResult:
        """``notifykit serve``'s look at the workers: when none was seen for two leases, the
        alert ``notifykit.worker.down`` is raised (once, however many servers watch) and sent
        from this process, and, while none is seen, the due-work tick runs here too (escalation
        steps, group timers, heartbeats), what it stores sent from this process; resolved when a
        worker is seen again."""
        self._needs_secrets()
        runtime = self.runtime
        result = self._pipeline.watch.check(runtime.notify_handoff(runtime.clock()))
        for routed in result.routed:
            self._finish(routed)
        if result.down:
            now = runtime.clock()
            stored = self._pipeline.due.route(now, runtime.notify_handoff(now))
            runtime.deliver_stored(stored)
        return result

    def ack_token(
        self,
        token: str,
        by: str | None = None,
        *,
        check_only: bool = False,
    ) -> list[EscalationRecord] | None:
        """Acknowledge through an ack link's token (``None``: not a genuine token). The audit
        trail names ``by``, else the people the link was sent to."""
        return self._pipeline.escalations.ack_token(token, by, check_only=check_only)

    def ack_link(self, token: str) -> AckLink | None:
        """What an ack link's token names: its escalation as it stands, the step that sent it
        and that step's recipients (``None``: not a genuine link). Reads only."""
        return self._pipeline.escalations.link(token)

    def ack_url(self, ack_id: str) -> str | None:
        """The signed acknowledgement link of an escalation (templates get it as ``ack_url``)."""
        return self._pipeline.escalations.links.url(ack_id)

    def act_on_escalation(
        self,
        escalation_id: str,
        action: str,
        *,
        by: str | None = None,
        via: str | None = None,
        detail: str | None = None,
        once: str | None = None,
        channel: str | None = None,
    ) -> bool:
        """Act on one escalation, as a key pressed on a paging call does: ``"ack"``
        (acknowledge), ``"escalate"`` (its next step goes out now), ``"snooze"`` (paused for
        its policy's ``keys.snooze_for``, as :meth:`ack` with ``snooze``) or ``"resolve"``
        (resolve its alerts, as :meth:`resolve`). ``by``: who (the person the call went to); ``via``:
        the audit trail's path (``keypress``, ``missed-call``...; default this Notifier's);
        ``detail``: how, for the audit trail. ``once``: an idempotency key (a provider's call
        id and the key pressed): a replay does nothing again and returns what the first did.
        ``channel``: the channel whose message was answered (the paging call's, the WhatsApp
        message's), the ``channel`` label of ``notifykit_acknowledgements_total``.
        Returns whether it was done (``False``: the escalation is not open, has no step left
        to escalate to, or does not exist)."""
        acting = (self.acting if via is None else Acting(via)).by(by)
        if action != "resolve":
            return self._pipeline.escalations.act(
                escalation_id, action, acting, detail=detail, once=once, channel=channel or ""
            )
        self._needs_secrets()
        state = self.ledger.routing
        if once is not None:
            with state.unit("claiming a resolution") as unit:
                fresh, result = unit.claim_idempotency(once, self.clock())
            if not fresh:
                return result == "done"
        record = state.escalation(escalation_id)
        if record is not None and record.state in ("active", "done"):
            runtime = self.runtime
            handoff = runtime.notify_handoff(runtime.clock())
            for routed in self._pipeline.resolve(record.key, handoff, acting):
                self._finish(routed)
        after = state.escalation(escalation_id)
        done = after is not None and after.state == "resolved"
        if once is not None:
            with state.unit("finishing a resolution") as unit:
                unit.finish_idempotency(once, "done" if done else "not done")
        return done

    def escalations_paging(self, address: str) -> list[tuple[str, str]]:
        """``(escalation id, recipient)`` of every open escalation whose sent steps paged
        ``address`` (a phone number in E.164), oldest first: whom a missed call from that
        number acknowledges for."""
        return self.ledger.routing.paging(address)

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
        return self._pipeline.explain(
            event, severity=severity, labels=labels, at=at, resolved=resolved
        )

    def alertmanager(self, body: bytes | str) -> dict[str, Any]:
        """Route each alert of a Prometheus Alertmanager webhook body (``POST /alertmanager``),
        each fingerprint + startsAt once. :raises AlertmanagerPayloadError: not a version 4
        payload."""
        self._needs_secrets()
        runtime = self.runtime
        handoff = runtime.notify_handoff(runtime.clock())
        status, results = self._pipeline.alertmanager(body, handoff)
        out: list[dict[str, Any]] = []
        for routed in results:
            if routed.duplicate:
                out.append(
                    {
                        "event": routed.alert.event,
                        "duplicate": True,
                        "result": _loads(routed.earlier),
                    }
                )
                continue
            report = self._finish(routed)
            out.append(
                {
                    "event": routed.alert.event,
                    "duplicate": False,
                    "id": report.id,
                    "key": report.key,
                    "counts": report.by_state(),
                }
            )
        return {"ok": True, "status": status, "alerts": out}

    def route_alert(
        self,
        alert: Alert,
        *,
        template: str | None = None,
        direct: Receiver | None = None,
        repeat_interval: float | None = None,
    ) -> Report:
        """Send ``alert`` through the pipeline now (``NotifyHandler``'s way in: ``direct``, a
        receiver of its own; ``repeat_interval``, its dedup)."""
        return self._send_routed(
            alert, template=template, direct=direct, repeat_interval=repeat_interval
        )

    # -- inside -------------------------------------------------------------------------------------

    def _needs_secrets(self) -> None:
        """What may reach a provider refuses a config loaded without its ``${VAR}``s (their
        keys read ``<unset:...>``), with the problems a sending run reports."""
        if self.config.unset:
            raise ConfigError(list(self.config.unset))

    def _routed(self, to: ToArg, channels: str | Iterable[str] | None) -> bool:
        """Whether a notify()/submit() goes through routing: when the caller names no
        recipients or channels (naming them is a direct send, as before)."""
        return to is None and channels is None and self.config.routing is not None

    def _alert(
        self,
        event: str,
        severity: str | None,
        data: DataArg,
        labels: Mapping[str, str] | None,
        key: str | None,
        resolved: bool,
    ) -> Alert:
        severity = severity or self.runtime.default_severity(event)
        try:
            return Alert(event, severity, labels or {}, data or {}, key=key, resolved=resolved)
        except ValueError as err:
            raise NotificationError(str(err)) from None

    def _send_routed(
        self,
        alert: Alert,
        *,
        template: str | None = None,
        direct: Receiver | None = None,
        repeat_interval: float | None = None,
    ) -> Report:
        runtime = self.runtime
        handoff = runtime.notify_handoff(runtime.clock())
        routed = self._pipeline.ingest(
            alert,
            handoff,
            template=template,
            direct=direct,
            repeat_interval=repeat_interval,
            acting=self.acting,
        )
        return self._finish(routed)

    def _finish(self, routed: Routed) -> Report:
        """Send what the pipeline stored for ``notify()`` and report it: built from the plans
        and the recorded outcomes, no read of the ledger."""
        alert = routed.alert
        if self.dry_run:
            planned = tuple(d for p in routed.plans for d in self.dispatcher.dry_run(p))
            report = Report(
                alert.event,
                alert.severity,
                planned,
                True,
                {k: v for p in routed.plans for k, v in p.messages.items()},
                id=routed.plans[0].notification.id if routed.plans else "",
                key=routed.key,
                notes=tuple(routed.notes),
                texts=distinct_texts((p.receiver, p.messages) for p in routed.plans),
            )
            _log(report)
            return report
        if not routed.stored and routed.told and not routed.held:
            # Every receiver was told of it already: nothing was sent (the earlier
            # notification's deliveries are its own, and stay as they are in the ledger).
            report = Report(
                alert.event,
                alert.severity,
                (),
                False,
                {},
                id=routed.told[0],
                key=routed.key,
                created=self.clock(),
                notes=tuple(routed.notes),
                deduplicated=True,
            )
            _log(report)
            return report
        changes = self.runtime.deliver_stored(routed.stored)
        done = {c.delivery.id: c.delivery for c in changes}
        deliveries: list[Delivery] = []
        messages: dict[str, str | None] = {}
        sent: list[tuple[str | None, Mapping[str, str | None]]] = []
        for item in routed.stored:
            if item.submission.duplicate:
                # key= of an events:-only config: the notification stored with it before
                earlier = self.ledger.report(item.submission.id)
                deliveries.extend(earlier.deliveries)
                found: Mapping[str, str | None] = earlier.messages
            else:
                deliveries.extend(
                    done.get(job.id) or planned_delivery(job) for job in item.plan.jobs
                )
                found = item.plan.messages
            sent.append((item.plan.receiver, found))
            for name, text in found.items():
                messages.setdefault(name, text)
        first = routed.stored[0] if routed.stored else None
        report = Report(
            alert.event,
            alert.severity,
            tuple(deliveries),
            False,
            messages,
            id=first.submission.id if first else "",
            key=routed.key,
            created=first.plan.notification.created if first else self.clock(),
            notes=tuple(routed.notes),
            held=tuple(routed.held),
            texts=distinct_texts(sent),
        )
        _log(report)
        return report

    def _execute(self, plan: Plan) -> Report:
        """A direct send (``to=``/``channels=``, or ``send``): stored, then sent now."""
        runtime = self.runtime
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
            _log(report)
            return report
        # The groups sent at once are stored 'sending' in the same commit (when no hook can
        # veto them), so their requests go out after one transaction, not two.
        handoff = runtime.notify_handoff(runtime.clock())
        stored = self._pipeline.store.add(runtime.ledger(), plan, handoff)
        if stored.submission.duplicate:
            return self.ledger.report(stored.submission.id)
        # Send now, without ledger retries: a transient failure is final here (the client
        # already retried what it safely could), so a caller who retries a failed notify()
        # cannot race a scheduled retry into a double send.
        changes = runtime.deliver_stored([stored])
        done = {c.delivery.id: c.delivery for c in changes}
        report = Report(
            plan.notification.event,
            plan.notification.severity,
            tuple(done.get(job.id) or planned_delivery(job) for job in plan.jobs),
            False,
            plan.messages,
            id=plan.notification.id,
            key=plan.notification.key,
            created=plan.notification.created,
        )
        _log(report)
        return report


def _log(report: Report) -> None:
    level = logging.INFO if report.ok else logging.WARNING
    if delivery_logger.isEnabledFor(level):  # the summary is built only to be logged
        delivery_logger.log(level, "%s", report.summary())


def _loads(text: str | None) -> Any:
    import json

    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _submission(notifier: Notifier, routed: Routed) -> Submission:
    """What ``submit()`` returns for a routed alert: the first notification stored (with every
    delivery stored for it), else the one that already told of it."""
    stored = routed.stored
    if stored:
        ids = tuple(i for s in stored for i in s.submission.deliveries)
        return Submission(
            stored[0].submission.id,
            ids,
            all(s.submission.duplicate for s in stored),
            routed.key,
        )
    if routed.told:
        report = notifier.ledger.report(routed.told[0])
        return Submission(report.id, tuple(d.id for d in report.deliveries), True, routed.key)
    return Submission("", (), not routed.held, routed.key)


def _since(value: datetime | timedelta | float | None, now: float) -> float | None:
    """``since`` of :meth:`Notifier.audit` as epoch seconds (a naive datetime is UTC)."""
    from datetime import datetime, timedelta, timezone

    if value is None:
        return None
    if isinstance(value, timedelta):
        return now - value.total_seconds()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def _span(
    now: float,
    starts_at: datetime | float | None,
    ends_at: datetime | float | None,
    duration: timedelta | float | str | None,
    what: str,
    error: type[Exception],
) -> tuple[float, float]:
    """``[start, end)`` of a silence or an override (``what``) from ``starts_at`` (default
    ``now``) and either ``ends_at`` or ``duration``; ``error`` names what is wrong."""
    start = now if starts_at is None else _epoch(starts_at)
    if (duration is None) == (ends_at is None):
        raise error(f"give a {what} either duration= (2h) or ends_at=, not both")
    if duration is not None:
        seconds = _seconds(duration)
        if seconds is None or seconds <= 0:
            raise error(f"duration={duration!r} is not a positive duration (30m, 2h)")
        end = start + seconds
    else:
        assert ends_at is not None
        end = _epoch(ends_at)
    if end <= start:
        raise error(f"a {what} must end after it starts")
    if end <= now:
        raise error(f"that {what} would end in the past: give a later end")
    return start, end


def _epoch(value: datetime | float) -> float:
    from datetime import datetime

    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise NotificationError("give an aware datetime (with a time zone), not a naive one")
        return value.timestamp()
    return float(value)


def _seconds(value: timedelta | float | str) -> float | None:
    from datetime import timedelta

    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        from notifykit.config.settings import parse_duration

        return parse_duration(value)
    return float(value)


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
