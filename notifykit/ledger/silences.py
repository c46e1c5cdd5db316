"""The silences table (schema version 6): Alertmanager's silences, stored. It stores; the
pipeline's silence stage decides (:mod:`notifykit.routing.silences`).

Each function takes ``execute(statement, params)``, a unit of work's or a read transaction's,
so a silence made or expired commits with its row of the audit trail.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from notifykit.ledger.rows import Columns, fetch, find_by_id
from notifykit.routing.matchers import Matcher, parse_matcher
from notifykit.routing.silences import Silence

__all__ = ["expire", "find", "insert", "select"]

_COLUMNS = "id, matchers, starts_at, ends_at, comment, created_by, created_at, expired_by"


def insert(
    execute: Any,
    matchers: Sequence[Matcher],
    starts_at: float,
    ends_at: float,
    comment: str,
    created_by: str | None,
    now: float,
) -> Silence:
    """Store a new silence; returns it (its id is a random UUID, as Alertmanager's)."""
    silence = Silence(
        str(uuid.uuid4()), tuple(matchers), starts_at, ends_at, comment, created_by, now
    )
    execute(
        f"INSERT INTO silences ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
        (
            silence.id,
            json.dumps([str(m) for m in silence.matchers], ensure_ascii=False),
            starts_at,
            ends_at,
            comment,
            created_by,
            now,
        ),
    )
    return silence


def select(execute: Any, *, ending_after: float | None = None, limit: int = 1000) -> list[Silence]:
    """Silences, newest first; ``ending_after``: only those ending after then (the pending and
    active ones at that moment)."""
    where = "" if ending_after is None else "WHERE ends_at > ? "
    params: tuple[Any, ...] = () if ending_after is None else (ending_after,)
    rows, c = fetch(
        execute(
            f"SELECT {_COLUMNS} FROM silences {where}ORDER BY created_at DESC, id LIMIT ?",
            (*params, limit),
        )
    )
    return _silences(rows, c)


def find(execute: Any, given: str) -> list[Silence]:
    """The silences whose id is ``given`` or starts with it (at least 4 characters)."""
    return find_by_id(execute, "silences", _COLUMNS, given, _silences)


def _silences(rows: Sequence[Any], c: Columns) -> list[Silence]:
    return [
        Silence(
            id=r[c.id],
            matchers=tuple(parse_matcher(m) for m in json.loads(r[c.matchers])),
            starts_at=r[c.starts_at],
            ends_at=r[c.ends_at],
            comment=r[c.comment],
            created_by=r[c.created_by],
            created_at=r[c.created_at],
            expired_by=r[c.expired_by],
        )
        for r in rows
    ]


def expire(execute: Any, silence: Silence, now: float, by: str | None) -> Silence:
    """End ``silence`` now (a pending one never starts: its start becomes now too)."""
    from dataclasses import replace

    starts_at = min(silence.starts_at, now)
    execute(
        "UPDATE silences SET starts_at = ?, ends_at = ?, expired_by = ? WHERE id = ?",
        (starts_at, now, by, silence.id),
    )
    return replace(silence, starts_at=starts_at, ends_at=now, expired_by=by)
