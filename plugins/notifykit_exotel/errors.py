"""Errors raised by :class:`~notifykit_exotel.ExotelClient`: one tree under :class:`ExotelError`.

Each error carries the HTTP status, Exotel's numeric ``code`` and ``message`` when the API gave them,
and never the API token. The names of the PHP seed library's exceptions (``ExotelException``,
``RateLimitExceededException``, ``InsufficientParametersException``) are kept as aliases so ported
code reads the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from notifykit.http import ScrubbedCause as ScrubbedCause

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DndBlockedError",
    "ExotelConnectionError",
    "ExotelError",
    "ExotelException",
    "ExotelTimeoutError",
    "FailureClass",
    "InsufficientParametersError",
    "InsufficientParametersException",
    "KycRequiredError",
    "LimiterUnavailableError",
    "NotFoundError",
    "PartialSendError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitExceededError",
    "RateLimitExceededException",
    "ScrubbedCause",
    "SendStoppedError",
    "ServerError",
    "ValidationError",
    "error_for_response",
    "parse_error_body",
]

#: How a failed request should be treated by a retry policy; see :attr:`ExotelError.failure_class`.
FailureClass = Literal["transient", "permanent", "ambiguous"]

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
        retry_after: seconds to wait from a ``Retry-After`` header, when the answer had one.

    :attr:`failure_class` sorts every error into what a retry policy may do with it.

    Errors pickle with all their attributes (for process pools and task queues); ``__cause__``
    is not pickled, as for every Python exception.
    """

    #: Appended to ``str()``: what to check when this error is a configuration mistake.
    hint: str | None = None

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
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.body = body
        self.method = method
        self.url = url
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default pickling calls ``cls(*args)``, which fails for subclasses with
        # required keyword arguments (PartialSendError) and loses those given by keyword.
        # Rebuild without __init__ and restore every attribute instead.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    @property
    def failure_class(self) -> FailureClass:
        """What a retry policy may do with this error, from ``maybe_sent``, ``status`` and the class.

        ==============  ===========================================================================
        ``ambiguous``   ``maybe_sent`` is true: a POST that may have reached Exotel (a read
                        timeout, a connection dropped after sending, a 5xx other than 503, a
                        redirect answer, a 2xx body that cannot be read). Never resend blindly:
                        look the message up, or wait for its status callback.
        ``transient``   Certainly not processed, worth retrying later: a refused connection or a
                        connect timeout (:class:`ExotelConnectionError` without ``maybe_sent``),
                        429 and the SMS 503 throttle (:class:`RateLimitExceededError`; wait
                        ``retry_after`` when given), any other 503 (rejected before processing),
                        408, :class:`SendStoppedError` (refused before sending), and any failed
                        GET that a retry may cure (5xx, timeouts, a 2xx body that cannot be read).
        ``permanent``   Exotel rejected it, or it was never valid: every other 4xx (400
                        validation and DLT rejections, 401 auth, 402, 403 KYC/DND/NDNC, 404, 409),
                        :class:`InsufficientParametersError` (raised before any request), a
                        redirect a GET may not follow, and protocol violations with no status.
        ==============  ===========================================================================
        """
        if self.maybe_sent:
            return "ambiguous"
        if isinstance(self, (RateLimitExceededError, ExotelConnectionError, SendStoppedError)):
            return "transient"
        status = self.status
        if status is None or isinstance(self, InsufficientParametersError):
            return "permanent"
        if status >= 500 or status == 408:
            return "transient"
        if 200 <= status < 300 and not isinstance(self, NotFoundError):
            return "transient"  # a GET whose answer could not be read; reading again is safe
        return "permanent"

    @property
    def account_refused(self) -> bool:
        """Whether Exotel refused the *account*, not the recipient nor the message: a permanent
        failure that would refuse every recipient alike until the account is fixed, and that
        another provider's account does not share, so a channel's ``fallback`` takes the
        message (``DeliveryResult.failed(account=True)``, docs/failover.md).

        ============================================  =========================================
        Account-side (``True``)                       Not (``False``)
        ============================================  =========================================
        401, any code (34010: bad key/token); 400     DND/NDNC (:class:`DndBlockedError`: the
        code 34001 (a malformed key/token)            recipient's registry entry)
        402 (not on the plan, usage limits exceeded)  any other 400: the number, the body, DLT,
                                                      the sender header (DLT headers are
                                                      national: a fallback's would be refused
                                                      alike)
        403 KYC (:class:`KycRequiredError`)           a 403 with neither a code nor words
                                                      listed here (Exotel's 403 also covers the
                                                      recipient: DND, an opted-out number)
        403 codes 40000 (trial), 40001 (balance),     404, 409, and every transient or
        40002 (inactive), 40003 (country not          ambiguous error (those fall over by
        enabled), 34009 (action forbidden)            their own rule, or never)
        403 whose message names the account, its
        balance, credit, validity, a suspension
        400 "CallerId is not a valid ExoPhone": the
        caller id is not a number of this account
        ============================================  =========================================

        The 403 codes are from Exotel's newer docs (reference section 7: "plausible", only
        340030 observed); Exotel says to rely on the status, not the message, but the status
        alone cannot tell the account from the recipient, so an unrecognised 403 stays ``False``.
        """
        status, code = self.status, self.code
        if status is None or isinstance(self, DndBlockedError):
            return False  # no answer (or raised before any request), or the recipient's DND
        if self.failure_class != "permanent":
            return False  # transient or ambiguous: their own rules decide
        if status in (401, 402) or code in _AUTH_CODES or isinstance(self, KycRequiredError):
            return True
        message = self.message if isinstance(self.message, str) else ""
        if status == 403:
            return code in _ACCOUNT_CODES or _ACCOUNT_WORDS.search(message) is not None
        return status == 400 and _NOT_AN_EXOPHONE.search(message) is not None

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        head = f"[{', '.join(parts)}] " if parts else ""
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        hint = f" {self.hint}" if self.hint else ""
        tail = f" {MAYBE_SENT_HINT}" if self.maybe_sent else ""
        return f"{head}{self.message}{where}{hint}{tail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class InsufficientParametersError(ExotelError, ValueError):
    """A mandatory parameter is missing or a parameter is invalid. Raised before any HTTP request."""


