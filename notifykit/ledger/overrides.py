"""The on-call overrides made at run time (schema version 10): stored here; who is on call is
decided by the schedule (:mod:`notifykit.oncall`). Each function takes ``execute(statement,
params)``, a unit of work's or a read transaction's, so an override made or cancelled commits
with its row of the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from notifykit.ledger.rows import Columns, fetch, find_by_id
from notifykit.oncall.overrides import StoredOverride

__all__ = ["cancel", "find", "insert", "select"]

_COLUMNS = "id, schedule, who, starts_at, ends_at, comment, created_by, created_at, cancelled_by"


def insert(
    execute: Any,
    schedule: str,
    who: str,
    starts_at: float,
    ends_at: float,
    comment: str,
    created_by: str | None,
    now: float,
) -> StoredOverride:
    """Store a new override; returns it (its id is a random UUID)."""
    made = StoredOverride(
        str(uuid.uuid4()), schedule, who, starts_at, ends_at, comment, created_by, now
    )
    execute(
        f"INSERT INTO oncall_overrides ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (made.id, schedule, who, starts_at, ends_at, comment, created_by, now),
    )
    return made


def select(
    execute: Any,
    *,
    schedule: str | None = None,
    ending_after: float | None = None,
    limit: int = 1000,
) -> list[StoredOverride]:
    """Overrides in the order they were made (a later one wins); ``schedule``: of that one;
    ``ending_after``: only those ending after then."""
    terms: list[str] = []
    params: list[Any] = []
    if schedule is not None:
        terms.append("schedule = ?")
        params.append(schedule)
    if ending_after is not None:
        terms.append("ends_at > ?")
        params.append(ending_after)
    where = f"WHERE {' AND '.join(terms)} " if terms else ""
    rows, c = fetch(
        execute(
            f"SELECT {_COLUMNS} FROM oncall_overrides {where}ORDER BY created_at, id LIMIT ?",
            (*params, limit),
        )
    )
    return _overrides(rows, c)


def find(execute: Any, given: str) -> list[StoredOverride]:
    """The overrides whose id is ``given`` or starts with it (at least 4 characters)."""
    return find_by_id(execute, "oncall_overrides", _COLUMNS, given, _overrides)


def cancel(execute: Any, made: StoredOverride, now: float, by: str | None) -> StoredOverride:
    """End ``made`` now (one still to come never starts: its start becomes now too)."""
    starts_at = min(made.starts_at, now)
    execute(
        "UPDATE oncall_overrides SET starts_at = ?, ends_at = ?, cancelled_by = ? WHERE id = ?",
        (starts_at, now, by, made.id),
    )
    return replace(made, starts_at=starts_at, ends_at=now, cancelled_by=by)


def _overrides(rows: Sequence[Any], c: Columns) -> list[StoredOverride]:
    return [
        StoredOverride(
            id=r[c.id],
            schedule=r[c.schedule],
            who=r[c.who],
            starts_at=r[c.starts_at],
            ends_at=r[c.ends_at],
            comment=r[c.comment],
            created_by=r[c.created_by],
            created_at=r[c.created_at],
            cancelled_by=r[c.cancelled_by],
        )
        for r in rows
    ]
