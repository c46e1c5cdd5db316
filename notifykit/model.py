"""The delivery-state vocabulary, and what the API returns: :class:`Delivery` objects gathered in a
:class:`Report`.

One :class:`DeliveryState` enum is used everywhere: by channels' results, the ledger, the worker,
status callbacks, ``notifykit history`` and the hooks. A :class:`Report` is the same object whether
it comes back from ``notify()`` or from ``history()``: a notification with its deliveries.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

_T = TypeVar("_T")

__all__ = [
    "SEVERITIES",
    "STANDBY",
    "Attempt",
    "Delivery",
    "DeliveryState",
    "Held",
    "MessageText",
    "Notification",
    "Report",
    "Severity",
    "StatusEvent",
    "Submission",
    "distinct_texts",
    "severity_rank",
]


#: A severity, as settings declare one (``severity: Severity = "warning"``).
Severity = Literal["info", "warning", "error", "critical"]

#: The severities a notification can have, lowest first. Channels pick senders, caller ids and
#: priorities by severity; :class:`~notifykit.NotifyHandler` maps logging levels onto them.
SEVERITIES: tuple[str, ...] = get_args(Severity)


#: how the reason of a fallback delivery waiting for its turn begins (docs/failover.md): it is
#: stored ``skipped`` with this reason until the delivery it stands in for fails on the
#: provider's side, and stays so when that one is sent
STANDBY = "standby: "


def severity_rank(severity: str) -> int:
    """The position of ``severity`` in :data:`SEVERITIES` (raises ``ValueError`` if unknown)."""
    return SEVERITIES.index(severity)


class DeliveryState(str, enum.Enum):
    """Where one delivery (one message to one recipient through one channel) stands.

    ``pending``: due now or later (not sent yet; in a dry run, what would be sent).
    ``sending``: its request is going out (committed before the request, so a crash leaves a
    trace). ``sent``: the provider accepted it. ``delivered``: the provider reported it reached
    the person (an SMS on the handset, a call answered). ``failed``: it was not sent, or the
    provider reported it undeliverable. ``unknown``: the request may or may not have reached the
    provider; never resent blindly. ``cancelled``: withdrawn before it was sent. ``skipped``:
    deliberately not sent (vetoed, or no address for the channel).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """No status event can move a delivery out of a final state."""
        return self in _FINAL

    @property
    def succeeded(self) -> bool:
        """``sent`` or ``delivered``."""
        return self in (DeliveryState.SENT, DeliveryState.DELIVERED)

    @property
    def rank(self) -> int:
        """Progress order: an event never moves a delivery to a lower rank."""
        return _RANK[self]


_FINAL = frozenset(
    {
        DeliveryState.DELIVERED,
        DeliveryState.FAILED,
        DeliveryState.CANCELLED,
        DeliveryState.SKIPPED,
    }
)
_RANK = {
    DeliveryState.PENDING: 0,
    DeliveryState.SENDING: 1,
    DeliveryState.UNKNOWN: 2,
    DeliveryState.SENT: 3,
    DeliveryState.DELIVERED: 4,
    DeliveryState.FAILED: 4,
    DeliveryState.CANCELLED: 4,
    DeliveryState.SKIPPED: 4,
}


