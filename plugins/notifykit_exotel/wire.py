"""Exotel's wire format in one place: Python keyword names to form fields, value checks, numbers.

Python callers use snake_case keywords (``caller_id``, ``status_callback``); Exotel wants PascalCase
form fields (``CallerId``, ``StatusCallback``). :func:`encode_form` is the one function that maps
them, drops unset values (never sending empty strings, the PHP seed's bug), spells booleans as
``true``/``false`` and encodes lists in the configured array style.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from .errors import InsufficientParametersError

__all__ = [
    "ARRAY_STYLES",
    "BODY_MAX_CHARS",
    "BULK_MAX",
    "TIME_LIMIT_MAX",
    "WIRE_NAMES",
    "ArrayStyle",
    "check_extra",
    "encode_form",
    "flow_url",
    "is_loopback",
    "normalize_number",
    "same_number",
]

ArrayStyle = Literal["indexed", "brackets", "repeat", "csv"]
#: How list values go on the wire. Exotel's canonical form is UNCONFIRMED (reference section 5.2):
#: ``indexed`` ``To[0]=a&To[1]=b`` (default, seen in an Exotel employee's code), ``brackets``
#: ``To[]=a&To[]=b``, ``repeat`` ``To=a&To=b``, ``csv`` ``To=a,b``.
ARRAY_STYLES: tuple[ArrayStyle, ...] = ("indexed", "brackets", "repeat", "csv")

TIME_LIMIT_MAX = 14400
BODY_MAX_CHARS = 2000
BULK_MAX = 100
CUSTOM_FIELD_MAX = 128  # new docs only (UNCONFIRMED): longer values are sent, with a warning logged

WIRE_NAMES: dict[str, str] = {
    "from_": "From",
    "to": "To",
    "caller_id": "CallerId",
    "url": "Url",
    "call_type": "CallType",
    "time_limit": "TimeLimit",
    "time_out": "TimeOut",
    "wait_url": "WaitUrl",
    "record": "Record",
    "recording_channels": "RecordingChannels",
    "recording_format": "RecordingFormat",
    "custom_field": "CustomField",
    "status_callback": "StatusCallback",
    "status_callback_events": "StatusCallbackEvents",
    "status_callback_content_type": "StatusCallbackContentType",
    "stream_url": "StreamUrl",
    "body": "Body",
    "encoding_type": "EncodingType",
    "priority": "Priority",
    "dlt_entity_id": "DltEntityId",
    "dlt_template_id": "DltTemplateId",
    "sms_type": "SmsType",
    "shorten_url": "ShortenUrl",
}

# Allowed values of enumerated parameters. RecordingFormat's values come only from the new docs
# (UNCONFIRMED), so it is checked loosely: see ``_LOOSE``.
CHOICES: dict[str, frozenset[str]] = {
    "call_type": frozenset({"trans"}),
    "recording_channels": frozenset({"single", "dual"}),
    "recording_format": frozenset({"mp3", "mp3-hq"}),
    "status_callback_events": frozenset({"terminal", "answered"}),
    "status_callback_content_type": frozenset({"multipart/form-data", "application/json"}),
    "encoding_type": frozenset({"plain", "unicode"}),
    "priority": frozenset({"normal", "high"}),
    "sms_type": frozenset({"transactional", "transactional_opt_in", "promotional"}),
}


#: SMS callbacks are urlencoded by default (reference 6.2) and JSON is seen in real code; what
#: Exotel accepts in ``StatusCallbackContentType`` for SMS is UNCONFIRMED, so all three forms go.
SMS_CALLBACK_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "application/json", "multipart/form-data"}
)


def check_choice(name: str, value: Any, allowed: frozenset[str] | None = None) -> None:
    """Raise :class:`InsufficientParametersError` if ``value`` is not an allowed value of ``name``
    (from ``allowed``, or else :data:`CHOICES`)."""
    allowed = allowed if allowed is not None else CHOICES.get(name)
    if allowed is None or value is None:
        return
    values = value if isinstance(value, (list, tuple)) else [value]
    for item in values:
        if item not in allowed:
            raise InsufficientParametersError(
                f"{name}={item!r} is not valid: use one of {', '.join(sorted(allowed))}"
            )


def _scalar(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if value.strip() == "":
            raise InsufficientParametersError(
                f"{name} is an empty string: pass None to leave it out, or give it a value"
            )
        return value
    raise InsufficientParametersError(
        f"{name} must be a string, number or boolean, not {type(value).__name__}"
    )


def encode_form(
    params: Mapping[str, Any],
    *,
    array_style: ArrayStyle = "indexed",
    extra: Mapping[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """Turn snake_case keywords into Exotel form fields, in order, leaving out ``None`` values.

    ``extra`` holds fields already in Exotel's spelling (``{"StartPlaybackToNew": "Both"}``) for
    parameters this client does not model yet; they are sent as given, after the known ones. An
    extra field that is also set here (``From``, ``To[0]``...) is refused: it would go out twice,
    past the validation of the keyword argument, and Exotel's choice between the two is unknown.
    """
    fields: list[tuple[str, str]] = []
    items: list[tuple[str, Any]] = []
    for key, value in params.items():
        if value is None:
            continue
        wire = WIRE_NAMES.get(key)
        if wire is None:
            raise InsufficientParametersError(f"unknown parameter {key!r}")
        items.append((wire, value))
    check_extra(
        extra, {wire: key for key, wire in WIRE_NAMES.items() if params.get(key) is not None}
    )
    for key, value in (extra or {}).items():
        if value is not None:
            items.append((key, value))
    for wire, value in items:
        if isinstance(value, (list, tuple)):
            fields.extend(_encode_array(wire, value, array_style))
        else:
            fields.append((wire, _scalar(wire, value)))
    return fields


def check_extra(extra: Mapping[str, Any] | None, taken: Mapping[str, str]) -> None:
    """Refuse extra fields whose name (``To`` or ``To[0]``) is in ``taken`` (wire name -> the
    keyword that sets it)."""
    for key, value in (extra or {}).items():
        base = str(key).split("[", 1)[0]
        if value is not None and base in taken:
            raise InsufficientParametersError(
                f"extra_params[{key!r}] would send {base} a second time: set it through the "
                f"{taken[base]}= argument instead"
            )


def _encode_array(name: str, values: Sequence[Any], style: ArrayStyle) -> list[tuple[str, str]]:
    if not values:
        raise InsufficientParametersError(f"{name} is an empty list: pass None to leave it out")
    encoded = [_scalar(name, v) for v in values]
    if style == "indexed":
        return [(f"{name}[{i}]", v) for i, v in enumerate(encoded)]
    if style == "brackets":
        return [(f"{name}[]", v) for v in encoded]
    if style == "repeat":
        return [(name, v) for v in encoded]
    if style == "csv":
        return [(name, ",".join(encoded))]
    raise InsufficientParametersError(
        f"array_style={style!r} is not valid: use one of {', '.join(ARRAY_STYLES)}"
    )


def encode_messages(messages: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Encode dynamic bulk messages as ``Messages[i][To]``, ``Messages[i][Body]``... form fields."""
    fields: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        for key, value in message.items():
            if value is None:
                continue
            wire = WIRE_NAMES[key]
            fields.append((f"Messages[{i}][{wire}]", _scalar(wire, value)))
    return fields


