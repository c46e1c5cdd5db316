"""Typed, immutable results of Exotel API calls.

Every result is a frozen dataclass with snake_case attributes (IST-aware datetimes, ``Decimal``
prices, ``int`` durations, status enums that tolerate values they do not know) *and* read-only
mapping access to Exotel's own keys (``call["Sid"]``, ``sms["Status"]``), so code written against
the PHP seed's associative arrays still reads naturally. ``raw`` keeps the payload as received.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .errors import ExotelError

__all__ = [
    "IST",
    "BulkItemError",
    "BulkSmsResult",
    "Call",
    "CallDetails",
    "CallLeg",
    "CallStatus",
    "Direction",
    "ExoPhone",
    "ExotelObject",
    "NumberInfo",
    "SmsMessage",
    "SmsStatus",
    "WhitelistStatus",
    "parse_exophones",
]

IST = timezone(timedelta(hours=5, minutes=30), "IST")

_E = TypeVar("_E", bound="_TolerantEnum")
_O = TypeVar("_O", bound="ExotelObject")


class _TolerantEnum(str, enum.Enum):
    """A string enum that accepts values it does not know instead of raising.

    Exotel adds statuses over time and spells some differently across pages (``cancelled``,
    ``failed-dnd``); an unknown value becomes a pseudo-member whose ``name`` is ``"UNKNOWN"``
    and whose ``value`` is the string received, so parsing never crashes and nothing is lost.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        wanted = _normalise_enum_text(value)
        for member in cls:
            if _normalise_enum_text(member.value) == wanted:
                return member
        alias = cls._aliases().get(wanted)
        if alias is not None:
            return cls(alias)
        pseudo = str.__new__(cls, value)
        pseudo._name_ = "UNKNOWN"
        pseudo._value_ = value
        return pseudo

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {}

    @property
    def is_known(self) -> bool:
        """``False`` for a value this version of the client has never heard of."""
        return self._name_ != "UNKNOWN"

    def __str__(self) -> str:
        return str(self.value)


def _normalise_enum_text(text: str) -> str:
    return text.strip().lower().replace("_", "-").replace(" ", "-")


class CallStatus(_TolerantEnum):
    """Status of a call or of one of its legs (reference section 4.1)."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @classmethod
    def _aliases(cls) -> dict[str, str]:
        return {"cancelled": "canceled", "inprogress": "in-progress", "noanswer": "no-answer"}

    @property
    def is_terminal(self) -> bool:
        """``True`` once the call has ended (successfully or not)."""
        return self in _TERMINAL_CALL


_TERMINAL_CALL = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.FAILED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
)


class SmsStatus(_TolerantEnum):
    """Status of an SMS (reference section 5.5). ``sent`` means delivered."""

    QUEUED = "queued"
    SENDING = "sending"
    SUBMITTED = "submitted"
    SENT = "sent"
    FAILED_DND = "failed_dnd"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """``True`` for ``sent``, ``failed`` and ``failed_dnd``."""
        return self in (SmsStatus.SENT, SmsStatus.FAILED, SmsStatus.FAILED_DND)

    @property
    def is_failure(self) -> bool:
        return self in (SmsStatus.FAILED, SmsStatus.FAILED_DND)


class Direction(_TolerantEnum):
    """Direction of a call or SMS."""

    INBOUND = "inbound"
    OUTBOUND_DIAL = "outbound-dial"
    OUTBOUND_API = "outbound-api"


# -- lenient field parsers -------------------------------------------------------------------
# Every parser takes whatever JSON or a form gave (a string, a number, a list, a nested object) and
# returns its type or None; none raises. A list or object where a scalar belongs gives None, never
# str() of it: str() of a 2,000-deep list raises RecursionError.

_SCALARS = (str, int, float)


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, _SCALARS):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def parse_datetime(value: Any) -> datetime | None:
    """Parse Exotel's ``YYYY-MM-DD HH:MM:SS`` (IST, no zone) or an ISO 8601 string with a zone."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=IST)
    if not isinstance(value, str):
        return None
    return _parse_datetime_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_datetime_text(value: str) -> datetime | None:
    # Cached: the messages of one bulk answer carry the same few timestamps (datetimes are
    # immutable, so handing out one object is safe).
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=IST)


# Plain decimal notation only: callbacks are untrusted input, and an exponent such as "1e999999999"
# would make int() build a number with a billion digits (a parser that hangs for minutes).
_PLAIN_NUMBER = re.compile(r"[+-]?\d{1,30}(?:\.\d{0,30})?")


