"""The alert routing sees, and its key.

An :class:`Alert` is an event name, a severity, labels (what routes match and what identifies the
alert) and data (what templates render, never matched). Its *label set* is its labels plus
``event`` and ``severity``. Its :class:`AlertKey` names it for dedup, grouping, ``ack`` and
``resolve``: by default the event plus every label (``db.down{host=db1,service=pg}``), narrowed to
a route's ``group_by`` labels, or exactly the ``key=`` the caller gave.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from notifykit.model import SEVERITIES

__all__ = ["ALL_LABELS", "RESERVED_LABELS", "Alert", "AlertKey"]

#: ``group_by: ['...']``: every label (the default key)
ALL_LABELS = "..."
#: label names an alert sets itself; ``labels=`` may not use them
RESERVED_LABELS = frozenset({"event", "severity"})

#: keys longer than this are shown shortened, with a hash that keeps them unique
MAX_KEY_DISPLAY = 80
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.:/@+-]+")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class AlertKey:
    """The identity of an alert within a route: what dedup, grouping, ``ack`` and ``resolve`` use.

    ``text`` is the canonical form (stable across processes and versions: labels sorted, values
    quoted only when they need it); ``digest`` 16 hex digits of its SHA-256; ``str(key)`` is
    ``text`` when it is short, else its first characters, ``~`` and the digest
    (``db.down{host=db1,...}~3f2a...``), still unique and safe to paste after ``notifykit ack``.
    """

    text: str
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]
        object.__setattr__(self, "digest", digest)

    @property
    def short(self) -> str:
        if len(self.text) <= MAX_KEY_DISPLAY:
            return self.text
        return self.text[: MAX_KEY_DISPLAY - 17] + "~" + self.digest

    def __str__(self) -> str:
        return self.short

    def matches(self, given: str) -> bool:
        """Whether ``given`` (what a person typed after ``ack``) names this key: its full text,
        its short form, or its digest (at least 8 leading hex digits)."""
        given = given.strip()
        if given in (self.text, self.short):
            return True
        return len(given) >= 8 and self.digest.startswith(given.lower())

    @classmethod
    def build(cls, event: str | None, labels: Mapping[str, str]) -> AlertKey:
        """The canonical key of ``event`` (``None``: not part of it) and ``labels``."""
        inner = ",".join(f"{_name(k)}={_value(labels[k])}" for k in sorted(labels))
        head = event or ""
        if not inner:
            return cls(head or "{}")
        return cls(f"{head}{{{inner}}}")


def _name(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else _json_quote(name)


def _value(value: str) -> str:
    return value if _PLAIN_VALUE.fullmatch(value) else _json_quote(value)


def _json_quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Alert:
    """One alert as routing sees it.

    :param event: the event name (``db.down``); the label ``event``.
    :param severity: one of :data:`~notifykit.channels.SEVERITIES`; the label ``severity``.
    :param labels: what routes match and the default key is made of (strings to strings).
    :param data: what templates render (any values); never matched, never part of the key.
    :param key: an explicit key, overriding the labels (and any ``group_by``).
    :param resolved: the condition is over: pending escalation stops, ``send_resolved`` routes
        send a resolved message.
    :param idempotency_key: identifies one submission (Alertmanager: fingerprint + startsAt), so a
        retried webhook is processed once.
    :param timeout: seconds the alert stays firing after it was last raised, unless resolved
        (``None``: the config's ``resolve_timeout``, 5m by default). ``NotifyHandler`` gives its
        records its ``repeat_interval``: a logged error has no "resolved" signal.
    :raises ValueError: an unknown severity, an empty event, a reserved or non-string label.
    """

    event: str
    severity: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    data: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    key: str | None = None
    resolved: bool = False
    idempotency_key: str | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event.strip():
            raise ValueError("an alert needs an event name (a non-empty string)")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity {self.severity!r} is not one of {', '.join(SEVERITIES)}: pass one of them"
            )
        labels: dict[str, str] = {}
        for name, value in dict(self.labels).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"label names must be non-empty strings, got {name!r}")
            if name in RESERVED_LABELS:
                raise ValueError(
                    f"label {name!r} is set from the alert itself: pass it as {name}=..., "
                    "not in labels"
                )
            if not isinstance(value, str):
                raise ValueError(
                    f"label {name!r} must be a string, got {type(value).__name__}: "
                    f"write str(...) (labels are matched as text)"
                )
            labels[name] = value
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "data", dict(self.data))
        if self.key is not None and (not isinstance(self.key, str) or not self.key.strip()):
            raise ValueError("key= must be a non-empty string (or None for the default key)")

    @property
    def label_set(self) -> dict[str, str]:
        """What matchers see: the labels plus ``event`` and ``severity``."""
        return {**self.labels, "event": self.event, "severity": self.severity}

    def key_for(self, group_by: Iterable[str] | None = None) -> AlertKey:
        """The alert's key under a route's ``group_by``.

        ``None`` or ``['...']``: the event plus every label. Otherwise the listed labels present
        in the label set (``event`` is the prefix when listed). ``key=`` overrides both.
        """
        if self.key is not None:
            return AlertKey(self.key)
        names = None if group_by is None else tuple(group_by)
        if names is None or ALL_LABELS in names:
            return AlertKey.build(self.event, self.labels)
        label_set = self.label_set
        picked = {n: label_set[n] for n in names if n != "event" and n in label_set}
        return AlertKey.build(self.event if "event" in names else None, picked)

    def with_labels(self, **labels: str) -> Alert:
        """A copy with more (or changed) labels."""
        return Alert(
            self.event,
            self.severity,
            {**self.labels, **labels},
            self.data,
            key=self.key,
            resolved=self.resolved,
            idempotency_key=self.idempotency_key,
            timeout=self.timeout,
        )
