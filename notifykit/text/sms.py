"""SMS text analysis: encoding, length and segment counts, and a provider's length limit.
(India's DLT rules, which only Indian providers apply, are :mod:`notifykit.india`.)

Pure functions on strings, independent of any provider and of Jinja, so a template can be checked
before anything is sent (and in tests, and from the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from notifykit.errors import MessageTooLongError

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SmsInfo",
    "analyze_sms",
    "check_length",
    "template_label",
]

# GSM 03.38 (3GPP TS 23.038) default alphabet, in code-point order 0x00-0x7F. 0x1B is the escape to
# the extension table, not a character anyone can send, so it is left out of the set.
_GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM7_BASIC: frozenset[str] = frozenset(_GSM7_BASIC_TABLE) - {"\x1b"}
"""Characters of the GSM-7 basic set: each costs one septet."""

GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")
"""Characters of the GSM-7 extension table: each is sent as ESC + code, so it costs two septets."""

_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

# Single-message capacity, and the capacity of each part of a concatenated message (the rest of the
# 140 octets goes to the 6-octet user-data header that tells the handset how to reassemble it).
_GSM7_SINGLE, _GSM7_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsInfo:
    """What an SMS body costs on the network.

    ``length`` counts what the network counts: GSM-7 septets (an extension character such as ``€``
    or ``[`` counts 2) or UCS-2 UTF-16 code units (a character outside the Basic Multilingual Plane,
    such as most emoji, counts 2). ``chars`` is ``len(body)`` in Python characters, which is what
    Exotel's 2000-character ``Body`` limit is measured in.
    """

    encoding: Literal["GSM-7", "UCS-2"]
    length: int
    segments: int
    chars: int


_NOT_GSM7 = (
    "the body has characters outside the GSM-7 alphabet, so it cannot be sent as GSM-7: "
    "leave the encoding unset (it is worked out) or ask for UCS-2"
)


def _count_segments(costs: list[int], single: int, part: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # Handsets and SMSCs never split an escape sequence or a surrogate pair across two parts, so a
    # two-unit character that would straddle a boundary starts the next part; this can cost one
    # part more than ceil(total / part).
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return segments


def analyze_sms(body: str, *, encoding: Literal["GSM-7", "UCS-2"] | None = None) -> SmsInfo:
    """Work out the encoding, network length and number of parts of an SMS body.

    A body is GSM-7 when every character is in the GSM 03.38 basic set or its extension table;
    anything else (Devanagari and the other Indian scripts, emoji, curly quotes, the backtick)
    makes the whole message UCS-2. A message fits one SMS up to 160 septets or 70 UCS-2 units;
    longer ones are sent in parts of 153 septets or 67 units. An empty body has 0 segments.
    ``encoding="UCS-2"`` counts a body as UCS-2 even when it would fit GSM-7 (what Exotel does
    with ``EncodingType=unicode``); ``"GSM-7"`` for a body that does not fit raises
    :class:`ValueError`.

    >>> analyze_sms("Disk 91% full on db-1")
    SmsInfo(encoding='GSM-7', length=21, segments=1, chars=21)
    >>> analyze_sms("सर्वर डाउन है").encoding
    'UCS-2'
    """
    # Counted with set operations and str.count (a body has few distinct characters); the cost
    # of each character is listed only for a body long enough to be split into parts.
    used = set(body)
    fits_gsm7 = used <= _GSM7_ALL
    if encoding == "GSM-7" and not fits_gsm7:
        raise ValueError(_NOT_GSM7)
    chosen: Literal["GSM-7", "UCS-2"]
    if encoding != "UCS-2" and fits_gsm7:
        # an extension character is sent as ESC + code: two septets
        chosen, single, part, doubled = "GSM-7", _GSM7_SINGLE, _GSM7_PART, used & GSM7_EXTENSION
    else:
        # a character outside the Basic Multilingual Plane is a UTF-16 surrogate pair
        astral = {c for c in used if ord(c) > 0xFFFF}
        chosen, single, part, doubled = "UCS-2", _UCS2_SINGLE, _UCS2_PART, astral
    length = len(body) + sum(body.count(c) for c in doubled)
    if length <= single:
        segments = 1 if length else 0
    else:
        segments = _count_segments([2 if c in doubled else 1 for c in body], single, part)
    return SmsInfo(encoding=chosen, length=length, segments=segments, chars=len(body))


def template_label(template: str | None) -> str:
    """How a message names the template an SMS was rendered from."""
    return f"template {template!r}" if template else "the SMS"


def check_length(body: str, *, limit: int, template: str | None = None) -> None:
    """Raise :class:`~notifykit.errors.MessageTooLongError` when ``body`` has more than ``limit``
    characters (Python characters; a provider's limit, such as Exotel's 2000)."""
    if len(body) > limit:
        source = f"The SMS rendered from {template_label(template)}" if template else "The SMS"
        raise MessageTooLongError(
            f"{source} is {len(body)} characters long, over the limit of {limit}: shorten the "
            "template, or cut long values in it (for example with Jinja's truncate filter: "
            "{{ data.details|truncate(200) }}).",
            template=template,
        )
