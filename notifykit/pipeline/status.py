"""The status stage: what providers say after a request (status callbacks, lookups) is applied
to the ledger, hooks are told, and the escalation stage reacts (a failed step escalates at once,
an answered call may acknowledge)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from notifykit.channels.base import StatusLookup, StatusParser
from notifykit.channels.stop import send_stopped
from notifykit.errors import LedgerError
from notifykit.metrics import Metrics

if TYPE_CHECKING:
    from notifykit.channels.base import Channel, StatusUpdate
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change
    from notifykit.model import Delivery
    from notifykit.plugins import Hooks

__all__ = ["UNKNOWN_DETAIL", "UNKNOWN_ID", "UNKNOWN_INFO", "UNKNOWN_STATUS", "Status", "trimmed"]

logger = logging.getLogger("notifykit")
status_logger = logging.getLogger("notifykit.status")

#: what is kept of a callback for a message id not recorded: its id, status and detail
#: (characters) and its info (bytes of JSON; more is dropped, saying so)
UNKNOWN_ID = 128
UNKNOWN_STATUS = 64
UNKNOWN_DETAIL = 256
UNKNOWN_INFO = 1024


def trimmed(update: StatusUpdate) -> StatusUpdate:
    """``update`` small enough to keep: a forged callback must not grow the ledger by its size
    (60 of 1 MB each grew it to 66 MB)."""
    import dataclasses
    import json

    info: dict[str, Any] = dict(update.info)
    if len(json.dumps(info, default=str)) > UNKNOWN_INFO:
        info = {"trimmed": True}
    return dataclasses.replace(
        update,
        provider_id=update.provider_id[:UNKNOWN_ID],
        provider_status=(update.provider_status or None)
        and update.provider_status[:UNKNOWN_STATUS],
        detail=(update.detail or None) and update.detail[:UNKNOWN_DETAIL],
        info=info,
    )


#: ``react(pairs)``: the escalation stage's reaction to (notification id, update, change)
React = Callable[[Sequence[tuple[str, "StatusUpdate", "Change | None"]]], None]


class Status:
    """Applies status reports (see the module docstring)."""

    def __init__(
        self,
        *,
        ledger: Callable[[], Ledger],
        channels: Mapping[str, Channel],
        hooks: Hooks,
        react: React,
        scrub: Callable[[str], str],
        clock: Callable[[], float],
        reconcile_after: float,
        metrics: Metrics | None = None,
        token_ttl: float | None = None,
        unknown_count: int | None = None,
        unknown_keep: float | None = None,
    ) -> None:
        self._ledger = ledger
        self._channels = channels
        self._hooks = hooks
        self._react = react
        self._scrub = scrub
        self._clock = clock
        self._reconcile_after = reconcile_after
        self._metrics = metrics or Metrics()
        self._token_ttl = token_ttl
        self._unknown_count = unknown_count
        self._unknown_keep = unknown_keep

    def forget_unknown(self, now: float) -> int:
        """Drop the callbacks kept for message ids never recorded once they are older than
        ``server.unknown_callbacks_keep``, even when no new one arrives to prune them (the due
        work's part, at every tick); returns how many went."""
        if self._unknown_keep is None:
            return 0
        return self._ledger().forget_unknown_events(now - self._unknown_keep)

    def announce(self, changes: Sequence[Change]) -> None:
        """Count the changes and tell the ``after_status_change`` hooks."""
        if not changes:
            return
        self._metrics.deliveries(changes)
        ledger = self._ledger()
        for change in changes:
            notification = ledger.notification(change.delivery.notification_id)
            self._hooks.after_status_change(change.delivery, change.previous, notification)

    def callback(self, token: str, body: bytes, content_type: str) -> int:
        """Apply a provider's status callback for the batch ``token``; returns the HTTP status
        to answer: 200 (applied, or a duplicate or late one: the provider must stop retrying),
        404 (unknown token), 410 (a token that expired: ``server.callback_token_ttl`` after its
        batch's last delivery became final), 400 (a body that is not a status callback).

        An update for a message id none of the batch's deliveries has recorded (a callback
        faster than our write, or a forged one) is kept small (:func:`trimmed`) and within the
        ``server.unknown_callbacks`` bounds, to be applied when the id is recorded.

        :raises LedgerError: the ledger could not be read or written (the server answers 503
            and the provider retries)."""
        try:
            code, channel, outcome = self._callback(token, body, content_type)
        except LedgerError:
            self._metrics.callback("", "error")
            raise
        self._metrics.callback(channel, outcome)
        return code

    def _callback(self, token: str, body: bytes, content_type: str) -> tuple[int, str, str]:
        """:meth:`callback`'s work: the HTTP status, the channel and the outcome counted."""
        ledger = self._ledger()
        deliveries = ledger.by_token(token)
        if not deliveries:
            status_logger.warning("status callback for an unknown token rejected (404)")
            return 404, "", "unknown_token"
        now = self._clock()
        if self._expired(deliveries, now):
            status_logger.warning(
                "status callback for an expired token rejected (410): its batch ended more "
                "than server.callback_token_ttl (%gs) ago",
                self._token_ttl,
            )
            return 410, deliveries[0].channel, "expired"
        channel_name = deliveries[0].channel
        channel = self._channels.get(channel_name)
        if not isinstance(channel, StatusParser):
            status_logger.warning(
                "status callback for channel %r, which reads none, rejected (404)", channel_name
            )
            return 404, channel_name, "unsupported"
        try:
            updates = list(channel.parse_status(body, content_type))
        except (ValueError, TypeError) as err:
            status_logger.warning(
                "malformed status callback for channel %r rejected (400): %s",
                channel_name,
                self._scrub(str(err)),
            )
            return 400, channel_name, "malformed"
        changes = []
        routed: list[tuple[str, StatusUpdate, Change | None]] = []
        by_provider = {d.provider_id: d.notification_id for d in deliveries}
        for update in updates:
            if update.provider_id not in by_provider:
                update = trimmed(update)
            change = ledger.apply_status(
                token,
                update,
                "callback",
                now,
                unknown_count=self._unknown_count,
                unknown_keep=self._unknown_keep,
            )
            if change is not None:
                changes.append(change)
            notification_id = by_provider.get(update.provider_id)
            if notification_id is not None:
                routed.append((notification_id, update, change))
        self.announce(changes)
        self._react(routed)
        return 200, channel_name, "applied" if changes else "ignored"

    def _expired(self, deliveries: Sequence[Delivery], now: float) -> bool:
        """Every delivery of the batch final, the last for longer than the token's ttl."""
        if self._token_ttl is None or not all(d.state.final for d in deliveries):
            return False
        return now - max(d.updated or 0.0 for d in deliveries) > self._token_ttl

    def reconcile(self, *, older_than: float | None = None, limit: int = 200) -> list[Delivery]:
        """Ask providers about deliveries whose final status never came and apply what they
        say; returns the deliveries that changed."""
        ledger = self._ledger()
        now = self._clock()
        after = self._reconcile_after if older_than is None else older_than
        candidates = ledger.reconcile_candidates(now, after, limit)
        changes: list[Change] = []
        routed: list[tuple[str, StatusUpdate, Change | None]] = []
        for n, delivery in enumerate(candidates):
            if send_stopped():  # a stopping worker starts no new lookup: the rest wait
                candidates = candidates[:n]
                break
            channel = self._channels.get(delivery.channel)
            if not isinstance(channel, StatusLookup) or delivery.provider_id is None:
                continue
            try:
                update = channel.lookup_status(delivery.provider_id)
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
            change = ledger.apply_status("", update, "reconcile", self._clock(), delivery.id)
            if change is not None:
                changes.append(change)
            routed.append((delivery.notification_id, update, change))
        ledger.mark_checked([d.id for d in candidates], now)
        self.announce(changes)
        self._react(routed)
        return [c.delivery for c in changes]