def parse_int(value: Any) -> int | None:
    """Parse ``17``, ``"17"`` or ``"17.0"``; anything else (``null``, ``""``, ``"1e3"``,
    ``"Infinity"``, a non-finite float) gives ``None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    return int(Decimal(text))


def parse_decimal(value: Any) -> Decimal | None:
    """Parse a price such as ``"1.500"`` exactly (never through a float); ``NaN`` and
    ``Infinity`` give ``None``."""
    if value is None:
        return None
    text = _scalar_text(value)
    if text is None or not text.strip() or len(text) > 100:
        return None  # a price is short; Decimal("9" * 10**6) would be slow to compute with
    try:
        parsed = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return parsed if parsed.is_finite() else None


def parse_str(value: Any) -> str | None:
    """A string field: text, or a number as text; ``""``, lists and objects give ``None``."""
    if type(value) is str:  # nearly every field: skip the checks for numbers
        return value or None
    text = _scalar_text(value)
    return text if text else None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _scalar_text(value)
    if text is None:
        return None
    text = text.strip().lower()
    if text in ("yes", "true", "1", "y"):
        return True
    if text in ("no", "false", "0", "n"):
        return False
    return None


def _enum(cls: type[_E], value: Any) -> _E | None:
    if value is None:
        return None
    # A known value is a dict lookup; calling the enum class costs ~2 µs even then.
    member = cls._value2member_map_.get(value) if isinstance(value, str) else None
    if member is not None:
        return member  # type: ignore[return-value]
    text = _scalar_text(value)
    if not text:
        return None
    return cls(text)


def _built(cls: type[_O], fields: dict[str, Any]) -> _O:
    """``cls(**fields)`` for a frozen result class, with every field given: the generated
    ``__init__`` of a frozen dataclass sets each field through ``object.__setattr__``, which is
    most of the cost of building an ``SmsMessage`` (17 fields, 10,000 per broadcast)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list field (``Legs``); one object counts as a list of one, and anything
    else (a number, a bool, a string) as none."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, Mapping)]
    return []


# -- result objects -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExotelObject(Mapping[str, Any]):
    """Base of every result: typed attributes plus read-only mapping access to the raw payload."""

    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, kw_only=True)
class CallLeg(ExotelObject):
    """One leg of a call: 1 dials ``From``, 2 dials ``To``."""

    id: int | None = None
    status: CallStatus | None = None
    on_call_duration: int | None = None
    answered_by: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CallLeg:
        inner = data.get("Leg", data)
        if not isinstance(inner, Mapping):
            inner = {}
        return cls(
            raw=data,
            id=parse_int(inner.get("Id")),
            status=_enum(CallStatus, inner.get("Status")),
            on_call_duration=parse_int(inner.get("OnCallDuration")),
            answered_by=parse_str(inner.get("AnsweredBy")),
        )