# -- phone numbers ---------------------------------------------------------------------------

_DIGITS = re.compile(r"\d")


def normalize_number(number: Any, *, field: str = "number", region: str | None = "IN") -> str:
    """Validate a phone number and return it in E.164 form (``+919876543210``).

    ``region`` is the country assumed for numbers written without a country code (``09876543210``,
    ``9876543210``, ``080 2345 6789``); ``None`` requires the ``+`` form. Uses Google's
    libphonenumber, so landlines with STD codes and every country's rules are understood.
    """
    if not isinstance(number, str) or not number.strip():
        raise InsufficientParametersError(
            f"{field} is missing: give a phone number, {_expected_form(region)}"
        )
    text = number.strip()
    # A phone number is short: longer text is not worth a place in the cache.
    parse = _parsed if len(text) <= 40 else _parsed.__wrapped__
    e164, problem = parse(text, region)
    if e164 is not None:
        return e164
    if problem is not None:
        raise InsufficientParametersError(
            f"{field}={number!r} is not a phone number ({problem}); {_expected_form(region)}"
        )
    raise InsufficientParametersError(
        f"{field}={number!r} is not a valid phone number for its country; {_expected_form(region)}"
    )


@functools.lru_cache(maxsize=16384)
def _parsed(text: str, region: str | None) -> tuple[str | None, str | None]:
    """``(e164, None)`` for a valid number, else ``(None, libphonenumber's reason or None)``.

    Cached: the answer depends only on the text and the region, and a client that sends to the
    same list again (an on-call rota, a repeated broadcast) skips libphonenumber, about 40 µs
    a number. A number seen for the first time is parsed and validated as always.
    """
    from notifykit.text.phone import indian_mobile_e164

    fast = indian_mobile_e164(text)  # the usual number, without importing libphonenumber
    if fast is not None:
        return fast, None
    import phonenumbers  # imported here: loading its metadata costs ~50 ms, not paid at import

    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException as err:
        return None, str(err._msg)
    if not phonenumbers.is_valid_number(parsed):
        return None, None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)), None


def _expected_form(region: str | None) -> str:
    """The forms a number may take, for error messages: they name the fix, not only the fault."""
    if region is None:
        return (
            "write it in E.164 form: '+', the country code and the number, such as "
            "+919876543210 (numbers without a country code need default_region)"
        )
    if region.upper() == "IN":
        return (
            "write it in E.164 form such as +919876543210, or as an Indian number with a 0 or 91 "
            "prefix (09876543210, 919876543210); Indian mobiles are 10 digits starting 6-9"
        )
    return (
        f"write it in E.164 form such as +919876543210, or in the national form of {region.upper()}"
    )


def same_number(a: str | None, b: str | None) -> bool:
    """Compare two numbers as Exotel echoes them (``09876543210`` vs ``+919876543210``).

    Exotel returns numbers in varying forms, so they are compared on their last 10 digits, as the
    reference advises for matching callbacks to requests.
    """
    if not a or not b:
        return False
    da = "".join(_DIGITS.findall(a))
    db = "".join(_DIGITS.findall(b))
    return len(da) >= 10 and len(db) >= 10 and da[-10:] == db[-10:]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (where plain HTTP is allowed: the simulator)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def flow_url(sid: str, app_id: str | int) -> str:
    """The URL that starts an Exotel flow (IVR app), in its current form.

    ``http://my.exotel.com/<sid>/exoml/start_voice/<app_id>``. The PHP seed built the legacy
    ``http://my.exotel.in/exoml/start/<app_id>`` (no SID), whose support is UNCONFIRMED; pass a
    full ``url=`` to ``call_flow`` to use another form.
    """
    app = str(app_id).strip()
    if not app or not re.fullmatch(r"[A-Za-z0-9_-]+", app):
        raise InsufficientParametersError(
            f"app_id={app_id!r} is not a flow id: use the numeric id shown under App Bazaar > My Apps"
        )
    return f"http://my.exotel.com/{sid}/exoml/start_voice/{app}"
