"""Exotel for notifykit: a complete v1 API client, a local simulator and the notifykit channels.

``from notifykit_exotel import ExotelClient`` gives the client, usable on its own (of ``notifykit``
it imports only the shared HTTP layer, :mod:`notifykit.http`); :mod:`notifykit_exotel.simulator`
is a local HTTP server that behaves like Exotel's API, for tests and demos;
:mod:`notifykit_exotel.plugin` registers the notifykit channels ``exotel-sms``, ``exotel-call``
and ``exotel-flow``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .callbacks import (
        CallbackLeg,
        CallStatusCallback,
        SmsStatusCallback,
        parse_call_callback,
        parse_sms_callback,
    )
    from .client import REGIONS, BulkMessage, ExotelClient
    from .errors import (
        AuthenticationError,
        ConflictError,
        DndBlockedError,
        ExotelConnectionError,
        ExotelError,
        ExotelException,
        ExotelTimeoutError,
        InsufficientParametersError,
        InsufficientParametersException,
        KycRequiredError,
        LimiterUnavailableError,
        NotFoundError,
        PartialSendError,
        PaymentRequiredError,
        PermissionDeniedError,
        RateLimitExceededError,
        RateLimitExceededException,
        SendStoppedError,
        ServerError,
        ValidationError,
    )
    from .models import (
        IST,
        BulkItemError,
        BulkSmsResult,
        Call,
        CallDetails,
        CallLeg,
        CallStatus,
        Direction,
        ExoPhone,
        NumberInfo,
        SmsMessage,
        SmsStatus,
        WhitelistStatus,
    )
    from .retry import RateLimiter, RetryPolicy
    from .wire import flow_url, normalize_number, same_number

__version__ = "0.1.0"

# Imported on first use, so loading the notifykit plugin entry point costs no HTTP stack.
_LAZY: dict[str, str] = {
    "CallbackLeg": "callbacks",
    "CallStatusCallback": "callbacks",
    "SmsStatusCallback": "callbacks",
    "parse_call_callback": "callbacks",
    "parse_sms_callback": "callbacks",
    "REGIONS": "client",
    "BulkMessage": "client",
    "ExotelClient": "client",
    "AuthenticationError": "errors",
    "ConflictError": "errors",
    "DndBlockedError": "errors",
    "ExotelConnectionError": "errors",
    "ExotelError": "errors",
    "ExotelException": "errors",
    "ExotelTimeoutError": "errors",
    "InsufficientParametersError": "errors",
    "InsufficientParametersException": "errors",
    "KycRequiredError": "errors",
    "LimiterUnavailableError": "errors",
    "NotFoundError": "errors",
    "PartialSendError": "errors",
    "PaymentRequiredError": "errors",
    "PermissionDeniedError": "errors",
    "RateLimitExceededError": "errors",
    "RateLimitExceededException": "errors",
    "SendStoppedError": "errors",
    "ServerError": "errors",
    "ValidationError": "errors",
    "IST": "models",
    "BulkItemError": "models",
    "BulkSmsResult": "models",
    "Call": "models",
    "CallDetails": "models",
    "CallLeg": "models",
    "CallStatus": "models",
    "Direction": "models",
    "ExoPhone": "models",
    "NumberInfo": "models",
    "SmsMessage": "models",
    "SmsStatus": "models",
    "WhitelistStatus": "models",
    "RateLimiter": "retry",
    "RetryPolicy": "retry",
    "flow_url": "wire",
    "normalize_number": "wire",
    "same_number": "wire",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "IST",
    "REGIONS",
    "AuthenticationError",
    "BulkItemError",
    "BulkMessage",
    "BulkSmsResult",
    "Call",
    "CallDetails",
    "CallLeg",
    "CallStatus",
    "CallStatusCallback",
    "CallbackLeg",
    "ConflictError",
    "Direction",
    "DndBlockedError",
    "ExoPhone",
    "ExotelClient",
    "ExotelConnectionError",
    "ExotelError",
    "ExotelException",
    "ExotelTimeoutError",
    "InsufficientParametersError",
    "InsufficientParametersException",
    "KycRequiredError",
    "LimiterUnavailableError",
    "NotFoundError",
    "NumberInfo",
    "PartialSendError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "RateLimitExceededException",
    "RateLimiter",
    "RetryPolicy",
    "SendStoppedError",
    "ServerError",
    "SmsMessage",
    "SmsStatus",
    "SmsStatusCallback",
    "ValidationError",
    "WhitelistStatus",
    "flow_url",
    "normalize_number",
    "parse_call_callback",
    "parse_sms_callback",
    "same_number",
]
