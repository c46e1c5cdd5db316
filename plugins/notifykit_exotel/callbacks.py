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

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException
from werkzeug.formparser import MultiPartParser
from werkzeug.http import parse_options_header

from .errors import InsufficientParametersError
from .models import (
    CallStatus,
    Direction,
    ExotelObject,
    SmsStatus,
    _enum,
    _mappings,
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

#: How deep a callback may nest (``Legs[0][Status]`` is 3 levels). Exotel's are 3 at most; the cap
#: keeps a hostile ``a[b][c]...`` key or deep JSON from exhausting the stack (RecursionError).
MAX_DEPTH = 32
#: A callback body larger than this is refused before parsing (Exotel's are under 2 kB).
MAX_BODY_BYTES = 1_000_000


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild nested data from bracketed form keys.

    ``{"Legs[0][Status]": "completed", "Legs[1][Status]": "busy", "A": "1"}`` becomes
    ``{"Legs": [{"Status": "completed"}, {"Status": "busy"}], "A": "1"}``. Numeric indexes make
    lists (ordered by index, gaps closed); other keys make dicts. The top level always stays a
    dict, even when every key is a number (``0=x``).

    Raises :class:`~notifykit_exotel.errors.InsufficientParametersError` when a key or a value
    nests deeper than :data:`MAX_DEPTH`.
    """
    root: dict[str, Any] = {}
    for key, value in fields.items():
        key = str(key)
        head, _, rest = key.partition("[")
        if not rest:
            root[key] = value
            continue
        parts = [head, *_KEY_PART.findall("[" + rest)]
        if len(parts) > MAX_DEPTH:
            raise InsufficientParametersError(
                f"callback field {key[:40]!r}... nests {len(parts)} levels deep, over the "
                f"{MAX_DEPTH} this parser reads: is it an Exotel callback?"
            )
        node: dict[str, Any] = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return {k: _lists(v, 1) for k, v in root.items()}


def _is_index(key: Any) -> bool:
    # ASCII digits only: "²" and "٣" are digits for str.isdigit(), and callbacks are untrusted.
    return isinstance(key, str) and key.isascii() and key.isdigit()


def _index_order(key: str) -> tuple[int, str]:
    # Numeric order without int(): int() of a 5,000-digit index raises ValueError.
    digits = key.lstrip("0") or "0"
    return (len(digits), digits)


def _lists(node: Any, depth: int) -> Any:
    # Dicts whose keys are all indexes become lists; "Legs[]" style keys give a one-item list.
    if depth > MAX_DEPTH:
        raise InsufficientParametersError(
            f"callback body nests deeper than {MAX_DEPTH} levels: is it an Exotel callback?"
        )
    if isinstance(node, list):
        return [_lists(item, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {str(k): _lists(v, depth + 1) for k, v in node.items()}
    if converted and all(_is_index(k) for k in converted):
        return [converted[k] for k in sorted(converted, key=_index_order)]
    if converted and all(k == "" for k in converted):
        return [converted[""]]
    return converted


def decode_callback_body(
    body: bytes | str | Mapping[str, Any], content_type: str | None
) -> dict[str, Any]:
    """Decode a callback body (JSON, urlencoded or multipart) into nested data.

    Raises :class:`~notifykit_exotel.errors.InsufficientParametersError`, and nothing else, for
    any body it cannot read.
    """
    try:
        return _decode(body, content_type)
    except InsufficientParametersError:
        raise
    except (ValueError, LookupError, TypeError, RecursionError, MemoryError) as err:
        # The last net under the parsers below: a body from the network gets the one
        # documented error, never the parser's own.
        raise InsufficientParametersError(
            f"callback body could not be read ({type(err).__name__})"
        ) from None


def _decode(body: bytes | str | Mapping[str, Any], content_type: str | None) -> dict[str, Any]:
    if isinstance(body, Mapping):
        return unflatten({str(k): v for k, v in body.items()})
    if not isinstance(body, (bytes, bytearray, memoryview, str)):
        raise InsufficientParametersError(
            f"callback body must be bytes, str or a mapping, not {type(body).__name__}"
        )
    raw = body.encode("utf-8", errors="replace") if isinstance(body, str) else bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise InsufficientParametersError(
            f"callback body is {len(raw)} bytes, over the {MAX_BODY_BYTES} an Exotel callback "
            f"could be"
        )
    ctype = content_type if isinstance(content_type, str) else ""
    mimetype, options = parse_options_header(ctype)
    if "json" in mimetype or (not mimetype and raw.lstrip()[:1] in (b"{", b"[")):
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InsufficientParametersError(f"callback body is not valid JSON: {err}") from None
        except RecursionError:
            raise InsufficientParametersError(
                "callback JSON body nests too deep to parse: is it an Exotel callback?"
            ) from None
        if not isinstance(data, Mapping):
            raise InsufficientParametersError("callback JSON body is not an object")
        return unflatten({str(k): v for k, v in data.items()})
    if mimetype.startswith("multipart/"):
        return unflatten(_multipart_fields(raw, options))
    text = raw.decode("utf-8", errors="replace")
    return unflatten(dict(parse_qsl(text, keep_blank_values=True)))


def _multipart_fields(raw: bytes, options: Mapping[str, str]) -> dict[str, str]:
    """Form fields of a multipart body, read by werkzeug's streaming parser.

    werkzeug, not the ``email`` package: it is built for HTTP form bodies, bounds the number and
    size of parts, and decodes each part with a charset from a short safe list (UTF-8 otherwise,
    with replacement characters), so an unknown or hostile charset cannot raise.
    """
    boundary = options.get("boundary", "")
    if not boundary:
        raise InsufficientParametersError(
            "multipart callback has no boundary in its Content-Type header: pass the header as received"
        )
    if not boundary.isascii():
        raise InsufficientParametersError("multipart callback boundary is not ASCII")
    parser = MultiPartParser(max_form_memory_size=MAX_BODY_BYTES, max_form_parts=1000)
    try:
        form, files = parser.parse(io.BytesIO(raw), boundary.encode("ascii"), len(raw))
    except (ValueError, HTTPException):  # malformed, or over the part limits (413)
        raise InsufficientParametersError(
            "multipart callback body could not be parsed: pass the body and Content-Type as received"
        ) from None
    fields: dict[str, str] = dict(form.items())
    for name, upload in files.items():  # a part sent with a filename: read it as text too
        try:
            text = upload.stream.read(MAX_BODY_BYTES).decode("utf-8", errors="replace")
        finally:
            upload.close()
        fields.setdefault(name, text)
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

    Raises :class:`~notifykit_exotel.errors.InsufficientParametersError` (and nothing else) when
    the body cannot be decoded or has no ``CallSid`` (so a webhook can answer 400 instead of dropping it silently).
    """
    data = decode_callback_body(body, content_type)
    sid = parse_str(data.get("CallSid"))
    if not sid:
        raise InsufficientParametersError(
            "call callback has no CallSid: is it an Exotel call callback?"
        )
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
        legs=tuple(CallbackLeg.from_api(leg) for leg in _mappings(data.get("Legs"))),
    )


def parse_sms_callback(
    body: bytes | str | Mapping[str, Any], content_type: str | None = None
) -> SmsStatusCallback:
    """Parse an SMS status callback from its raw body and ``Content-Type`` header.

    Raises :class:`~notifykit_exotel.errors.InsufficientParametersError` (and nothing else) when
    the body cannot be decoded or has no ``SmsSid``.
    """
    data = decode_callback_body(body, content_type)
    sid = parse_str(data.get("SmsSid")) or parse_str(data.get("Sid"))
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
