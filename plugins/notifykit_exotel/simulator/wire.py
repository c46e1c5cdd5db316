"""Wire helpers for the simulator: form parsing, array fields, JSON/XML bodies, numbers, SMS units.

Everything here is pure (no server, no state) so the HTTP layer and the API logic can share it.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

#: Exotel stamps every time in IST without a zone designator.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

Form = dict[str, list[str]]


class ApiError(Exception):
    """An error answer: HTTP ``status`` plus the ``RestException`` message and optional code."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON ``{"RestException": {...}}`` object Exotel answers with."""
        return rest_exception(self.status, self.message, self.code)


def rest_exception(status: int, message: str, code: int | None = None) -> dict[str, Any]:
    """Exotel's error object; ``Code`` is left out when there is none, as voice errors do."""
    inner: dict[str, Any] = {"Status": status, "Message": message}
    if code is not None:
        inner["Code"] = code
    return {"RestException": inner}


def now_ist() -> str:
    """The current time as Exotel writes it: ``YYYY-MM-DD HH:MM:SS`` in IST."""
    return datetime.now(IST).strftime(TIME_FORMAT)


# --- request bodies --------------------------------------------------------------------------


def _append(form: Form, key: str, value: str) -> None:
    form.setdefault(key, []).append(value)


def parse_urlencoded(text: str) -> Form:
    """Parse a query string or urlencoded body, keeping key order, repeats and blank values."""
    form: Form = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        _append(form, key, value)
    return form


def parse_multipart(body: bytes, content_type: str) -> Form:
    """Parse a ``multipart/form-data`` body into fields (file parts are kept as decoded text).

    The stdlib ``email`` parser does the MIME work: ``cgi`` is deprecated and would turn into an
    error under the test suite's ``filterwarnings = error``.
    """
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    form: Form = {}
    if not message.is_multipart():
        return form
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        charset = part.get_content_charset() or "utf-8"
        _append(form, name, raw.decode(charset, errors="replace"))
    return form


def parse_form(body: bytes, content_type: str) -> Form:
    """Parse a request body as urlencoded or multipart form data; anything else gives no fields."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return parse_multipart(body, content_type)
    if media_type in ("application/x-www-form-urlencoded", ""):
        return parse_urlencoded(body.decode("utf-8", errors="replace"))
    return {}


_INDEXED = re.compile(r"^(?P<name>[A-Za-z]+)\[(?P<index>\d*)\]$")


def array_field(form: Form, name: str, *, split_commas: bool = True) -> list[str] | None:
    """Collect a list parameter sent in any of the encodings clients use.

    Accepts ``Name[0]=a&Name[1]=b`` (ordered by index), ``Name[]=a&Name[]=b``, repeated
    ``Name=a&Name=b`` and comma-separated ``Name=a,b``, because Exotel's canonical array encoding
    is unconfirmed (reference §5.2). Returns None when the parameter was not sent at all.
    """
    indexed: list[tuple[int, int, str]] = []
    plain: list[str] = []
    seen = False
    for order, (key, values) in enumerate(form.items()):
        if key == name:
            seen = True
            plain.extend(values)
            continue
        match = _INDEXED.match(key)
        if match is None or match["name"] != name:
            continue
        seen = True
        if match["index"] == "":
            plain.extend(values)
        else:
            indexed.extend((int(match["index"]), order, value) for value in values)
    if not seen:
        return None
    raw = plain + [value for _, _, value in sorted(indexed)]
    if not split_commas:
        return raw
    items: list[str] = []
    for value in raw:
        items.extend(part.strip() for part in value.split(","))
    return items


_NESTED = re.compile(r"^(?P<name>[A-Za-z]+)\[(?P<index>\d+)\]\[(?P<key>[A-Za-z]+)\]$")


def nested_array(form: Form, name: str) -> dict[int, dict[str, str]] | None:
    """Collect ``Name[i][Key]=value`` fields into ``{i: {Key: value}}``; None when none sent."""
    items: dict[int, dict[str, str]] = {}
    for key, values in form.items():
        match = _NESTED.match(key)
        if match is None or match["name"] != name or not values:
            continue
        items.setdefault(int(match["index"]), {})[match["key"]] = values[-1]
    return items or None


# --- response bodies -------------------------------------------------------------------------


def to_json(payload: Any) -> bytes:
    """Serialise an answer as compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


def _xml_value(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        out.append(f"<{name}>")
        for key, item in value.items():
            _xml_value(str(key), item, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        _xml_items(_singular(name), value, out)
        out.append(f"</{name}>")
    elif value is None:
        out.append(f"<{name}/>")
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def _xml_items(item_name: str, items: Iterable[Any], out: list[str]) -> None:
    for item in items:
        # An item that is itself a one-key wrapper ({"SMSMessage": {...}}, {"Leg": {...}})
        # names its own element, as Exotel's XML does.
        if isinstance(item, Mapping) and len(item) == 1:
            (key, inner), *_ = item.items()
            _xml_value(str(key), inner, out)
        else:
            _xml_value(item_name, item, out)


def to_xml(payload: Any) -> bytes:
    """Render an answer the way Exotel does without ``.json``: under a ``<TwilioResponse>`` root."""
    out = ["<TwilioResponse>"]
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            _xml_value(str(key), value, out)
    elif isinstance(payload, list):
        _xml_items("Item", payload, out)
    out.append("</TwilioResponse>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(out)).encode("utf-8")


GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


# --- phone numbers ---------------------------------------------------------------------------

_E164 = re.compile(r"^\+\d{8,15}$")
_NATIONAL = re.compile(r"^0\d{6,14}$")


def is_phone_number(value: str) -> bool:
    """Whether ``value`` looks like a number Exotel dials: E.164, or 0-prefixed national digits."""
    return bool(_E164.match(value) or _NATIONAL.match(value))


def national_form(number: str) -> str:
    """Exotel's echo of an Indian number in calls: ``+919876543210`` becomes ``09876543210``."""
    if number.startswith("+91") and len(number) == 13:
        return "0" + number[3:]
    return number


def e164_form(number: str) -> str:
    """An Indian national number in E.164 (``09876543210`` → ``+919876543210``); others as given."""
    if number.startswith("+"):
        return number
    digits = number.lstrip("0")
    if len(digits) == 10:
        return "+91" + digits
    return number


def last_digits(number: str, count: int = 10) -> str:
    """The trailing ``count`` digits, for comparing numbers written in different forms."""
    return re.sub(r"\D", "", number)[-count:]


# --- SMS units -------------------------------------------------------------------------------

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")


def needs_unicode(body: str) -> bool:
    """Whether the body has a character outside the GSM-7 alphabet (so it goes out as UCS-2)."""
    return any(ch not in _GSM7_BASIC and ch not in _GSM7_EXTENSION for ch in body)


def sms_units(body: str, *, unicode: bool = False) -> int:
    """How many SMS parts the body takes: GSM-7 160/153 per part, UCS-2 70/67 per part."""
    if unicode or needs_unicode(body):
        length = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    else:
        # Extension characters take an escape septet as well.
        length = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    if length <= single:
        return 1
    return math.ceil(length / multi)
