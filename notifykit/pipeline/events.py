"""The events notifykit raises itself (:mod:`.heartbeats`): kept apart so that the entry stage
knows them without importing the heartbeats (a ``notify()`` never needs those)."""

from __future__ import annotations

__all__ = ["HEARTBEAT_MISSED", "OWN_EVENTS", "WORKER_DOWN"]

#: the event of a missed heartbeat's alert
HEARTBEAT_MISSED = "heartbeat.missed"
#: the event of the alert ``notifykit serve`` raises when no worker is seen
WORKER_DOWN = "notifykit.worker.down"
#: the events notifykit raises itself
OWN_EVENTS = frozenset({HEARTBEAT_MISSED, WORKER_DOWN})