class ValidationError(ExotelError):
    """Exotel rejected the request as malformed (HTTP 400), e.g. "CallerId is not a valid ExoPhone"."""


class AuthenticationError(ExotelError):
    """HTTP 401: the API key/token pair is wrong, or the account SID or region does not match."""

    hint = (
        "Check sid, api_key and api_token (Exotel dashboard > API settings) and the region: "
        "'singapore' (api.exotel.com) or 'mumbai' (api.in.exotel.com), as the account was created."
    )


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


class ServerError(ExotelError):
    """HTTP 5xx: a fault on Exotel's side (or a gateway in front of it)."""


class ExotelConnectionError(ExotelError):
    """No HTTP response: the connection was refused, reset or dropped."""


class ExotelTimeoutError(ExotelConnectionError):
    """The request timed out (connect or read)."""


class SendStoppedError(ExotelError):
    """The client's ``before_request`` check refused the request: it was never sent (the
    application is stopping: Ctrl-C, SIGTERM). A *transient* failure: sending later is safe."""


class LimiterUnavailableError(ExotelConnectionError):
    """The client's rate limiter could not grant a slot, so no request went out: a limiter
    shared in a store (:class:`~notifykit_exotel.retry.SharedLimiter`) that refused or could not
    be reached. Transient, and a failure on the sender's side: neither Exotel nor the recipient
    had any part in it."""


