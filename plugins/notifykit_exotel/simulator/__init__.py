"""A local HTTP server that behaves like Exotel's v1 API, for tests and demos.

``ExotelSimulator`` serves the documented v1 endpoints (calls, call details and legs, number
metadata, SMS send/bulk/details) on loopback with Exotel's auth, validation, error bodies and rate
limit, records every request, injects faults on demand, moves calls and SMS to final states by
rules a test sets, and sends status callbacks; an admin API under ``/_sim`` steers it over HTTP.
``CallbackReceiver`` is a small loopback server to point those callbacks at. Nothing here imports
the Exotel client, so the client can be tested against it; the one piece shared with the core is
SMS segment counting (:func:`notifykit.text.sms.analyze_sms`), so both count alike. Calls can
play Exotel call flows against your URLs (:mod:`.flows`, :mod:`.flowrun`), with keys queued per
number, missed and incoming calls to an ExoPhone, and a transcript per call.
See ``docs/simulator.md``.
"""

from __future__ import annotations

from .flowrun import AppletRequest, FlowRun, FlowStep
from .flows import Connect, Gather, Greeting, Hangup, Passthru
from .models import CallbackAttempt, Fault, RecordedRequest
from .receiver import CallbackReceiver, ReceivedCallback
from .server import ExotelSimulator
from .transport import PortInUseError

__all__ = [
    "AppletRequest",
    "CallbackAttempt",
    "CallbackReceiver",
    "Connect",
    "ExotelSimulator",
    "Fault",
    "FlowRun",
    "FlowStep",
    "Gather",
    "Greeting",
    "Hangup",
    "Passthru",
    "PortInUseError",
    "ReceivedCallback",
    "RecordedRequest",
]
