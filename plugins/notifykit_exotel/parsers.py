"""What each :class:`~notifykit_exotel.ExotelClient` verb makes of Exotel's 2xx answer.

A parser takes the decoded JSON of one answer and returns the verb's typed result, or raises an
:class:`~notifykit_exotel.errors.ExotelError` when the body does not hold one (a send answered
without a Sid, a lookup answered "No matching results"). Parsers never see HTTP: the request
layer (:mod:`._request`) adds the status, the request and the start of the body to what they
raise, and turns anything else they raise into an unreadable-answer error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import ExotelError, NotFoundError, error_for_response
from .models import (
    BulkItemError,
    Call,
    ExoPhone,
    NumberInfo,
    SmsMessage,
    WhitelistStatus,
    parse_exophones,
    parse_str,
)

__all__ = [
    "bulk_items",
    "calls_page",
    "first_sms",
    "found_call",
    "found_sms",
    "message_of",
    "number_info",
    "sent_call",
    "sent_sms",
]

#: How much of a bulk item's JSON a per-item error keeps as its body.
BODY_SHOWN = 500


def sent_sms(data: Any) -> SmsMessage:
    """``POST Sms/send`` for one number: the message Exotel accepted."""
    message = first_sms(data)
    if message is None:
        raise ExotelError(
            "Exotel accepted the SMS request but returned no SMSMessage Sid", maybe_sent=True
        )
    return message


def sent_call(data: Any) -> Call:
    """``POST Calls/connect``: the call Exotel placed."""
    inner = data.get("Call") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping) or not parse_str(inner.get("Sid")):
        raise ExotelError(
            "Exotel accepted the call request but returned no Call Sid", maybe_sent=True
        )
    return Call.from_api(inner)


def found_call(sid: str, data: Any) -> Call:
    """``GET Calls/<sid>``: the call, or :class:`NotFoundError` naming ``sid``."""
    inner = data.get("Call") if isinstance(data, Mapping) else None
    if not isinstance(inner, Mapping):
        raise NotFoundError(f"no call with Sid {sid!r}")
    return Call.from_api(inner)


def found_sms(sid: str, data: Any) -> SmsMessage:
    """``GET SMS/Messages/<sid>``: the message, or :class:`NotFoundError` for Exotel's HTTP 200
    "No matching results"."""
    message = first_sms(data)
    if message is None:
        raise NotFoundError(
            f"no SMS with Sid {sid!r} (Exotel: {message_of(data) or 'No matching results'})"
        )
    return message


def number_info(data: Any) -> NumberInfo:
    """``GET Numbers/<number>``: whatever Exotel knows of the number (an odd body knows nothing)."""
    return NumberInfo.from_api(data if isinstance(data, Mapping) else {})


def whitelist_status(data: Any) -> WhitelistStatus:
    """``GET CustomerWhitelist/<number>``: where the number stands on the account's whitelist."""
    return WhitelistStatus.from_api(data if isinstance(data, Mapping) else {})


def exophones_page(data: Any) -> tuple[list[ExoPhone], str | None]:
    """One page of ``IncomingPhoneNumbers``: the ExoPhones and the next page's URI
    (:func:`~notifykit_exotel.models.parse_exophones` reads the answer's shapes)."""
    return parse_exophones(data)


def calls_page(data: Any) -> tuple[list[Call], str | None]:
    """One page of ``GET Calls``: its calls and the next page's URI."""
    calls = data.get("Calls") if isinstance(data, Mapping) else None
    items = (
        [Call.from_api(c) for c in calls if isinstance(c, Mapping)]
        if isinstance(calls, list)
        else []
    )
    meta = data.get("Metadata") if isinstance(data, Mapping) else None
    next_uri = meta.get("NextPageUri") if isinstance(meta, Mapping) else None
    return items, next_uri if isinstance(next_uri, str) and next_uri else None


def first_sms(data: Any) -> SmsMessage | None:
    """The one ``SMSMessage`` of an answer (an object, or a list of exactly one), if it has a Sid."""
    if isinstance(data, list):
        data = data[0] if len(data) == 1 else None
    inner = data.get("SMSMessage") if isinstance(data, Mapping) else None
    if isinstance(inner, Mapping) and parse_str(inner.get("Sid")):
        return SmsMessage.from_api(inner)
    return None


def message_of(data: Any) -> str | None:
    """Exotel's own words in an answer (``Message``, or ``RestException.Message``), if any."""
    if isinstance(data, Mapping):
        for key in ("Message", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])
        exc = data.get("RestException")
        if isinstance(exc, Mapping) and isinstance(exc.get("Message"), str):
            return str(exc["Message"])
    return None


def bulk_items(recipients: list[str], data: Any) -> tuple[list[SmsMessage], list[BulkItemError]]:
    """Split a bulk response into accepted messages and per-recipient refusals.

    The response shape is UNCONFIRMED (reference 5.2): a top-level array of ``{"SMSMessage": ...}``
    or ``{"RestException": ...}`` items in request order is expected; a single object (one
    recipient) and ``{"SMSMessage": [...]}`` are accepted too.
    """
    if isinstance(data, Mapping):
        inner = data.get("SMSMessage")
        data = [{"SMSMessage": m} for m in inner] if isinstance(inner, list) else [data]
    if not isinstance(data, list):
        raise ExotelError("Exotel's bulk SMS response is not a list", maybe_sent=True)
    messages: list[SmsMessage] = []
    errors: list[BulkItemError] = []
    for position, item in enumerate(data):
        if not isinstance(item, Mapping):
            continue
        sms = item.get("SMSMessage")
        if isinstance(sms, Mapping) and parse_str(sms.get("Sid")):
            message = SmsMessage.from_api(sms)
            messages.append(message)
            continue
        exc = item.get("RestException", item)
        status = exc.get("Status") if isinstance(exc, Mapping) else None
        if isinstance(status, str) and status.isascii() and status.isdigit() and len(status) == 3:
            status = int(status)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
            status = 400  # a refusal without a usable status is still a refusal of this item
        err = error_for_response(status, _dumps(item), method="POST", url="bulk item")
        to = recipients[position] if position < len(recipients) else "?"
        errors.append(BulkItemError(position, to, err))
    return messages, errors


def _dumps(data: Any) -> str:
    """JSON text of parsed data for an error's body; never raises (it may nest too deep)."""
    try:
        return json.dumps(data)[:BODY_SHOWN]
    except (ValueError, TypeError, RecursionError):
        return ""
