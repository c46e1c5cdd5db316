"""The checks :class:`~notifykit_exotel.ExotelClient` makes before anything is sent.

The constructor's arguments (credentials, region or base URL, timeout, rate limit), then each
verb's: phone numbers, sender ids and ExoPhones, URLs, sizes and enumerated values, date filters,
the PHP seed's mappings. Each raises :class:`~notifykit_exotel.errors.InsufficientParametersError`
naming the problem and the fix, and none of them makes a request. Exotel's wire names, its
enumerated values and the encoding stay in :mod:`.wire`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .errors import InsufficientParametersError
from .retry import Limiter, RateLimiter
from .wire import (
    BODY_MAX_CHARS,
    CUSTOM_FIELD_MAX,
    TIME_LIMIT_MAX,
    ArrayStyle,
    check_choice,
    is_loopback,
    normalize_number,
)

log = logging.getLogger("notifykit_exotel")

_T = TypeVar("_T")

#: Exotel's v1 hosts by region (reference section 1). Calling the wrong region fails authentication.
REGIONS: dict[str, str] = {
    "singapore": "https://api.exotel.com",
    "mumbai": "https://api.in.exotel.com",
}
_REGION_ALIASES = {"sg": "singapore", "in": "mumbai", "india": "mumbai"}

#: The shape of an E.164 number: what ``e164=True`` checks instead of libphonenumber's rules.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# -- the constructor's arguments -----------------------------------------------------------------


def check_credentials(sid: Any, token: Any, api_key: Any) -> tuple[str, str]:
    """``(sid, api_key)`` as the client keeps them (``api_key`` defaults to the SID)."""
    if not isinstance(sid, str) or not sid.strip():
        raise InsufficientParametersError("sid is missing: give the Exotel account SID")
    if not isinstance(token, str) or not token:
        raise InsufficientParametersError("token is missing: give the Exotel API token")
    if api_key is not None and (not isinstance(api_key, str) or not api_key):
        raise InsufficientParametersError("api_key is empty: give the API key, or None")
    check_credential("token", token)
    if api_key is not None:
        check_credential("api_key", api_key)
    return sid.strip(), api_key or sid.strip()


def check_credential(name: str, value: str) -> None:
    """Refuse a key or token that cannot be a Basic-auth credential, without ever echoing it.

    Exotel's keys and tokens are alphanumeric. Anything else is a mistake (a trailing newline read
    from a file, a pasted quote) that would only surface as a 401; a non-Latin-1 character would
    even raise UnicodeEncodeError while sending, whose repr() carries the whole secret.
    """
    if not (value.isascii() and value.isprintable()) or any(ch.isspace() for ch in value):
        raise InsufficientParametersError(
            f"{name} contains spaces, line breaks or non-ASCII characters: Exotel's API "
            f"credentials are plain letters and digits (check how it was read or pasted)"
        )
    if name == "api_key" and ":" in value:
        raise InsufficientParametersError("api_key contains ':', which Basic auth cannot carry")


def resolve_base_url(region: str, url: str | None) -> str:
    """The base URL of ``region``, or ``url`` checked: HTTPS (HTTP only on loopback), no
    credentials in it."""
    if url is None:
        key = _REGION_ALIASES.get(region.lower(), region.lower())
        if key not in REGIONS:
            raise InsufficientParametersError(
                f"region={region!r} is not an Exotel region: use 'singapore' or 'mumbai'"
            )
        return REGIONS[key]
    parts = urlsplit(url.strip())
    if parts.username or parts.password:
        raise InsufficientParametersError(
            "base_url must not carry credentials: pass api_key and token instead"
        )
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        pass
    elif parts.scheme == "http" and is_loopback(host):
        pass  # the local simulator
    else:
        raise InsufficientParametersError(
            f"base_url={url!r} must be an https:// URL (http:// only for a loopback "
            f"address such as the local simulator)"
        )
    return url.strip().rstrip("/")


def check_timeout(timeout: Any) -> float | tuple[float, float]:
    """Every request needs a finite, positive timeout: ``None`` would let one hang forever."""

    def ok(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0

    if ok(timeout) or (
        isinstance(timeout, tuple) and len(timeout) == 2 and all(ok(v) for v in timeout)
    ):
        return timeout  # type: ignore[no-any-return]
    raise InsufficientParametersError(
        f"timeout={timeout!r} is not valid: give seconds (> 0) or a (connect, read) pair"
    )


def build_rate_limiter(rate_limit: Limiter | int | None, rate_window: float) -> Limiter | None:
    """The limiter of ``rate_limit=``: the one given, one of ``rate_limit`` per ``rate_window``
    seconds, or none."""
    if isinstance(rate_limit, bool):
        raise InsufficientParametersError("rate_limit must be a RateLimiter, an int or None")
    try:
        return RateLimiter(rate_limit, rate_window) if isinstance(rate_limit, int) else rate_limit
    except (TypeError, ValueError) as err:
        raise InsufficientParametersError(f"rate limit: {err}") from None


def check_array_style(style: Any) -> ArrayStyle:
    """One of :data:`~notifykit_exotel.wire.ARRAY_STYLES`."""
    if style not in ("indexed", "brackets", "repeat", "csv"):
        raise InsufficientParametersError(
            f"array_style={style!r} is not valid: use indexed, brackets, repeat or csv"
        )
    return style  # type: ignore[no-any-return]


# -- numbers, senders, URLs ----------------------------------------------------------------------


def valid_number(
    value: Any, field: str, *, e164: bool = False, normalize: bool, region: str | None
) -> str:
    """A phone number to send to: normalised to E.164 (``normalize``, numbers without a country
    code read in ``region``), sent as given (stripped), or with ``e164`` only its shape checked."""
    if e164:
        # The caller validated it already (notifykit's planner parses every number once):
        # check its shape, which is cheap, instead of libphonenumber's rules, which are not.
        if isinstance(value, str) and _E164.fullmatch(value):
            return value
        raise InsufficientParametersError(
            f"{field}={value!r} is not in E.164 form (+, country code, number): with "
            "e164=True numbers must already be validated E.164; leave e164 out to have "
            "them checked and normalised"
        )
    if normalize:
        return normalize_number(value, field=field, region=region)
    if not isinstance(value, str) or not value.strip():
        raise InsufficientParametersError(f"{field} is missing: give a phone number")
    return value.strip()


def numbers_filter(numbers: list[str], name: str, region: str | None) -> list[str]:
    """The numbers of a ``list_calls`` filter: 1 to 5, normalised."""
    if not numbers or len(numbers) > 5:
        raise InsufficientParametersError(f"{name} filter takes 1 to 5 numbers")
    return [normalize_number(n, field=name, region=region) for n in numbers]


def required(value: Any, field: str, hint: str) -> str:
    """A non-empty string, stripped; ``hint`` says what to give when it is missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InsufficientParametersError(f"{field} is missing: {hint}")
    if not isinstance(value, str):
        raise InsufficientParametersError(f"{field} must be a string, not {type(value).__name__}")
    return value.strip()


