"""The former name of :mod:`notifykit.model` (the delivery-state vocabulary and what the API
returns), kept so that ``from notifykit.report import Report`` goes on working."""

from __future__ import annotations

from notifykit.model import (
    Attempt,
    Delivery,
    DeliveryState,
    Held,
    MessageText,
    Notification,
    Report,
    StatusEvent,
    Submission,
    assemble,
    distinct_texts,
)

__all__ = [
    "Attempt",
    "Delivery",
    "DeliveryState",
    "Held",
    "MessageText",
    "Notification",
    "Report",
    "StatusEvent",
    "Submission",
    "assemble",
    "distinct_texts",
]