def assemble(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass ``cls`` from a dict holding *every* field, without
    its ``__init__``: a frozen dataclass sets each field through ``object.__setattr__``, about
    5 us for a :class:`Delivery`, which is 50 ms of a 10,000-number broadcast's report (and as
    much again for its planned jobs). This is how ``copy`` and ``pickle`` rebuild one; the
    caller passes every field (tests compare the result with the constructor's)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


@dataclass(frozen=True)
class Notification:
    """The notification as a whole, as hooks see it.

    ``id`` is its ledger id, ``key`` the idempotency key it was submitted with (if any),
    ``created`` when it was accepted (epoch seconds).
    """

    event: str
    severity: str
    data: Mapping[str, Any] = field(hash=False)
    template: str | None
    channels: tuple[str, ...]
    recipients: tuple[str, ...]
    dry_run: bool = False
    id: str = ""
    key: str | None = None
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ledger stores this)."""
        return {
            "id": self.id,
            "event": self.event,
            "severity": self.severity,
            "key": self.key,
            "created": self.created,
            "data": dict(self.data),
            "template": self.template,
            "channels": list(self.channels),
            "recipients": list(self.recipients),
        }


@dataclass(frozen=True)
class Attempt:
    """One try at sending a delivery: when, by which worker, and what came of it."""

    number: int
    started: float
    finished: float | None
    outcome: str
    worker: str | None = None
    provider_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started": self.started,
            "finished": self.finished,
            "outcome": self.outcome,
            "worker": self.worker,
            "provider_id": self.provider_id,
            "error": self.error,
        }


@dataclass(frozen=True)
class StatusEvent:
    """A status report about a delivery from its provider (a callback, or a reconcile lookup).

    ``applied`` is ``False`` when the event did not move the delivery (a duplicate, or one that
    arrived after a final state).
    """

    received: float
    source: str
    provider_status: str | None
    state: DeliveryState | None
    detail: str | None = None
    applied: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "source": self.source,
            "provider_status": self.provider_status,
            "state": None if self.state is None else self.state.value,
            "detail": self.detail,
            "applied": self.applied,
        }


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient through one channel.

    ``state`` is a :class:`DeliveryState`. ``provider_id`` is the provider's id for the message
    (the Exotel Sid), ``provider_status`` the provider's own word for where it stands and
    ``provider_detail`` its detailed reason; ``error`` says why it failed, is unknown or was
    skipped. ``attempts`` counts the tries. ``info`` holds what the channel reported about the
    message (for SMS: ``encoding``, ``length``, ``segments``). ``attempt_log`` and ``events`` are
    filled by ``history(id)``.
    """

    channel: str
    channel_type: str
    recipient: str
    address: str | None
    state: DeliveryState
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)
    id: str = ""
    notification_id: str = ""
    attempts: int = 0
    provider_detail: str | None = None
    due: float | None = None
    updated: float | None = None
    attempt_log: tuple[Attempt, ...] = ()
    events: tuple[StatusEvent, ...] = ()
    #: the id of the delivery this one is the fallback of (docs/failover.md), else ``None``
    fallback_of: str | None = None

    @property
    def ok(self) -> bool:
        """``True`` for ``sent`` and ``delivered``."""
        return self.state.succeeded

    @property
    def standby(self) -> bool:
        """A fallback that was not needed (yet): it waits, ``skipped``, for the delivery it
        stands in for to fail on the provider's side."""
        return (
            self.fallback_of is not None
            and self.state is DeliveryState.SKIPPED
            and (self.error or "").startswith(STANDBY)
        )

    @property
    def encoding(self) -> str | None:
        """The SMS encoding (``"GSM-7"`` or ``"UCS-2"``), for SMS channels."""
        value = self.info.get("encoding")
        return str(value) if value is not None else None

    @property
    def segments(self) -> int | None:
        """How many SMS segments the body takes, for SMS channels."""
        value = self.info.get("segments")
        return int(value) if value is not None else None

    def to_dict(self, *, detail: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; ``detail`` adds ``attempt_log`` and ``events``."""
        out: dict[str, Any] = {
            "id": self.id,
            "channel": self.channel,
            "channel_type": self.channel_type,
            "recipient": self.recipient,
            "address": self.address,
            "state": self.state.value,
            "provider_id": self.provider_id,
            "provider_status": self.provider_status,
            "provider_detail": self.provider_detail,
            "attempts": self.attempts,
            "error": self.error,
            "due": self.due,
            "updated": self.updated,
            "info": dict(self.info),
            "fallback_of": self.fallback_of,
        }
        if detail:
            out["attempt_log"] = [a.to_dict() for a in self.attempt_log]
            out["events"] = [e.to_dict() for e in self.events]
        return out


@dataclass(frozen=True)
class Held:
    """Alerts waiting in their group: ``receiver`` is sent the group ``key`` at ``until`` (epoch
    seconds), when its ``group_wait`` or ``group_interval`` is over. Nothing failed."""

    receiver: str
    key: str
    until: float

    def to_dict(self) -> dict[str, Any]:
        from datetime import datetime, timezone

        return {
            "receiver": self.receiver,
            "key": self.key,
            "until": datetime.fromtimestamp(self.until, timezone.utc).isoformat(),
        }


@dataclass(frozen=True)
class MessageText:
    """One distinct text rendered for a channel, and the receivers it went to: a routed alert
    reaching receivers whose templates differ has several texts for one channel."""

    channel: str
    text: str
    receivers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "text": self.text, "receivers": list(self.receivers)}


@dataclass(frozen=True)
class Report:
    """A notification and its deliveries: what ``notify()`` returns, and what ``history()``
    lists. Failures are here, never hidden and never raised.

    A routed alert that routing deduplicated (already sent, unchanged, ``repeat_interval`` not
    over) is a report with ``deduplicated`` set and **no deliveries**: nothing was sent. Its
    ``id`` is the earlier notification's (``history(id)`` shows what went out then); it is
    ``ok``, since nothing failed.
    """

    event: str
    severity: str
    deliveries: tuple[Delivery, ...]
    dry_run: bool = False
    #: the rendered text per channel name (``None`` for channels that carry no text)
    messages: Mapping[str, str | None] = field(default_factory=dict, hash=False)
    id: str = ""
    key: str | None = None
    created: float = 0.0
    #: what routing noted (an event no route names, a receiver muted or deduplicated)
    notes: tuple[str, ...] = ()
    #: groups the alert waits in (``group_wait``, ``group_interval``): sent later, not failed
    held: tuple[Held, ...] = ()
    #: routing sent nothing: the same alert was already sent (see the class docstring)
    deduplicated: bool = False
    #: the routing receiver the notification went to (``None``: not routed by a ``route:``)
    receiver: str | None = None
    #: the escalation step it was sent for, ``"<round>.<index>"`` (``"0.1"``: the second step
    #: of the first round); ``None`` for other notifications
    step: str | None = None
    #: every distinct text per channel, when ``messages`` (one text per channel) cannot show
    #: them all: a routed alert whose receivers render different texts; else empty
    texts: tuple[MessageText, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` only if every delivery succeeded (``sent`` or ``delivered``; in a dry run,
        every delivery is ``pending``: planned, deliberately not sent). A report with no
        deliveries is ok when its alert only waits in its groups (``held``) or was deduplicated:
        nothing failed."""
        if not self.deliveries:
            return self.deduplicated or bool(self.held)
        counted = [d for d in self.deliveries if not d.standby]
        if self.dry_run:
            return all(d.state is DeliveryState.PENDING for d in counted)
        covered = self._covered()
        return all(d.ok or d.id in covered for d in counted)

    def _covered(self) -> set[str]:
        """The ids of deliveries that did not succeed but whose fallback (or its fallback...)
        did: the person was reached (docs/failover.md). A standby that was not needed, or a
        delivery that failed over, does not make a report fail."""
        after = {d.fallback_of: d for d in self.deliveries if d.fallback_of is not None}
        covered: set[str] = set()
        if not after:  # no fallbacks (a broadcast): nothing to walk, no set per delivery
            return covered
        for d in self.deliveries:
            nxt = after.get(d.id)
            if nxt is None:
                continue
            seen = {d.id}
            while nxt is not None and nxt.id not in seen:
                if nxt.ok:
                    covered.add(d.id)
                    break
                seen.add(nxt.id)
                nxt = after.get(nxt.id)
        return covered

    @property
    def succeeded(self) -> list[Delivery]:
        """The deliveries that were sent (or would have been, in a dry run)."""
        if self.dry_run:
            return [d for d in self.deliveries if d.state is DeliveryState.PENDING]
        return [d for d in self.deliveries if d.ok]

    @property
    def failed(self) -> list[Delivery]:
        """The deliveries that did not succeed: ``failed``, ``unknown``, ``skipped``... (not a
        standby fallback that was not needed, nor a delivery whose fallback succeeded)."""
        good = {id(d) for d in self.succeeded}
        covered = set() if self.dry_run else self._covered()
        return [
            d
            for d in self.deliveries
            if id(d) not in good and not d.standby and d.id not in covered
        ]

    @property
    def unknown(self) -> list[Delivery]:
        """The deliveries that may or may not have reached the provider."""
        return [d for d in self.deliveries if d.state is DeliveryState.UNKNOWN]

    @property
    def partial(self) -> bool:
        """``True`` when some deliveries succeeded and some did not."""
        return bool(self.succeeded) and bool(self.failed)

    def by_state(self) -> dict[str, int]:
        """Delivery counts per state; a fallback not needed (yet) counts as ``standby``, not
        ``skipped`` (docs/failover.md)."""
        counts: dict[str, int] = {}
        for d in self.deliveries:
            state = "standby" if d.standby else d.state.value
            counts[state] = counts.get(state, 0) + 1
        return counts

    def summary(self) -> str:
        """One line: ``"db.down (critical): 3 deliveries, 2 sent, 1 failed"``; for a
        deduplicated report ``"app.slow (warning): deduplicated, nothing was sent (...)"``."""
        if self.deduplicated:
            return (
                f"{self.event} ({self.severity}): deduplicated, nothing was sent (the same alert "
                f"went out before: {self.id})"
            )
        n = len(self.deliveries)
        counts = self.by_state()
        if self.dry_run and "pending" in counts:
            counts = {("dry-run" if k == "pending" else k): v for k, v in counts.items()}
        parts = [f"{count} {state}" for state, count in counts.items()]
        head = f"{self.event} ({self.severity}): {n} deliver{'y' if n == 1 else 'ies'}"
        if self.held:
            parts.append(f"held in {len(self.held)} group{'s' if len(self.held) > 1 else ''}")
        return ", ".join([head, *parts])

    def to_dict(self, *, detail: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (``notifykit --json``); ``detail`` adds each delivery's
        ``attempt_log`` and ``events``."""
        return {
            "id": self.id,
            "event": self.event,
            "severity": self.severity,
            "key": self.key,
            "created": self.created,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "partial": self.partial,
            "counts": self.by_state(),
            "messages": dict(self.messages),
            "deliveries": [d.to_dict(detail=detail) for d in self.deliveries],
            **({"notes": list(self.notes)} if self.notes else {}),
            **({"held": [h.to_dict() for h in self.held]} if self.held else {}),
            **({"deduplicated": True} if self.deduplicated else {}),
            **({"receiver": self.receiver} if self.receiver else {}),
            **({"step": self.step} if self.step else {}),
            **({"texts": [t.to_dict() for t in self.texts]} if self.texts else {}),
        }


@dataclass(frozen=True)
class Submission:
    """What ``submit()`` returns: the notification's ledger id and its deliveries' ids.

    ``duplicate`` is ``True`` when a notification with the same idempotency ``key`` was already
    accepted: this is that one, and nothing new was stored.
    """

    id: str
    deliveries: tuple[str, ...]
    duplicate: bool = False
    key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deliveries": list(self.deliveries),
            "duplicate": self.duplicate,
            "key": self.key,
        }


def distinct_texts(
    sent: Iterable[tuple[str | None, Mapping[str, str | None]]],
) -> tuple[MessageText, ...]:
    """Every distinct text per channel of ``sent`` (each notification's receiver and
    messages), when some channel has more than one; else ``()`` (``messages`` shows them)."""
    found: dict[tuple[str, str], list[str]] = {}
    for receiver, messages in sent:
        for channel, text in messages.items():
            if text is None:
                continue
            receivers = found.setdefault((channel, text), [])
            if receiver and receiver not in receivers:
                receivers.append(receiver)
    channels = [channel for channel, _text in found]
    if len(channels) == len(set(channels)):
        return ()
    return tuple(MessageText(c, t, tuple(r)) for (c, t), r in found.items())