def exophone(value: Any) -> str:
    """An ExoPhone number as Exotel wants it (digits and ``+``, spaces and dashes dropped)."""
    text = required(value, "caller_id", "give your ExoPhone, e.g. 08088919888")
    if not all(ch.isdigit() or ch in "+ -" for ch in text) or sum(ch.isdigit() for ch in text) < 6:
        raise InsufficientParametersError(
            f"caller_id={value!r} is not an ExoPhone number: use the virtual number shown in "
            f"the Exotel dashboard, e.g. 08088919888"
        )
    return text.replace(" ", "").replace("-", "")


def check_urls(**urls: str | None) -> None:
    """Callback, wait and stream URLs: full ``http(s)://`` URLs (``ws(s)://`` for ``stream_url``)."""
    for name, value in urls.items():
        if value is None:
            continue
        scheme = urlsplit(value).scheme if isinstance(value, str) else ""
        allowed = ("ws", "wss") if name == "stream_url" else ("http", "https")
        if scheme not in allowed or not urlsplit(value).netloc:
            raise InsufficientParametersError(
                f"{name}={value!r} is not a valid URL: give a full {allowed[1]}:// URL"
            )


# -- sizes and options ---------------------------------------------------------------------------


def check_call_options(
    time_limit: int | None,
    time_out: int | None,
    custom_field: str | None,
    **choices: Any,
) -> None:
    """A call's time limits, custom field and enumerated options."""
    for name, value in (("time_limit", time_limit), ("time_out", time_out)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InsufficientParametersError(f"{name} must be a positive whole number of seconds")
    if time_limit is not None and time_limit > TIME_LIMIT_MAX:
        raise InsufficientParametersError(
            f"time_limit={time_limit} is over Exotel's maximum of {TIME_LIMIT_MAX} s (4 hours)"
        )
    check_custom_field(custom_field)
    for name, value in choices.items():
        check_choice(name, value)


def check_body(body: Any) -> str:
    """An SMS text: not blank, at most Exotel's limit."""
    if not isinstance(body, str) or not body.strip():
        raise InsufficientParametersError("body is missing: give the SMS text")
    if len(body) > BODY_MAX_CHARS:
        raise InsufficientParametersError(
            f"body is {len(body)} characters, over Exotel's limit of {BODY_MAX_CHARS}: shorten it"
        )
    return body


def check_custom_field(value: Any) -> None:
    """A string; one longer than Exotel's documented cap is sent, with a warning (once)."""
    if value is None:
        return
    if not isinstance(value, str):
        raise InsufficientParametersError(
            "custom_field must be a string (use json.dumps() for structured data)"
        )
    if len(value) > CUSTOM_FIELD_MAX and not _custom_field_warned.is_set():
        # The 128-character cap comes only from Exotel's new docs (UNCONFIRMED): say it once per
        # process, not on every call of an IVR that reads long texts.
        _custom_field_warned.set()
        log.warning(
            "custom_field is %d characters; Exotel's docs say it may be cut at %d "
            "(said once per process)",
            len(value),
            CUSTOM_FIELD_MAX,
        )


_custom_field_warned = threading.Event()


_MESSAGE_KEYS = ("to", "body", "from_", "sms_type", "dlt_template_id", "custom_field")


def check_bulk_message(
    index: int, message: Any, *, normalize: bool, region: str | None
) -> dict[str, Any]:
    """One message of ``send_bulk_dynamic`` (a mapping, or a ``BulkMessage``'s fields), checked,
    under the keyword names :func:`~notifykit_exotel.wire.encode_messages` takes."""
    if not isinstance(message, Mapping):
        raise InsufficientParametersError(
            f"messages[{index}] must be a BulkMessage or a mapping, not {type(message).__name__}"
        )
    raw: dict[str, Any] = {}
    for key, value in message.items():
        name = _SEED_KEYS.get(key, key)
        if name not in _MESSAGE_KEYS:
            raise InsufficientParametersError(
                f"messages[{index}] has unknown key {key!r}; known keys: to, body, from, "
                f"sms_type, dlt_template_id, custom_field"
            )
        raw[name] = value
    raw["to"] = valid_number(
        raw.get("to"), f"messages[{index}].to", normalize=normalize, region=region
    )
    try:
        raw["body"] = check_body(raw.get("body"))
    except InsufficientParametersError as err:
        raise InsufficientParametersError(f"messages[{index}]: {err.message}") from None
    if raw.get("from_") is not None:
        raw["from_"] = required(raw["from_"], f"messages[{index}].from", "give a sender")
    check_choice("sms_type", raw.get("sms_type"))
    check_custom_field(raw.get("custom_field"))
    return raw


def date_filter(date_from: datetime | str | None, date_to: datetime | str | None) -> str:
    """``list_calls``' ``DateCreated`` filter (IST), at most a month wide."""
    from .models import IST  # imported here: the client's module does not import the models

    def fmt(value: datetime | str) -> tuple[str, datetime | None]:
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=IST)
            local = aware.astimezone(IST)
            return local.strftime("%Y-%m-%d %H:%M:%S"), local
        text = str(value).strip()
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
        except ValueError:
            raise InsufficientParametersError(
                f"date {value!r} must be a datetime or 'YYYY-MM-DD HH:MM:SS' (IST)"
            ) from None
        return text, parsed

    parts = []
    start = end = None
    if date_from is not None:
        text, start = fmt(date_from)
        parts.append(f"gte:{text}")
    if date_to is not None:
        text, end = fmt(date_to)
        parts.append(f"lte:{text}")
    if start and end:
        if end < start:
            raise InsufficientParametersError("date_to is before date_from")
        if (end - start).days > 31:
            raise InsufficientParametersError(
                "date_from and date_to may be at most a month apart (Exotel's limit); split the range"
            )
    return ";".join(parts)


