"""Assembling the pipeline (Alertmanager's ``PipelineBuilder``): each stage gets its collaborators
explicitly, here, once.

::

    entry → route → group ─┬─ at flush: inhibit → time intervals → silences → dedup → plan → store
                           └─ (no state kept: plan → store)
    store → dispatch → channel → client → record → status → escalation
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from notifykit.ledger.audit import (
    OVERRIDDEN,
    OVERRIDE_CANCELLED,
    SILENCE_CREATED,
    SILENCE_EXPIRED,
    Acting,
)
from notifykit.pipeline.events import OWN_EVENTS
from notifykit.pipeline.ingest import Ingest, Routed
from notifykit.pipeline.messages import Messages
from notifykit.pipeline.stages import (
    Flush,
    InhibitStage,
    SilenceCache,
    SilenceStage,
    Stage,
    TimeIntervalStage,
)
from notifykit.pipeline.store import Handoff, Store

if TYPE_CHECKING:
    from notifykit.channels.base import Channel, Recipient
    from notifykit.config.delivery import ServerSettings
    from notifykit.config.heartbeats import HeartbeatSettings
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change
    from notifykit.ledger.state import RoutingState
    from notifykit.metrics import Metrics
    from notifykit.oncall.overrides import StoredOverride
    from notifykit.pipeline.due import DueWork
    from notifykit.pipeline.escalate import Escalations
    from notifykit.pipeline.explain import Explainer
    from notifykit.pipeline.groups import GroupFlusher
    from notifykit.pipeline.heartbeats import Heartbeats, WorkerWatch
    from notifykit.pipeline.limits import PagingGuard
    from notifykit.pipeline.status import Status
    from notifykit.plan.planner import DeliveryJob, Planner
    from notifykit.plugins import Hooks
    from notifykit.routing.alert import Alert
    from notifykit.routing.listing import OpenAlert
    from notifykit.routing.matchers import Matcher
    from notifykit.routing.model import RoutingConfig
    from notifykit.routing.silences import Silence

__all__ = ["Pipeline", "build_pipeline"]

#: Alertmanager's webhook, for the audit trail (it names nobody)
ALERTMANAGER = Acting("alertmanager")


class Parts:
    """The stages an alert that keeps no state never uses (groups, escalations, the due-work
    tick, status callbacks, explanations, heartbeats and the workers' watch), each made by its
    factory on first use, once per pipeline even when threads ask at once: a first dry run, or
    any ``events:``-only ``notify()``, does not import their modules (nor the heartbeats' ledger
    rows), and every other process makes them when it first needs them. A factory may ask for
    another part."""

    def __init__(self, factories: Mapping[str, Callable[[], object]]) -> None:
        self._factories = dict(factories)
        self._made: dict[str, Any] = {}
        self._lock = threading.RLock()

    def get(self, name: str) -> Any:
        made = self._made.get(name)
        if made is None:
            with self._lock:
                made = self._made.get(name)
                if made is None:
                    made = self._made[name] = self._factories[name]()
        return made

    def __repr__(self) -> str:
        return f"<pipeline parts, made: {', '.join(sorted(self._made)) or 'none'}>"


@dataclass(frozen=True)
class Pipeline:
    """The assembled stages, and the entry points that need more than one of them."""

    ingest: Ingest
    store: Store
    routing: RoutingConfig
    state: Callable[[], RoutingState]
    clock: Callable[[], float]
    #: the stages a ``notify()`` does not use, made on first use (see :class:`Parts`)
    parts: Parts
    #: a silence was made or expired: the cached silences are read again
    silences_changed: Callable[[], None] = lambda: None

    @property
    def escalations(self) -> Escalations:
        """The escalation stage (acknowledgements, steps, ack links)."""
        made: Escalations = self.parts.get("escalations")
        return made

    def on_changes(self, changes: Sequence[Change]) -> None:
        """Deliveries recorded: the escalation stage's :meth:`~Escalations.on_changes`, which
        does nothing without ``escalations:`` (so the stage is not made for it then)."""
        if self.routing.escalations:
            self.escalations.on_changes(changes)

    @property
    def due(self) -> DueWork:
        """The due-work tick (the worker's and ``notifykit serve``'s)."""
        made: DueWork = self.parts.get("due")
        return made

    @property
    def status(self) -> Status:
        """Status callbacks and reconciliation."""
        made: Status = self.parts.get("status")
        return made

    @property
    def explain(self) -> Explainer:
        """``routes test`` and ``kit.explain()``."""
        made: Explainer = self.parts.get("explain")
        return made

    @property
    def heartbeats(self) -> Heartbeats:
        """The dead-man's switches of ``heartbeats:``."""
        made: Heartbeats = self.parts.get("heartbeats")
        return made

    @property
    def watch(self) -> WorkerWatch:
        """``notifykit serve``'s watch of the workers."""
        made: WorkerWatch = self.parts.get("watch")
        return made

    def resolve(self, given: str, handoff: Handoff, acting: Acting) -> list[Routed]:
        """Resolve the open alerts ``given`` names (every key form ``notify()`` reports: the
        group's key, the alert's own, its short form, 8+ digits of a digest): each goes through
        the pipeline resolved, as ``acting`` sent it."""
        import dataclasses

        state = self.state()
        found = {a.key_for().text: a for a in state.find_alerts(given) if not a.resolved}
        if not self.routing.implicit:
            # Routes that keep no group state: the key a report showed is the route's.
            for alert in state.firing_alerts(self.clock(), self.routing.resolve_timeout):
                text = alert.key_for().text
                if text not in found and any(
                    m.key.matches(given) for m in self.routing.route(alert)
                ):
                    found[text] = alert
        if not found:
            for record in state.escalations("active"):
                if _matches(record.key, given) or record.alert.key_for().matches(given):
                    found.setdefault(record.alert.key_for().text, record.alert)
        return [
            self.ingest(dataclasses.replace(a, resolved=True), handoff, acting=acting)
            for a in found.values()
        ]

    # -- silences -----------------------------------------------------------------------------------

    def silence(
        self,
        matchers: Sequence[Matcher],
        starts_at: float,
        ends_at: float,
        comment: str,
        acting: Acting,
    ) -> Silence:
        """Store a silence made by ``acting``, with its row of the audit trail."""
        now = self.clock()
        with self.state().unit("making a silence") as unit:
            made = unit.add_silence(matchers, starts_at, ends_at, comment, acting.actor, now)
            unit.audit(SILENCE_CREATED, acting, _silence_target(made), now, comment)
        self.silences_changed()
        return made

    def override(
        self,
        schedule: str,
        who: str,
        starts_at: float,
        ends_at: float,
        comment: str,
        acting: Acting,
    ) -> StoredOverride:
        """Store an on-call override made by ``acting``, with its row of the audit trail."""
        now = self.clock()
        with self.state().unit("making an on-call override") as unit:
            made = unit.add_override(schedule, who, starts_at, ends_at, comment, acting.actor, now)
            unit.audit(OVERRIDDEN, acting, _override_target(made), now, comment)
        return made

    def cancel_override(self, given: str, acting: Acting) -> StoredOverride:
        """End the override ``given`` names (its id, or 4+ of its first characters) now, as
        ``acting`` does, with its row of the audit trail.

        :raises OverrideError: no override, or several, have that id.
        """
        from notifykit.oncall.overrides import OverrideError

        now = self.clock()
        with self.state().unit("cancelling an on-call override") as unit:
            made = _the_one(
                unit.find_overrides(given),
                given,
                ("on-call override", "overrides", "notifykit override list --all"),
                OverrideError,
            )
            if made.state(now) == "ended":
                return made
            ended = unit.cancel_override(made, now, acting.actor)
            unit.audit(OVERRIDE_CANCELLED, acting, _override_target(ended), now)
        return ended

    def expire_silence(self, given: str, acting: Acting) -> Silence:
        """End the silence ``given`` names (its id, or 4+ of its first characters) now, as
        ``acting`` does, with its row of the audit trail.

        :raises SilenceError: no silence, or several, have that id.
        """
        from notifykit.routing.silences import SilenceError

        now = self.clock()
        with self.state().unit("expiring a silence") as unit:
            silence = _the_one(
                unit.find_silences(given),
                given,
                ("silence", "silences", "notifykit silence list --all"),
                SilenceError,
            )
            if silence.state(now) == "expired":
                return silence
            expired = unit.expire_silence(silence, now, acting.actor)
            unit.audit(SILENCE_EXPIRED, acting, _silence_target(expired), now)
        self.silences_changed()
        return expired

    def alerts(self) -> list[OpenAlert]:
        """The open alerts, newest first, each once per group it is in
        (:func:`notifykit.routing.listing.open_alerts`); none for an ``events:``-only config,
        which keeps no alert state."""
        from notifykit.routing.listing import open_alerts

        if self.routing.implicit:
            return []
        state = self.state()
        snapshot = state.snapshot()
        now = self.clock()
        silences = state.active_silences(now)
        return open_alerts(
            self.routing, snapshot, now, self.routing.resolve_timeout, silences=silences
        )

    def alertmanager(self, body: bytes | str, handoff: Handoff) -> tuple[str, list[Routed]]:
        """Route each alert of an Alertmanager webhook body (version 4), each firing once: its
        fingerprint + startsAt is claimed in the transaction that routes it, so a retried
        webhook (or the same body twice) routes nothing again, and a claim is never left
        without its routing. Returns the payload's status and what became of each alert.

        :raises AlertmanagerPayloadError: the body is not a valid payload (nothing was routed).
        """
        from notifykit.routing.alertmanager import parse_webhook

        payload = parse_webhook(body)
        results = []
        for alert in payload.alerts:
            results.append(
                self.ingest(
                    alert,
                    handoff,
                    claim=alert.idempotency_key or None,
                    summary=_summary,
                    acting=ALERTMANAGER,
                )
            )
        return payload.status, results


_Found = TypeVar("_Found", "Silence", "StoredOverride")


def _the_one(
    found: Sequence[_Found], given: str, names: tuple[str, str, str], error: type[Exception]
) -> _Found:
    """The one thing an id (or its first 4+ characters) ``given`` names; ``names``: what it
    is, in the singular and the plural, and the command that lists them all."""
    one, many, listing = names
    if not found:
        raise error(f"no {one} has the id {given!r}: `{listing}` shows them")
    if len(found) > 1:
        ids = ", ".join(f.id for f in found)
        raise error(f"{given!r} names several {many} ({ids}): give more of it")
    return found[0]


def _override_target(made: StoredOverride) -> dict[str, str]:
    return {"override": made.id, "schedule": made.schedule, "who": made.who}


def _silence_target(silence: Silence) -> dict[str, str]:
    return {"silence": silence.id, "matchers": ", ".join(str(m) for m in silence.matchers)}


def _matches(key: str, given: str) -> bool:
    from notifykit.routing.alert import AlertKey

    return AlertKey(key).matches(given)


def _summary(routed: Routed) -> str:
    """What a webhook claim keeps: the notifications stored for it."""
    ids = [s.submission.id for s in routed.stored]
    return json.dumps(
        {
            "id": ids[0] if ids else "",
            "key": routed.key,
            "notifications": ids,
            "deliveries": sum(len(s.submission.deliveries) for s in routed.stored),
            "held": len(routed.held),
        }
    )


def build_pipeline(
    *,
    routing: RoutingConfig,
    planner: Planner,
    event_templates: Mapping[str, str | None],
    default_template: str | None,
    default_severity: Callable[[str], str],
    unknown_event: Callable[[str], bool],
    channels: Mapping[str, Channel],
    resolve_recipients: Callable[[Sequence[str]], list[Recipient]],
    first_groups: Callable[[Sequence[DeliveryJob]], Sequence[str]],
    ledger: Callable[[], Ledger],
    hooks: Hooks,
    scrub: Callable[[str], str],
    clock: Callable[[], float],
    public_url: str | None,
    resolve_timeout: float,
    reconcile_after: float,
    dry_run: bool = False,
    server: ServerSettings | None = None,
    silences: Callable[[float], Sequence[Silence]] | None = None,
    metrics: Metrics | None = None,
    paging: PagingGuard | None = None,
    heartbeats: Mapping[str, HeartbeatSettings] | None = None,
    worker_window: float = 120.0,
) -> Pipeline:
    """The pipeline for one configuration (see the module docstring). ``silences(now)``: the
    silences in force outside a unit of work (a dry run's, an explanation's); by default read
    from the ledger, and none in a dry run."""

    def state() -> RoutingState:
        return ledger().routing

    stateful = not routing.implicit or bool(routing.escalations)

    def firing(now: float) -> Sequence[Alert]:
        if dry_run:
            return ()
        return state().firing_alerts(now, resolve_timeout)

    def silences_now(now: float) -> Sequence[Silence]:
        if silences is not None:
            return silences(now)
        return () if dry_run else state().active_silences(now)

    # Outside a unit of work (a route that keeps no state), read at most once a second.
    cached = SilenceCache(lambda now: () if dry_run else state().silences(ending_after=now))

    def silences_at(flush: Flush) -> Sequence[Silence]:
        # Inside a unit of work, read in its transaction (what it wrote counts).
        if flush.unit is not None:
            return flush.unit.silences(flush.now)
        return silences(flush.now) if silences is not None else cached(flush.now)

    def firing_at(flush: Flush) -> Sequence[Alert]:
        # Inside a unit of work, read in its transaction (what it wrote counts).
        if flush.unit is not None:
            return flush.unit.firing_alerts(flush.now, resolve_timeout)
        return firing(flush.now)

    messages = Messages(
        planner,
        event_templates,
        default_template,
        dry_run=dry_run,
        mark_receiver=not routing.implicit,
    )
    store = Store(first_groups, paging if paging else None, clock)

    def make_escalations() -> Escalations:
        from notifykit.pipeline.escalate import AckLinks, Escalations

        return Escalations(
            policies=routing.escalations,
            receivers=routing.receivers,
            messages=messages,
            store=store,
            links=AckLinks(public_url, lambda: state().routing_secret("ack")),
            state=state,
            clock=clock,
            scrub=scrub,
            metrics=metrics,
        )

    # The mute stages, in Alertmanager's order; the same ones decide at a flush and, for a
    # route that keeps no state, when the alert arrives (its only flush).
    mute: list[Stage] = [
        InhibitStage(routing.inhibit_rules or (), firing_at),
        TimeIntervalStage(routing.time_intervals),
        SilenceStage(silences_at),
    ]

    def make_flusher() -> GroupFlusher:
        from notifykit.pipeline.groups import GroupFlusher

        return GroupFlusher(
            receivers=routing.receivers,
            stages=mute,
            messages=messages,
            escalations=parts.get("escalations"),
            store=store,
            resolve_timeout=resolve_timeout,
        )

    def flusher() -> GroupFlusher:
        made: GroupFlusher = parts.get("flusher")
        return made

    def escalations() -> Escalations:
        made: Escalations = parts.get("escalations")
        return made

    ingest = Ingest(
        routing=routing,
        messages=messages,
        flusher=flusher,
        escalations=escalations,
        store=store,
        mute_now=mute,
        state=state,
        ledger=ledger,
        # the alerts notifykit raises itself are no misspelling, whatever the routes name
        unknown_event=lambda event: event not in OWN_EVENTS and unknown_event(event),
        clock=clock,
        dry_run=dry_run,
    )

    def make_status() -> Status:
        from notifykit.pipeline.status import Status

        return Status(
            ledger=ledger,
            channels=channels,
            hooks=hooks,
            react=escalations().on_status,
            scrub=scrub,
            clock=clock,
            reconcile_after=reconcile_after,
            metrics=metrics,
            token_ttl=None if server is None else server.callback_token_ttl,
            unknown_count=None if server is None else server.unknown_callbacks,
            unknown_keep=None if server is None else server.unknown_callbacks_keep,
        )

    def make_heartbeats() -> Heartbeats:
        from notifykit.pipeline.heartbeats import Heartbeats

        return Heartbeats(
            specs=heartbeats or {},
            ingest=ingest,
            ledger=ledger,
            secret=lambda: state().routing_secret("heartbeat"),
            clock=clock,
        )

    def make_watch() -> WorkerWatch:
        from notifykit.pipeline.heartbeats import WorkerWatch

        return WorkerWatch(ingest=ingest, ledger=ledger, clock=clock, window=worker_window)

    def make_due() -> DueWork:
        from notifykit.pipeline.due import DueWork

        status: Status = parts.get("status")
        beats: Heartbeats = parts.get("heartbeats")
        return DueWork(
            ledger=ledger,
            heartbeats=beats if beats.configured and not dry_run else None,
            state=state if stateful else None,
            flusher=flusher() if stateful else None,
            escalations=escalations() if routing.escalations else None,
            announce=status.announce,
            reconcile=status.reconcile,
            scrub=scrub,
            handoff=Handoff(),
            forget_unknown=status.forget_unknown,
        )

    def make_explainer() -> Explainer:
        from notifykit.pipeline.explain import Explainer

        return Explainer(
            routing=routing,
            channels=channels,
            resolve_recipients=resolve_recipients,
            firing=None if dry_run else firing,
            silences=silences_now,
            default_severity=default_severity,
            clock=clock,
            on_call=planner.on_call,
            fallbacks=planner.config.fallbacks,
        )

    parts = Parts(
        {
            "escalations": make_escalations,
            "flusher": make_flusher,
            "status": make_status,
            "heartbeats": make_heartbeats,
            "watch": make_watch,
            "due": make_due,
            "explain": make_explainer,
        }
    )
    return Pipeline(ingest, store, routing, state, clock, parts, cached.forget)
