"""Wire helpers for the simulator: form parsing, array fields, JSON/XML bodies, numbers.

Form bodies are parsed by werkzeug (urlencoded and multipart alike); SMS segment counting is the
core's :func:`notifykit.text.sms.analyze_sms`, so the simulator and the report never disagree.

Everything here is pure (no server, no state) so the HTTP layer and the API logic can share it.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.http import parse_options_header

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


class BodyError(ValueError):
    """A request body the simulator cannot decode (answered with 400, never a dropped socket)."""


#: The most multipart parts a form may have: a bulk send of 100 messages with 10 keys each fits.
MAX_FORM_PARTS = 2000


def parse_urlencoded(text: str) -> Form:
    """Parse a query string, keeping key order, repeats and blank values."""
    form: Form = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(key, []).append(value)
    return form


def _as_form(multi: MultiDict[str, str]) -> Form:
    return {key: list(values) for key, values in multi.lists()}


def text_encoding(charset: str) -> str:
    """``charset`` if Python can decode bytes with it, else :class:`BodyError`.

    ``rot13`` and ``base64`` are codecs Python knows but not text encodings (``bytes.decode``
    refuses them with a LookupError too), so they are unknown charsets here, like ``nope``.
    """
    try:
        b"x".decode(charset)  # not b"": decoding nothing succeeds without looking the codec up
    except UnicodeDecodeError:
        pass  # a text encoding (utf-16 wants two bytes)
    except LookupError:
        raise BodyError(
            f"unknown charset {charset!r} in the request's Content-Type: send the form in UTF-8"
        ) from None
    return charset


class _MultiPartParser(MultiPartParser):
    """werkzeug's multipart parser, decoding each part in the charset it declares (else the
    body's, else UTF-8) and refusing an unknown one.

    werkzeug alone reads any charset outside a short list as UTF-8, so a part in ``charset=nope``
    was accepted as if it were UTF-8; Exotel answers 4xx for a request it cannot read.
    """

    def __init__(self, default_charset: str, **options: Any) -> None:
        super().__init__(**options)
        self.default_charset = default_charset

    def get_part_charset(self, headers: Headers) -> str:
        charset = parse_options_header(headers.get("content-type"))[1].get("charset")
        return text_encoding(charset) if charset else self.default_charset


def _parse_multipart(
    body: bytes, options: Mapping[str, str], charset: str, max_bytes: int | None
) -> tuple[MultiDict[str, str], MultiDict[str, Any]]:
    boundary = options.get("boundary", "")
    if not boundary:
        raise ValueError("Missing boundary")
    parser = _MultiPartParser(
        charset, max_form_memory_size=max_bytes, max_form_parts=MAX_FORM_PARTS
    )
    return parser.parse(io.BytesIO(body), boundary.encode("latin-1"), len(body))


def parse_form(body: bytes, content_type: str, *, max_bytes: int | None = None) -> Form:
    """Parse a request body as urlencoded or multipart form data, with werkzeug's parser.

    Keeps key order, repeated keys and blank values; file parts are kept as text fields. A media
    type other than the two form types gives no fields (the body is still recorded). Raises
    :class:`BodyError` for a body that cannot be decoded: malformed multipart, a missing
    boundary, bytes that are not UTF-8, a ``charset`` (of the body or of a multipart part) that
    is not a text encoding Python knows. A multipart part is decoded in the charset it declares.
    """
    if not body:
        return {}
    media_type, options = parse_options_header(content_type)
    media_type = media_type.lower()
    if media_type == "":
        media_type = "application/x-www-form-urlencoded"  # what curl -d and old clients mean
    if media_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    charset = text_encoding(options["charset"]) if options.get("charset") else "utf-8"
    parser = FormDataParser(
        max_content_length=max_bytes,
        max_form_memory_size=max_bytes,
        max_form_parts=MAX_FORM_PARTS,
        silent=False,
    )
    try:
        if media_type == "multipart/form-data":
            fields, files = _parse_multipart(body, options, charset, max_bytes)
        else:
            _, fields, files = parser.parse(io.BytesIO(body), media_type, len(body), options)
        form = _as_form(fields)
        for name, storages in files.lists():
            for storage in storages:
                part_charset = storage.mimetype_params.get("charset")
                text = text_encoding(part_charset) if part_charset else charset
                form.setdefault(name, []).append(storage.read().decode(text))
    except BodyError:
        raise
    except (ValueError, HTTPException) as err:
        # UnicodeDecodeError is a ValueError; werkzeug raises ValueError for broken multipart
        # and RequestEntityTooLarge (an HTTPException) for too many parts.
        kind = "multipart form data" if media_type.startswith("multipart") else "a urlencoded form"
        raise BodyError(f"the request body is not valid {kind} in UTF-8: {err}") from None
    return form


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
#: An Indian mobile without its ``+``: ``919876543210`` (several published clients strip it).
_INDIA_NO_PLUS = re.compile(r"^91[6-9]\d{9}$")
#: A bare 10-digit Indian mobile: ``9876543210``.
_INDIA_BARE = re.compile(r"^[6-9]\d{9}$")


def is_phone_number(value: str) -> bool:
    """Whether ``value`` is a number Exotel would dial.

    The reference asks for E.164 "preferably" and says Exotel matches other forms to a country,
    so besides ``+919876543210`` and 0-prefixed national numbers (``09876543210``, landlines with
    their STD code) this accepts an Indian mobile with the ``+`` stripped (``919876543210``) and a
    bare 10-digit Indian mobile (``9876543210``). Letters, short codes and stray digits are not
    numbers.
    """
    return any(pattern.match(value) for pattern in (_E164, _NATIONAL, _INDIA_NO_PLUS, _INDIA_BARE))


def e164_form(number: str) -> str:
    """An Indian number in E.164 (``09876543210``, ``919876543210``, ``9876543210`` all become
    ``+919876543210``); other numbers as given."""
    if number.startswith("+"):
        return number
    if _INDIA_NO_PLUS.match(number):
        return "+" + number
    digits = number.lstrip("0")
    if len(digits) == 10:
        return "+91" + digits
    return number


def national_form(number: str) -> str:
    """Exotel's echo of an Indian number in calls: ``+919876543210`` (or ``919876543210``,
    ``9876543210``) becomes ``09876543210``; other numbers as given."""
    e164 = e164_form(number)
    if e164.startswith("+91") and len(e164) == 13:
        return "0" + e164[3:]
    return number


def last_digits(number: str, count: int = 10) -> str:
    """The trailing ``count`` digits, for comparing numbers written in different forms."""
    return re.sub(r"\D", "", number)[-count:]


@dataclass
class Answer:
    """One HTTP answer: status, body, media type and extra headers."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]
    close: bool = False


class AdminError(Exception):
    """An admin request the simulator cannot act on: answered ``status`` with the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_object(body: bytes) -> dict[str, Any]:
    """An admin request's JSON object body (``{}`` when empty); :class:`AdminError` 400 else."""
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise AdminError(400, f"the body is not JSON ({err}): send a JSON object") from None
    if not isinstance(data, dict):
        raise AdminError(400, 'the body must be a JSON object, e.g. {"sid": "..."}')
    return data