class PartialSendError(ExotelError):
    """A bulk send failed part-way: earlier chunks were sent, a later one failed.

    ``result`` is the :class:`~notifykit_exotel.models.BulkSmsResult` of what *was* accepted, ``unsent``
    the recipients of the failed and remaining chunks; ``__cause__`` is the error that stopped it.
    """

    def __init__(self, message: str, *, result: Any, unsent: list[str], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.result = result
        self.unsent = unsent


def _rebuild(cls: type[ExotelError], args: tuple[Any, ...], state: dict[str, Any]) -> ExotelError:
    """Unpickle an :class:`ExotelError` without calling its ``__init__`` (see ``__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


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
#: the credentials refused: 401 34010 (bad key/token), 400 34001 (non-alphanumeric key/token)
_AUTH_CODES = {34010, 34001}
#: 403 for the account's state (reference section 7): 40000 trial, 40001 balance, 40002
#: inactive, 40003 country not enabled, 34009 SID missing or action forbidden, 340030 KYC
_ACCOUNT_CODES = {40000, 40001, 40002, 40003, 34009, *_KYC_CODES}
#: a 403 without a code whose words are about the account (Exotel's example messages:
#: "Account is not active", "Insufficient balance to send the SMS", "Account validity has expired")
_ACCOUNT_WORDS = re.compile(
    r"(?i)\baccount\b|\bbalance\b|\bcredits?\b|\bvalidity\b|suspend|\binactive\b"
)
_NOT_AN_EXOPHONE = re.compile(r"(?i)not a valid exophone")
_SMS_THROTTLE_CODES = {40405}
_MAX_BODY = 500


def parse_error_body(text: str) -> tuple[str | None, int | None]:
    """Extract ``(message, code)`` from an Exotel error body in JSON, XML or anything else.

    Never raises: a body that is neither JSON nor XML (an HTML page from a proxy), JSON nested
    too deep to parse, an XML bomb or fields of the wrong type give ``(None, None)`` (or what
    could be read) and the caller falls back to the HTTP status.
    """
    try:
        return _parse_error_body(text)
    except Exception:  # a body from the network must never turn into a crash of its own
        return None, None


def _parse_error_body(text: str) -> tuple[str | None, int | None]:
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        return None, None
    if stripped[0] in "{[":
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            return None, None
        if isinstance(data, Mapping):
            exc = data.get("RestException", data)
            if isinstance(exc, Mapping):
                return _as_message(exc.get("Message")), _as_code(exc.get("Code"))
        return None, None
    if stripped.startswith("<") and "RestException" in stripped:
        # defusedxml, not xml.etree: error bodies come from the network, and the stdlib parser
        # expands entities (a "billion laughs" body from a hostile proxy would eat memory before
        # we see a code). Imported here: an XML error body is rare, and the import (expat, the
        # ElementTree modules) costs ~5 ms of every process that builds a client.
        import defusedxml.ElementTree as SafeET

        try:
            root = SafeET.fromstring(stripped)
        except (SafeET.ParseError, ValueError, RecursionError):  # defusedxml's are ValueErrors
            return None, None
        node = root if root.tag == "RestException" else root.find(".//RestException")
        if node is not None:
            return _as_message(node.findtext("Message")), _as_code(node.findtext("Code"))
    return None, None


def _as_message(value: Any) -> str | None:
    # Only text or a number is a message: str() of a nested object could be huge or recurse.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    # ASCII digits only and a sane length: "²" is a digit int() refuses, and int() of a
    # 5,000-digit string raises ValueError (Python's integer string conversion limit).
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()) if len(value.strip()) <= 18 else None
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
    """Build the right :class:`ExotelError` subclass for an HTTP error response. Never raises."""
    message, code = parse_error_body(text)
    if message is None:
        message = f"Exotel answered HTTP {status} with a body that is not an Exotel error"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": _short(text),
        "method": method,
        "url": url,
        "retry_after": retry_after,
    }
    # Exotel's SMS platform answers its throttle with 503, not 429 (reference section 7).
    sms_throttle = status == 503 and ("/sms/" in url.lower() or code in _SMS_THROTTLE_CODES)
    if status == 429 or sms_throttle:
        return RateLimitExceededError(message, **kwargs)
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


def __getattr__(name: str) -> Any:
    # ScrubbedCause is notifykit.http's, re-exported on first use: a client that only checks
    # its arguments (a dry run) does not import the HTTP layer.
    if name == "ScrubbedCause":
        from notifykit.http import ScrubbedCause

        return ScrubbedCause
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
