"""Short plain-text summaries of alerts, for SMS bodies and speech: the Jinja filters the shipped
``default`` templates are written with, registered in every template environment so a
deployment's own templates can use them too.

An SMS someone is woken up by is one line of GSM-7 text that fits one part (160 septets): the
severity, the event, where (the host-like labels), what (a message, or the data's plain values)
and an ack link. These functions choose and shorten those pieces; none of them ever shows a
Python ``repr`` of a dict or a list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from notifykit.text.sms import GSM7_BASIC, GSM7_EXTENSION

__all__ = [
    "HOST_LABELS",
    "SMS_SEPTETS",
    "alert_line",
    "fit",
    "gsm7",
    "host_labels",
    "join_fit",
    "scalars",
    "sms_length",
]

SMS_SEPTETS = 160
"""What one GSM-7 SMS holds; a longer body is sent (and billed) as parts of 153."""

HOST_LABELS: tuple[str, ...] = (
    "host",
    "hostname",
    "instance",
    "node",
    "pod",
    "container",
    "service",
    "job",
    "namespace",
    "cluster",
    "region",
    "zone",
    "env",
    "environment",
)
"""The labels that say *where* something happened, in the order a summary shows them. Others
(``location``, ``logger``, ``alertname``...) are for routing and stay out of the text."""

# Characters people paste that GSM-7 lacks, and what reads the same in it.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "*",
        "\u00b7": ".",
        "\u20b9": "Rs",
    }
)
_GSM7 = GSM7_BASIC | GSM7_EXTENSION
_SPACES = re.compile(r"\s+")
_ELLIPSIS = "..."


def gsm7(value: Any) -> str:
    """Jinja filter: ``value`` as one line of GSM-7 text, so a body costs 160 characters a part
    instead of UCS-2's 70. Runs of white space (newlines included) become one space; curly quotes,
    dashes and the ellipsis become their plain forms; an accented letter GSM-7 lacks loses its
    accent (``ć`` → ``c``); anything else (other scripts, emoji) becomes ``?``.

    >>> gsm7("“disk”\\nfull – 95%")
    '"disk" full - 95%'
    """
    text = _SPACES.sub(" ", str(value).translate(_FOLD)).strip()
    if set(text) <= _GSM7:
        return text
    out = []
    for char in text:
        if char in _GSM7:
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if c in _GSM7)
        out.append(base or "?")
    return "".join(out)


def sms_length(value: Any) -> int:
    """Jinja filter: what the network counts of ``value`` as GSM-7 (a character of the extension
    table, such as ``[`` or ``€``, counts two; anything else one)."""
    text = str(value)
    return len(text) + sum(text.count(c) for c in GSM7_EXTENSION & set(text))


def fit(value: Any, width: int = SMS_SEPTETS, end: str = _ELLIPSIS) -> str:
    """Jinja filter: ``value`` cut to at most ``width`` septets (:func:`sms_length`), at a word
    boundary near the end when there is one, ending in ``end``; unchanged when it fits. Nothing is
    left when not even a word and ``end`` fit (``width`` may come out of arithmetic below zero).
    """
    text = str(value)
    if sms_length(text) <= width:
        return text
    room = width - sms_length(end)
    if room < 4:
        return ""
    head, used = text, 0
    for cut, char in enumerate(text):
        used += 2 if char in GSM7_EXTENSION else 1
        if used > room:
            head = text[:cut]
            break
    space = head.rfind(" ")
    if space >= len(head) * 2 // 3:
        head = head[:space]
    return head.rstrip(" ,;:-") + end


def _plain(value: Any) -> str | None:
    """A value as readable text, or ``None`` when it is no plain scalar (a mapping, a list, None,
    a multi-line string, an object)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal, date, datetime, time)):
        return str(value)
    if isinstance(value, str) and value.strip() and "\n" not in value.strip():
        return gsm7(value)
    return None


def host_labels(labels: Any, eq: str = "=", sep: str = " ") -> str:
    """Jinja filter: the :data:`HOST_LABELS` among ``labels`` as ``host=db1 service=db`` (in that
    order; ``eq`` and ``sep`` join them: ``host_labels(" ", ", ")`` reads ``host db1, service db``
    for speech). Empty when there are none, or ``labels`` is no mapping."""
    if not isinstance(labels, Mapping):
        return ""
    parts = []
    for name in HOST_LABELS:
        text = _plain(labels.get(name))
        if text:
            parts.append(f"{name}{eq}{text}")
    return sep.join(parts)


def scalars(data: Any, eq: str = "=", sep: str = " ") -> str:
    """Jinja filter: the plain values of a mapping as ``version=1.2 build=42``, in its order:
    strings of one line, numbers, booleans, dates. Dicts, lists, ``None`` and multi-line text
    (a traceback) are left out: a message never shows a ``repr``."""
    if not isinstance(data, Mapping):
        return ""
    parts = []
    for key, value in data.items():
        text = _plain(value)
        if text:
            parts.append(f"{gsm7(key)}{eq}{text}")
    return sep.join(parts)


def alert_line(alert: Any, event: bool = True, status: bool = True) -> str:
    """Jinja filter: one alert of a digest (``alerts``) as ``db.down host=db1``: its event (left
    out with ``event=false``, when every alert of the digest has the same), its host-like labels,
    and ``resolved`` when it is (left out with ``status=false``)."""
    if not isinstance(alert, Mapping):
        return gsm7(alert)
    parts = [gsm7(alert.get("event", ""))] if event else []
    parts.append(host_labels(alert.get("labels")))
    if status and alert.get("status") == "resolved":
        parts.append("resolved")
    return " ".join(p for p in parts if p)


def join_fit(items: Iterable[Any], width: int, sep: str = "; ") -> str:
    """Jinja filter: ``items`` joined by ``sep``, as many as fit in ``width`` septets, then
    ``+N more`` for the rest (room for it is kept): ``db1; db2; +3 more``."""
    texts = [str(i) for i in items]
    shown: list[str] = []
    used = 0
    for index, text in enumerate(texts):
        cost = (sms_length(sep) if shown else 0) + sms_length(text)
        left = len(texts) - index - 1
        reserve = sms_length(f"{sep}+{left} more") if left else 0
        if used + cost + reserve > width:
            break
        shown.append(text)
        used += cost
    left = len(texts) - len(shown)
    return sep.join([*shown, f"+{left} more"] if left else shown)
