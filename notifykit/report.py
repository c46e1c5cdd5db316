"""What ``notify()`` returns: one :class:`Delivery` per (channel, recipient), gathered in a :class:`Report`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Delivery", "Notification", "Report"]

_SUCCESS = frozenset({"sent", "dry-run"})


@dataclass(frozen=True)
class Notification:
    """The notification as a whole, as hooks see it."""

    event: str
    severity: str
    data: Mapping[str, Any] = field(hash=False)
    template: str | None
    channels: tuple[str, ...]
    recipients: tuple[str, ...]
    dry_run: bool = False


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient through one channel.

    ``status`` is ``"sent"`` (the provider accepted it; ``provider_id`` is its id, e.g. the Exotel
    Sid), ``"failed"`` (not sent; ``error`` says why), ``"unknown"`` (the request may have reached
    the provider), ``"skipped"`` (vetoed or not addressable; ``error`` is the reason), ``"dry-run"``,
    or ``"pending"`` while ``before_delivery`` hooks look at it.
    ``info`` holds what the channel reported about the message (for SMS: ``encoding``, ``length``,
    ``segments``).
    """

    channel: str
    channel_type: str
    recipient: str
    address: str | None
    status: str
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        """``True`` for ``sent`` and ``dry-run``."""
        return self.status in _SUCCESS

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "channel": self.channel,
            "channel_type": self.channel_type,
            "recipient": self.recipient,
            "address": self.address,
            "status": self.status,
            "provider_id": self.provider_id,
            "provider_status": self.provider_status,
            "error": self.error,
            "info": dict(self.info),
        }


@dataclass(frozen=True)
class Report:
    """The outcome of one notification. Failures are here, never hidden and never raised."""

    event: str
    severity: str
    deliveries: tuple[Delivery, ...]
    dry_run: bool = False
    #: the rendered text per channel name (``None`` for channels that carry no text)
    messages: Mapping[str, str | None] = field(default_factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        """``True`` only if every delivery succeeded (``sent``, or ``dry-run`` in a dry run)."""
        return bool(self.deliveries) and all(d.ok for d in self.deliveries)

    @property
    def succeeded(self) -> list[Delivery]:
        """The deliveries that were sent (or would have been, in a dry run)."""
        return [d for d in self.deliveries if d.ok]

    @property
    def failed(self) -> list[Delivery]:
        """The deliveries that did not succeed: ``failed``, ``unknown`` and ``skipped``."""
        return [d for d in self.deliveries if not d.ok]

    @property
    def partial(self) -> bool:
        """``True`` when some deliveries succeeded and some did not."""
        return bool(self.succeeded) and bool(self.failed)

    def by_status(self) -> dict[str, int]:
        """Delivery counts per status."""
        counts: dict[str, int] = {}
        for d in self.deliveries:
            counts[d.status] = counts.get(d.status, 0) + 1
        return counts

    def summary(self) -> str:
        """One line: ``"db.down (critical): 3 deliveries, 2 sent, 1 failed"``."""
        n = len(self.deliveries)
        parts = [f"{count} {status}" for status, count in self.by_status().items()]
        head = f"{self.event} ({self.severity}): {n} deliver{'y' if n == 1 else 'ies'}"
        return ", ".join([head, *parts])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``notifykit --json``)."""
        return {
            "event": self.event,
            "severity": self.severity,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "partial": self.partial,
            "counts": self.by_status(),
            "messages": dict(self.messages),
            "deliveries": [d.to_dict() for d in self.deliveries],
        }
