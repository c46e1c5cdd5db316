"""The audit trail (schema version 4): who acknowledged, resolved or escalated what, when, and
through which path — one row per action, written by :meth:`Unit.audit
<notifykit.ledger.state.Unit.audit>` in the transaction of the action itself, so an action and
its row commit together or not at all.

A row is an action name, an :class:`Acting` (the path it came through and the person acting,
when known), a target (the alert key, the escalation, its policy... as a JSON object) and a
detail. None of these is an enumeration in the schema: an action or a path to come (a snooze, a
silence, a keypress, the web) is a new word, not a migration.

No phone number is kept: every number-like run in the actor, the detail and the target's
free-text values is masked to its last four digits (:func:`mask_numbers`) before it is written,
whoever wrote it. Nothing secret is ever handed to it (never an ack link's token, nor a text
sent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from notifykit.ledger.rows import Columns

__all__ = [
    "ACKNOWLEDGED",
    "ACTIONS",
    "API",
    "ESCALATED",
    "OVERRIDDEN",
    "OVERRIDE_CANCELLED",
    "PATHS",
    "REOPENED",
    "RESOLVED",
    "RESUMED",
    "SILENCE_CREATED",
    "SILENCE_EXPIRED",
    "SNOOZED",
    "SYSTEM",
    "Acting",
    "AuditRecord",
    "mask_numbers",
]

#: the actions recorded today; a new one is a new word (``snoozed``, ``silenced``, ``overridden``)
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
ESCALATED = "escalated"
#: a silence made, or expired early (issue 17)
SILENCE_CREATED = "silence-created"
SILENCE_EXPIRED = "silence-expired"
#: an acknowledged escalation re-opened by its ``ack_timeout``; a snoozed one, and resumed
REOPENED = "reopened"
SNOOZED = "snoozed"
RESUMED = "resumed"
#: an on-call override made at run time (someone covers a schedule), or cancelled
OVERRIDDEN = "overridden"
OVERRIDE_CANCELLED = "override-cancelled"
ACTIONS = (
    ACKNOWLEDGED,
    RESOLVED,
    ESCALATED,
    SILENCE_CREATED,
    SILENCE_EXPIRED,
    REOPENED,
    SNOOZED,
    RESUMED,
    OVERRIDDEN,
    OVERRIDE_CANCELLED,
)

#: the paths an action comes through today: the command line, the Python API, an ack link, an
#: answered call, a key pressed on a call, a missed call to the provider's number, Alertmanager's
#: webhook, notifykit itself (a step failed: the next goes out now); a provider's plugin may name
#: its own (the Exotel plugin's ``whatsapp``: a tap on a WhatsApp message's Acknowledge button)
PATHS = (
    "cli",
    "api",
    "link",
    "call",
    "keypress",
    "missed-call",
    "whatsapp",
    "alertmanager",
    "system",
)

_WORD = re.compile(r"[a-z][a-z0-9_-]{0,39}")
# A run of 8 to 15 digits, with the separators people write numbers with: a phone number
# (E.164 has at most 15 digits), not an alert's short numbers (``pct=95``) nor a word's digits.
_NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[ ().-]{0,2}\d){7,14}(?![\w])")
#: target values kept as they are: ids made by notifykit, never a person's number
_IDS = frozenset({"bundle", "delivery", "escalation", "notification", "silence"})


@dataclass(frozen=True)
class Acting:
    """Who acts, and through which path: ``Acting("cli", "asha")``. ``actor`` is the person
    (``None``: not known, or nobody: the system)."""

    path: str
    actor: str | None = None

    def __post_init__(self) -> None:
        if not _WORD.fullmatch(self.path):
            raise ValueError(
                f"an audit path is a lowercase word (such as {', '.join(PATHS)}), not {self.path!r}"
            )

    def by(self, actor: str | None) -> Acting:
        """The same path with ``actor`` acting (unchanged when ``actor`` is ``None`` or
        blank)."""
        actor = (actor or "").strip()
        return replace(self, actor=actor) if actor else self


#: notifykit itself, nobody named
SYSTEM = Acting("system")
#: the Python API, nobody named
API = Acting("api")


@dataclass(frozen=True)
class AuditRecord:
    """One action of the audit trail: ``at`` (epoch seconds), ``action`` (``acknowledged``,
    ``resolved``, ``escalated``...), ``path`` (``cli``, ``api``, ``link``, ``call``,
    ``alertmanager``, ``system``...), ``actor`` (the person, when known), ``target`` (``key``:
    the alert key a report shows; ``alert``: the alert's own key when it differs; ``receiver``,
    ``escalation``, ``policy``, ``step``...) and ``detail``."""

    at: float
    action: str
    path: str
    actor: str | None
    target: Mapping[str, str] = field(default_factory=dict, hash=False)
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``notifykit audit --json`` shape: ``at`` in ISO 8601 (UTC)."""
        return {
            "at": datetime.fromtimestamp(self.at, timezone.utc).isoformat(),
            "action": self.action,
            "path": self.path,
            "actor": self.actor,
            "target": dict(self.target),
            "detail": self.detail,
        }


def mask_numbers(text: str) -> str:
    """``text`` with every phone-number-like run masked to its last four digits:
    ``+919876543210`` becomes ``+********3210``."""

    def mask(match: re.Match[str]) -> str:
        number = match.group()
        digits = re.sub(r"\D", "", number)
        return ("+" if number.startswith("+") else "") + "*" * (len(digits) - 4) + digits[-4:]

    return _NUMBER.sub(mask, text)


def _masked(text: str | None) -> str | None:
    return None if text is None else mask_numbers(text)


_COLUMNS = "at, action, path, actor, target, detail"


def insert(
    execute: Any,
    action: str,
    acting: Acting,
    target: Mapping[str, object],
    at: float,
    detail: str | None = None,
) -> AuditRecord:
    """Write one row with ``execute(statement, params)`` (a unit of work's); returns it as
    stored (masked)."""
    if not _WORD.fullmatch(action):
        raise ValueError(f"an audit action is a lowercase word, not {action!r}")
    kept = {
        str(name): str(value) if name in _IDS else mask_numbers(str(value))
        for name, value in target.items()
        if value is not None and value != ""
    }
    record = AuditRecord(at, action, acting.path, _masked(acting.actor), kept, _masked(detail))
    execute(
        "INSERT INTO audit (at, action, path, actor, key_text, escalation_id, target, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.at,
            record.action,
            record.path,
            record.actor,
            kept.get("key"),
            kept.get("escalation"),
            json.dumps(kept, separators=(",", ":"), ensure_ascii=False, sort_keys=True),
            record.detail,
        ),
    )
    return record


def select(since: float | None, limit: int) -> tuple[str, tuple[Any, ...]]:
    """The query of the newest ``limit`` rows at or after ``since``, and its parameters."""
    where = "" if since is None else "WHERE at >= ? "
    params: tuple[Any, ...] = () if since is None else (since,)
    return (
        f"SELECT id, {_COLUMNS} FROM audit {where}ORDER BY at DESC, id DESC LIMIT ?",
        (*params, limit),
    )


def records(rows: Sequence[Any], c: Columns) -> list[AuditRecord]:
    """Rows of :func:`select` as records, oldest first."""
    out = [
        AuditRecord(
            at=r[c.at],
            action=r[c.action],
            path=r[c.path],
            actor=r[c.actor],
            target=json.loads(r[c.target]),
            detail=r[c.detail],
        )
        for r in rows
    ]
    out.reverse()
    return out