# -- the PHP seed's mappings, lists ----------------------------------------------------------------

# The PHP seed's array keys, mapped to this client's keyword names.
_SEED_KEYS = {"from": "from_"}

CALL_NUMBER_KEYS = (
    "from_", "to", "caller_id", "call_type", "time_limit", "time_out", "wait_url", "record",
    "recording_channels", "recording_format", "custom_field", "status_callback",
    "status_callback_events", "status_callback_content_type", "stream_url", "extra_params",
)  # fmt: skip
CALL_FLOW_KEYS = (
    "to", "app_id", "caller_id", "url", "call_type", "time_limit", "time_out", "custom_field",
    "status_callback", "status_callback_events", "status_callback_content_type", "record",
    "extra_params",
)  # fmt: skip
SEND_SMS_KEYS = (
    "from_", "to", "body", "priority", "status_callback", "status_callback_content_type",
    "encoding_type", "dlt_entity_id", "dlt_template_id", "sms_type", "custom_field",
    "shorten_url", "extra_params",
)  # fmt: skip


def seed_kwargs(method: str, mapping: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """Turn a PHP-style array (``{"from": ..., "caller_id": ...}``) into keyword arguments."""
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        name = _SEED_KEYS.get(key, key)
        if name not in allowed:
            raise InsufficientParametersError(
                f"{method}() got unknown key {key!r}; known keys: "
                + ", ".join(sorted(k.rstrip("_") if k == "from_" else k for k in allowed))
            )
        kwargs[name] = value
    return kwargs


def no_mixing(method: str, *others: Any) -> None:
    """A verb takes the seed's mapping or keyword arguments, never both."""
    if any(value is not None for value in others):
        raise InsufficientParametersError(
            f"{method}() takes either one mapping of the PHP seed's keys or keyword arguments, not both"
        )


def as_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A list argument that may come as one comma-separated string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


def dedupe(items: list[_T]) -> list[_T]:
    """``items`` without repeats, in their first order."""
    return list(dict.fromkeys(items))
