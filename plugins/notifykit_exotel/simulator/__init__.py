"""A local HTTP server that behaves like Exotel's v1 API, for tests and demos.

``ExotelSimulator`` serves the documented v1 endpoints (calls, call details, number metadata,
SMS send/bulk/details) on 127.0.0.1 with Exotel's auth, validation, error bodies and rate limit,
records every request, injects faults on demand and sends status callbacks. ``CallbackReceiver``
is a small loopback server to point those callbacks at. Nothing here imports ``notifykit`` or the
Exotel client, so both can be tested against it.
"""

from __future__ import annotations

from .models import CallbackAttempt, Fault, RecordedRequest
from .receiver import CallbackReceiver, ReceivedCallback
from .server import ExotelSimulator

__all__ = [
    "CallbackAttempt",
    "CallbackReceiver",
    "ExotelSimulator",
    "Fault",
    "ReceivedCallback",
    "RecordedRequest",
]
