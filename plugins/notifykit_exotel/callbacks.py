"""Parsers for the status callbacks Exotel POSTs to your ``StatusCallback`` URL.

Exotel sends call callbacks as ``multipart/form-data`` by default, as JSON when the call asked for
``StatusCallbackContentType=application/json``, and some integrations see
``application/x-www-form-urlencoded``; SMS callbacks are urlencoded (JSON is possible). In form
bodies, lists arrive flattened (``Legs[0][Status]``, ``Legs[1][OnCallDuration]``): the parsers
accept all three encodings, rebuild the nested structure, and return typed objects.

Callbacks can arrive late, twice or out of order: use :attr:`CallStatusCallback.dedup_key` to
process each event once, and fall back to ``call_details``/``sms_details`` when one never comes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from .errors import InsufficientParametersError
from .models import (
    CallStatus,
    Direction,
    ExotelObject,
    SmsStatus,
    _enum,
    parse_datetime,
    parse_int,
    parse_str,
)

__all__ = [
    "CallStatusCallback",
    "CallbackLeg",
    "SmsStatusCallback",
    "decode_callback_body",
    "parse_call_callback",
    "parse_sms_callback",
    "unflatten",
]

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild nested data from bracketed form keys.

    ``{"Legs[0][Status]": "completed", "Legs[1][Status]": "busy", "A": "1"}`` becomes
    ``{"Legs": [{"Status": "completed"}, {"Status": "busy"}], "A": "1"}``. Numeric indexes make
    lists (ordered by index, gaps closed); other keys make dicts.
    """
    root: dict[str, Any] = {}
    for key, value in fields.items():
        head, _, rest = key.partition("[")
        if not rest:
            root[key] = value
            continue
        parts = [head, *_KEY_PART.findall("[" + rest)]
        node: dict[str, Any] = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    # Dicts whose keys are all indexes become lists; "Legs[]" style keys give a one-item list.
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    # isdecimal, not isdigit: "²" is a digit that int() refuses, and callbacks are untrusted input.
    if converted and all(k.isdecimal() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    if converted and all(k == "" for k in converted):
        return [converted[""]]
    return converted


def decode_callback_body(
    body: bytes | str | Mapping[str, Any], content_type: str | None
) -> dict[str, Any]:
    """Decode a callback body (JSON, urlencoded or multipart) into nested data."""
    if isinstance(body, Mapping):
        return unflatten({str(k): v for k, v in body.items()})
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    ctype = (content_type or "").lower()
    if "json" in ctype or (not ctype and raw.lstrip()[:1] in (b"{", b"[")):
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InsufficientParametersError(f"callback body is not valid JSON: {err}") from None
        if not isinstance(data, Mapping):
            raise InsufficientParametersError("callback JSON body is not an object")
        return unflatten({str(k): v for k, v in data.items()})
    if "multipart/" in ctype:
        return unflatten(_multipart_fields(raw, content_type or ""))
    text = raw.decode("utf-8", errors="replace")
    return unflatten(dict(parse_qsl(text, keep_blank_values=True)))


def _multipart_fields(raw: bytes, content_type: str) -> dict[str, str]:
    if "boundary=" not in content_type.lower():
        raise InsufficientParametersError(
            "multipart callback has no boundary in its Content-Type header: pass the header as received"
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        raise InsufficientParametersError("multipart callback body could not be parsed")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            charset = part.get_content_charset() or "utf-8"
            fields[name] = payload.decode(charset, errors="replace")
    return fields


@dataclass(frozen=True, kw_only=True)
class CallbackLeg(ExotelObject):
    """One leg in a call callback's ``Legs`` list."""

    status: CallStatus | None = None
    on_call_duration: int | None = None
    answered_by: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CallbackLeg:
        return cls(
            raw=data,
            status=_enum(CallStatus, data.get("Status")),
            on_call_duration=parse_int(data.get("OnCallDuration")),
            answered_by=parse_str(data.get("AnsweredBy")),
        )


@dataclass(frozen=True, kw_only=True)
class CallStatusCallback(ExotelObject):
    """A call status callback (reference section 6.1)."""

    call_sid: str
    status: CallStatus | None = None
    event_type: str | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    to: str | None = None
    from_: str | None = None
    phone_number_sid: str | None = None
    conversation_duration: int | None = None
    duration: int | None = None
    direction: Direction | None = None
    custom_field: str | None = None
    recording_url: str | None = None
    presigned_recording_url: str | None = None
    legs: tuple[CallbackLeg, ...] = ()

    @property
    def dedup_key(self) -> tuple[str, str]:
        """``(CallSid, EventType)``: process each event once, however often Exotel retries it."""
        return (self.call_sid, self.event_type or "terminal")

    @property
    def answered(self) -> bool:
        """Whether a person picked up (the call completed, or this is the ``answered`` event)."""
        return self.event_type == "answered" or self.status is CallStatus.COMPLETED


@dataclass(frozen=True, kw_only=True)
class SmsStatusCallback(ExotelObject):
    """An SMS status callback (reference section 6.2)."""

    sms_sid: str
    status: SmsStatus | None = None
    to: str | None = None
    sms_units: int | None = None
    detailed_status: str | None = None
    detailed_status_code: int | None = None
    date_sent: datetime | None = None
    custom_field: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is SmsStatus.SENT


def parse_call_callback(
    body: bytes | str | Mapping[str, Any], content_type: str | None = None
) -> CallStatusCallback:
    """Parse a call status callback from its raw body and ``Content-Type`` header.

    Raises :class:`~notifykit_exotel.errors.InsufficientParametersError` when the body cannot be
    decoded or has no ``CallSid`` (so a webhook can answer 400 instead of dropping it silently).
    """
    data = decode_callback_body(body, content_type)
    sid = parse_str(data.get("CallSid"))
    if not sid:
        raise InsufficientParametersError(
            "call callback has no CallSid: is it an Exotel call callback?"
        )
    legs = data.get("Legs") or []
    if isinstance(legs, Mapping):
        legs = [legs]
    return CallStatusCallback(
        raw=data,
        call_sid=sid,
        status=_enum(CallStatus, data.get("Status")),
        event_type=parse_str(data.get("EventType")),
        date_created=parse_datetime(data.get("DateCreated")),
        date_updated=parse_datetime(data.get("DateUpdated")),
        start_time=parse_datetime(data.get("StartTime")),
        end_time=parse_datetime(data.get("EndTime")),
        to=parse_str(data.get("To")),
        from_=parse_str(data.get("From")),
        phone_number_sid=parse_str(data.get("PhoneNumberSid")),
        conversation_duration=parse_int(data.get("ConversationDuration")),
        duration=parse_int(data.get("Duration")),
        direction=_enum(Direction, data.get("Direction")),
        custom_field=parse_str(data.get("CustomField")),
        recording_url=parse_str(data.get("RecordingUrl")),
        presigned_recording_url=parse_str(data.get("PreSignedRecordingUrl")),
        legs=tuple(CallbackLeg.from_api(leg) for leg in legs if isinstance(leg, Mapping)),
    )


def parse_sms_callback(
    body: bytes | str | Mapping[str, Any], content_type: str | None = None
) -> SmsStatusCallback:
    """Parse an SMS status callback from its raw body and ``Content-Type`` header."""
    data = decode_callback_body(body, content_type)
    sid = parse_str(data.get("SmsSid") or data.get("Sid"))
    if not sid:
        raise InsufficientParametersError(
            "SMS callback has no SmsSid: is it an Exotel SMS callback?"
        )
    return SmsStatusCallback(
        raw=data,
        sms_sid=sid,
        status=_enum(SmsStatus, data.get("Status")),
        to=parse_str(data.get("To")),
        sms_units=parse_int(data.get("SmsUnits")),
        detailed_status=parse_str(data.get("DetailedStatus")),
        detailed_status_code=parse_int(data.get("DetailedStatusCode")),
        date_sent=parse_datetime(data.get("DateSent")),
        custom_field=parse_str(data.get("CustomField")),
    )