@dataclass(frozen=True, kw_only=True)
class CallDetails(ExotelObject):
    """The ``Details`` block returned by ``call_details(sid, details=True)``."""

    conversation_duration: int | None = None
    leg1_status: CallStatus | None = None
    leg2_status: CallStatus | None = None
    legs: tuple[CallLeg, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CallDetails:
        return cls(
            raw=data,
            conversation_duration=parse_int(data.get("ConversationDuration")),
            leg1_status=_enum(CallStatus, data.get("Leg1Status")),
            leg2_status=_enum(CallStatus, data.get("Leg2Status")),
            legs=tuple(CallLeg.from_api(leg) for leg in _mappings(data.get("Legs"))),
        )


@dataclass(frozen=True, kw_only=True)
class Call(ExotelObject):
    """A call, as returned by ``call_number``, ``call_flow``, ``call_details`` and ``list_calls``.

    Numbers are as Exotel echoes them (often ``0``-prefixed national form): compare numbers with
    :func:`notifykit_exotel.wire.same_number`, never as raw strings.
    """

    sid: str
    status: CallStatus | None = None
    to: str | None = None
    from_: str | None = None
    phone_number_sid: str | None = None
    account_sid: str | None = None
    parent_call_sid: str | None = None
    direction: Direction | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    price: Decimal | None = None
    answered_by: str | None = None
    forwarded_from: str | None = None
    caller_name: str | None = None
    recording_url: str | None = None
    presigned_recording_url: str | None = None
    call_type: str | None = None
    uri: str | None = None
    details: CallDetails | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Call:
        """Build from a ``Call`` object (the inner one, or ``{"Call": {...}}``)."""
        inner = data.get("Call", data)
        if not isinstance(inner, Mapping):
            inner = {}
        details = inner.get("Details")
        return cls(
            raw=inner,
            sid=parse_str(inner.get("Sid")) or "",
            status=_enum(CallStatus, inner.get("Status")),
            to=parse_str(inner.get("To")),
            from_=parse_str(inner.get("From")),
            phone_number_sid=parse_str(inner.get("PhoneNumberSid")),
            account_sid=parse_str(inner.get("AccountSid")),
            parent_call_sid=parse_str(inner.get("ParentCallSid")),
            direction=_enum(Direction, inner.get("Direction")),
            date_created=parse_datetime(inner.get("DateCreated")),
            date_updated=parse_datetime(inner.get("DateUpdated")),
            start_time=parse_datetime(inner.get("StartTime")),
            end_time=parse_datetime(inner.get("EndTime")),
            duration=parse_int(inner.get("Duration")),
            price=parse_decimal(inner.get("Price")),
            answered_by=parse_str(inner.get("AnsweredBy")),
            forwarded_from=parse_str(inner.get("ForwardedFrom")),
            caller_name=parse_str(inner.get("CallerName")),
            recording_url=parse_str(inner.get("RecordingUrl")),
            presigned_recording_url=parse_str(inner.get("PreSignedRecordingUrl")),
            call_type=parse_str(inner.get("CallType")),
            uri=parse_str(inner.get("Uri")),
            details=CallDetails.from_api(details) if isinstance(details, Mapping) else None,
        )


@dataclass(frozen=True, kw_only=True)
class SmsMessage(ExotelObject):
    """An SMS, as returned by ``send_sms``, the bulk sends and ``sms_details``."""

    sid: str
    status: SmsStatus | None = None
    to: str | None = None
    from_: str | None = None
    body: str | None = None
    detailed_status: str | None = None
    detailed_status_code: int | None = None
    account_sid: str | None = None
    direction: Direction | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    date_sent: datetime | None = None
    price: Decimal | None = None
    sms_units: int | None = None
    api_version: str | None = None
    uri: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SmsMessage:
        """Build from an ``SMSMessage`` object (the inner one, or ``{"SMSMessage": {...}}``)."""
        inner = data.get("SMSMessage", data)
        if not isinstance(inner, Mapping):
            inner = {}
        get = inner.get
        return _built(
            cls,
            {
                "raw": inner,
                "sid": parse_str(get("Sid")) or "",
                "status": _enum(SmsStatus, get("Status")),
                "to": parse_str(get("To")),
                "from_": parse_str(get("From")),
                "body": parse_str(get("Body")),
                "detailed_status": parse_str(get("DetailedStatus")),
                "detailed_status_code": parse_int(get("DetailedStatusCode")),
                "account_sid": parse_str(get("AccountSid")),
                "direction": _enum(Direction, get("Direction")),
                "date_created": parse_datetime(get("DateCreated")),
                "date_updated": parse_datetime(get("DateUpdated")),
                "date_sent": parse_datetime(get("DateSent")),
                "price": parse_decimal(get("Price")),
                "sms_units": parse_int(get("SmsUnits")),
                "api_version": parse_str(get("ApiVersion")),
                "uri": parse_str(get("Uri")),
            },
        )


@dataclass(frozen=True, kw_only=True)
class NumberInfo(ExotelObject):
    """Metadata of a phone number (``Numbers/<number>``): operator, circle and DND registration."""

    phone_number: str | None = None
    circle: str | None = None
    circle_name: str | None = None
    type: str | None = None
    operator: str | None = None
    operator_name: str | None = None
    dnd: bool | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NumberInfo:
        inner = data.get("Numbers", data)
        if not isinstance(inner, Mapping):
            inner = {}
        return cls(
            raw=inner,
            phone_number=parse_str(inner.get("PhoneNumber")),
            circle=parse_str(inner.get("Circle")),
            circle_name=parse_str(inner.get("CircleName")),
            type=parse_str(inner.get("Type")),
            operator=parse_str(inner.get("Operator")),
            operator_name=parse_str(inner.get("OperatorName")),
            dnd=parse_bool(inner.get("DND")),
        )


@dataclass(frozen=True, kw_only=True)
class ExoPhone(ExotelObject):
    """One of the account's ExoPhones (``IncomingPhoneNumbers``): its number and what it can do.

    ``voice`` and ``sms`` are ``None`` when Exotel did not say. The keys come from Exotel's
    newer portal (``phone_number``, ``capabilities: {voice, sms}``); the v1-style spelling
    (``PhoneNumber``, ``Capabilities: {Voice, SMS}``) is read too, as the wire shape of this
    beta endpoint is UNCONFIRMED.
    """

    sid: str | None = None
    phone_number: str | None = None
    friendly_name: str | None = None
    voice: bool | None = None
    sms: bool | None = None
    country: str | None = None
    region: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ExoPhone:
        caps = _first(data, "capabilities", "Capabilities")
        caps = caps if isinstance(caps, Mapping) else {}
        return cls(
            raw=data,
            sid=parse_str(_first(data, "sid", "Sid")),
            phone_number=parse_str(_first(data, "phone_number", "PhoneNumber")),
            friendly_name=parse_str(_first(data, "friendly_name", "FriendlyName")),
            voice=parse_bool(_first(caps, "voice", "Voice")),
            sms=parse_bool(_first(caps, "sms", "SMS", "Sms")),
            country=parse_str(_first(data, "country", "Country")),
            region=parse_str(_first(data, "region", "Region")),
        )


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def parse_exophones(data: Any) -> tuple[list[ExoPhone], str | None]:
    """One page of ``IncomingPhoneNumbers``: the ExoPhones, and the next page's URI when the
    answer names one. Accepts ``{"incoming_phone_numbers": [...]}`` (the newer portal's form),
    ``{"IncomingPhoneNumbers": [...]}``, a bare list, or one ExoPhone object. Raises
    :class:`ValueError` for anything else (the client reports it as an unreadable answer)."""
    items: Any = None
    next_uri: Any = None
    if isinstance(data, list):
        items = data
    elif isinstance(data, Mapping):
        items = _first(
            data, "incoming_phone_numbers", "IncomingPhoneNumbers", "IncomingPhoneNumber"
        )
        if items is None and _first(data, "phone_number", "PhoneNumber") is not None:
            items = [data]
        elif isinstance(items, Mapping):
            items = [items]
        meta = _first(data, "Metadata", "metadata")
        next_uri = _first(data, "next_page_uri", "NextPageUri") or (
            _first(meta, "next_page_uri", "NextPageUri") if isinstance(meta, Mapping) else None
        )
    if not isinstance(items, list):
        raise ValueError("no list of ExoPhones (incoming_phone_numbers) in the answer")
    phones = [ExoPhone.from_api(item) for item in items if isinstance(item, Mapping)]
    return phones, parse_str(next_uri)


@dataclass(frozen=True, kw_only=True)
class WhitelistStatus(ExotelObject):
    """Where a number stands on the account's customer whitelist (``CustomerWhitelist/<n>``).

    ``status``: ``Whitelist`` (calls may go to it although it is on India's DND/NDNC registry),
    ``Blacklist`` (the person opted out of your calls) or ``Neutral`` (not whitelisted: a
    number on the registry cannot be called). ``type`` says how it got there (``API``,
    ``Customer``: they called your ExoPhone, ``Agent``: a co-worker); ``expiry`` is the seconds
    left in that state, ``-1`` for never.
    """

    status: str | None = None
    type: str | None = None
    expiry: int | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> WhitelistStatus:
        inner = _first(data, "Result", "result")
        if not isinstance(inner, Mapping):
            inner = data
        return cls(
            raw=inner,
            status=parse_str(_first(inner, "Status", "status")),
            type=parse_str(_first(inner, "Type", "type")),
            expiry=parse_int(_first(inner, "Expiry", "expiry")),
        )

    @property
    def whitelisted(self) -> bool:
        return (self.status or "").strip().lower() == "whitelist"

    @property
    def blacklisted(self) -> bool:
        return (self.status or "").strip().lower() == "blacklist"


@dataclass(frozen=True)
class BulkItemError:
    """One recipient of a bulk send that Exotel refused, with the reason."""

    index: int
    to: str
    error: ExotelError


@dataclass(frozen=True)
class BulkSmsResult:
    """The outcome of ``send_bulk_sms`` / ``send_bulk_dynamic``.

    ``messages`` holds the accepted SMS in request order; ``errors`` the recipients refused one by
    one (an invalid number in a batch does not fail the batch). ``ok`` is ``True`` when none was refused.
    """

    messages: tuple[SmsMessage, ...] = ()
    errors: tuple[BulkItemError, ...] = ()
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def __iter__(self) -> Iterator[SmsMessage]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def merged(self, other: BulkSmsResult) -> BulkSmsResult:
        return BulkSmsResult(
            messages=self.messages + other.messages,
            errors=self.errors + other.errors,
            requests=self.requests + other.requests,
        )

    @property
    def sids(self) -> Sequence[str]:
        return [m.sid for m in self.messages]
