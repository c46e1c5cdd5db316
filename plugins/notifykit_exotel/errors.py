"""Errors raised by :class:`~notifykit_exotel.ExotelClient`: one tree under :class:`ExotelError`.

Each error carries the HTTP status, Exotel's numeric ``code`` and ``message`` when the API gave them,
and never the API token. The names of the PHP seed library's exceptions (``ExotelException``,
``RateLimitExceededException``, ``InsufficientParametersException``) are kept as aliases so ported
code reads the same.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DndBlockedError",
    "ExotelConnectionError",
    "ExotelError",
    "ExotelException",
    "ExotelTimeoutError",
    "InsufficientParametersError",
    "InsufficientParametersException",
    "KycRequiredError",
    "NotFoundError",
    "PartialSendError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "RateLimitExceededException",
    "ServerError",
    "ValidationError",
    "error_for_response",
    "parse_error_body",
]

MAYBE_SENT_HINT = (
    "The request may or may not have been processed by Exotel: check call_details()/sms_details() "
    "or wait for the status callback before sending again, or the recipient may get it twice."
)


class ExotelError(Exception):
    """Base class of every error raised by the Exotel client.

    Attributes:
        status: the HTTP status code, or ``None`` when no response was received.
        code: Exotel's numeric error code (``RestException.Code``), when given.
        message: Exotel's message, or a description of what went wrong.
        body: the start of the raw response body (for diagnosis; never holds credentials).
        method, url: the request concerned (the URL never carries credentials).
        maybe_sent: ``True`` when a POST may have been processed although it failed, so that
            blindly retrying could send an SMS or place a call twice.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        body: str | None = None,
        method: str | None = None,
        url: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.method = method
        self.url = url
        self.maybe_sent = maybe_sent
        super().__init__(message)

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        head = f"[{', '.join(parts)}] " if parts else ""
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        tail = f" {MAYBE_SENT_HINT}" if self.maybe_sent else ""
        return f"{head}{self.message}{where}{tail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class InsufficientParametersError(ExotelError, ValueError):
    """A mandatory parameter is missing or a parameter is invalid. Raised before any HTTP request."""


class ValidationError(ExotelError):
    """Exotel rejected the request as malformed (HTTP 400), e.g. "CallerId is not a valid ExoPhone"."""


class AuthenticationError(ExotelError):
    """HTTP 401: the API key/token pair is wrong, or the account SID or region does not match."""


class PaymentRequiredError(ExotelError):
    """HTTP 402: the feature is not on the account's plan, or usage limits are exceeded."""


class PermissionDeniedError(ExotelError):
    """HTTP 403: valid credentials but the action is refused (account state, KYC, DND/NDNC rules)."""


class KycRequiredError(PermissionDeniedError):
    """HTTP 403: the account is not KYC compliant (code 340030), which TRAI requires for SMS and calls."""


class DndBlockedError(PermissionDeniedError):
    """HTTP 403: the destination is on India's DND/NDNC registry and the message type may not reach it."""


class NotFoundError(ExotelError):
    """HTTP 404, or SMS details' HTTP 200 "No matching results": the resource does not exist."""


class ConflictError(ExotelError):
    """HTTP 409: the same resource was updated concurrently."""


class RateLimitExceededError(ExotelError):
    """HTTP 429 (too many requests), or the SMS platform's 503 throttle.

    ``retry_after`` holds the seconds to wait from a ``Retry-After`` header, when Exotel sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerError(ExotelError):
    """HTTP 5xx: a fault on Exotel's side (or a gateway in front of it)."""


class ExotelConnectionError(ExotelError):
    """No HTTP response: the connection was refused, reset or dropped."""


class ExotelTimeoutError(ExotelConnectionError):
    """The request timed out (connect or read)."""


class PartialSendError(ExotelError):
    """A bulk send failed part-way: earlier chunks were sent, a later one failed.

    ``result`` is the :class:`~notifykit_exotel.models.BulkSmsResult` of what *was* accepted, ``unsent``
    the recipients of the failed and remaining chunks; ``__cause__`` is the error that stopped it.
    """

    def __init__(self, message: str, *, result: Any, unsent: list[str], **kwargs: Any) -> None:
        self.result = result
        self.unsent = unsent
        super().__init__(message, **kwargs)


# The PHP seed's names, so ported code reads the same.
ExotelException = ExotelError
RateLimitExceededException = RateLimitExceededError
InsufficientParametersException = InsufficientParametersError

_STATUS_ERRORS: dict[int, type[ExotelError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitExceededError,
}

_KYC_CODES = {340030}
_DND_CODES = {23005}
_SMS_THROTTLE_CODES = {40405}
_MAX_BODY = 500


def parse_error_body(text: str) -> tuple[str | None, int | None]:
    """Extract ``(message, code)`` from an Exotel error body in JSON, XML or anything else.

    Never raises: a body that is neither JSON nor XML (an HTML page from a proxy) gives
    ``(None, None)`` and the caller falls back to the HTTP status.
    """
    stripped = text.strip()
    if not stripped:
        return None, None
    if stripped[0] in "{[":
        try:
            data = json.loads(stripped)
        except ValueError:
            return None, None
        if isinstance(data, Mapping):
            exc = data.get("RestException", data)
            if isinstance(exc, Mapping):
                message = exc.get("Message")
                return (str(message) if message is not None else None), _as_code(exc.get("Code"))
        return None, None
    if stripped.startswith("<") and "RestException" in stripped:
        try:
            root = ET.fromstring(stripped)
        except ET.ParseError:
            return None, None
        node = root if root.tag == "RestException" else root.find(".//RestException")
        if node is not None:
            return node.findtext("Message"), _as_code(node.findtext("Code"))
    return None, None


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _MAX_BODY else text[:_MAX_BODY] + "…"


def error_for_response(
    status: int,
    text: str,
    *,
    method: str,
    url: str,
    retry_after: float | None = None,
) -> ExotelError:
    """Build the right :class:`ExotelError` subclass for an HTTP error response."""
    message, code = parse_error_body(text)
    if message is None:
        message = f"Exotel answered HTTP {status} with a body that is not an Exotel error"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": _short(text),
        "method": method,
        "url": url,
    }
    # Exotel's SMS platform answers its throttle with 503, not 429 (reference section 7).
    sms_throttle = status == 503 and ("/sms/" in url.lower() or code in _SMS_THROTTLE_CODES)
    if status == 429 or sms_throttle:
        return RateLimitExceededError(message, retry_after=retry_after, **kwargs)
    if status == 403:
        lowered = message.lower()
        if code in _KYC_CODES or "kyc" in lowered:
            return KycRequiredError(message, **kwargs)
        if code in _DND_CODES or "dnd" in lowered or "ndnc" in lowered:
            return DndBlockedError(message, **kwargs)
    if status >= 500:
        # A 503 is a rejection before processing; any other 5xx after a POST may have gone out.
        maybe_sent = method.upper() == "POST" and status != 503
        return ServerError(message, maybe_sent=maybe_sent, **kwargs)
    cls = _STATUS_ERRORS.get(status, ExotelError)
    return cls(message, **kwargs)
