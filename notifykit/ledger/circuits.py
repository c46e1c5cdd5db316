"""The circuit breakers' store (table ``circuits``, schema 10): one row per provider account key
(``exotel:main``), in state ``closed``, ``open`` or ``half_open``. It stores and compares; when
to open, probe and close is decided by :mod:`notifykit.delivery.circuit`.

Every change is one transaction that reads the row under a lock (``FOR UPDATE`` in PostgreSQL,
``BEGIN IMMEDIATE`` in SQLite) or updates it only where it still is what the caller saw
(compare-and-set), so the processes sharing a ledger agree: failures are counted once each, and
only one process takes the probe of an open circuit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notifykit.ledger.rows import fetch

if TYPE_CHECKING:
    from notifykit.ledger.state import Database

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "CircuitRow", "CircuitStore"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

_COLUMNS = (
    "key, state, failures, window_start, opened_at, reopen_at, probe_owner, probe_until, "
    "last_error, updated"
)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class CircuitRow:
    """One account's circuit as stored."""

    key: str
    #: ``closed``, ``open`` or ``half_open`` (a probe is out)
    state: str
    #: provider-side failures counted in the window starting at ``window_start``
    failures: int
    window_start: float | None
    #: when it last opened
    opened_at: float | None
    #: when the cool-down ends and a probe may go out
    reopen_at: float | None
    #: who took the probe (a lease owner: a worker's name, notify()'s owner)
    probe_owner: str | None
    #: until when the probe is that owner's (past it, another may take it over)
    probe_until: float | None
    #: the error of the last failure counted (already scrubbed)
    last_error: str | None
    updated: float


class CircuitStore:
    """The ``circuits`` table of a ledger's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _rows(self, cur: Any, key: str | None, lock: str = "") -> list[CircuitRow]:
        query = f"SELECT {_COLUMNS} FROM circuits"
        params: tuple[str, ...] = ()
        if key is not None:
            query += " WHERE key = ?"
            params = (key,)
        else:
            query += " ORDER BY key"
        rows, c = fetch(self._db.execute(cur, query + (f" {lock}" if lock else ""), params))
        return [
            CircuitRow(
                key=str(r[c.key]),
                state=str(r[c.state]),
                failures=int(r[c.failures]),
                window_start=_float(r[c.window_start]),
                opened_at=_float(r[c.opened_at]),
                reopen_at=_float(r[c.reopen_at]),
                probe_owner=None if r[c.probe_owner] is None else str(r[c.probe_owner]),
                probe_until=_float(r[c.probe_until]),
                last_error=None if r[c.last_error] is None else str(r[c.last_error]),
                updated=float(r[c.updated]),
            )
            for r in rows
        ]

    def get(self, key: str) -> CircuitRow | None:
        """The circuit of ``key`` (``None``: never a failure counted, so closed)."""
        with self._db.reading("reading a circuit") as cur:
            found = self._rows(cur, key)
        return found[0] if found else None

    def rows(self) -> list[CircuitRow]:
        """Every stored circuit, by key."""
        with self._db.reading("reading the circuits") as cur:
            return self._rows(cur, None)

    def count_failure(
        self,
        key: str,
        now: float,
        *,
        window: float,
        threshold: int,
        cool_down: float,
        error: str | None,
    ) -> tuple[CircuitRow, bool]:
        """Count one provider-side failure of ``key`` at ``now``: in the current window, or as
        the first of a new one when the window is over. A closed circuit that reaches
        ``threshold`` opens until ``now + cool_down``. Returns the row after, and whether this
        call opened it. An open or half-open circuit is left as it is (a send that started
        before it opened; the probe's own result is :meth:`reopen`'s)."""
        with self._db.transaction("counting a circuit failure") as cur:
            self._db.execute(
                cur,
                "INSERT INTO circuits (key, state, failures, updated) VALUES (?, ?, 0, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, CLOSED, now),
            )
            [row] = self._rows(cur, key, self._db.row_lock)
            if row.state != CLOSED:
                return row, False
            if row.window_start is None or now - row.window_start > window or row.failures <= 0:
                failures, start = 1, now
            else:
                failures, start = row.failures + 1, row.window_start
            opened = failures >= threshold
            if opened:
                self._db.execute(
                    cur,
                    "UPDATE circuits SET state = ?, failures = ?, window_start = ?, "
                    "opened_at = ?, reopen_at = ?, probe_owner = NULL, probe_until = NULL, "
                    "last_error = ?, updated = ? WHERE key = ?",
                    (OPEN, failures, start, now, now + cool_down, error, now, key),
                )
            else:
                self._db.execute(
                    cur,
                    "UPDATE circuits SET failures = ?, window_start = ?, last_error = ?, "
                    "updated = ? WHERE key = ?",
                    (failures, start, error, now, key),
                )
            [after] = self._rows(cur, key)
        return after, opened

    def reset(self, key: str, now: float) -> bool:
        """A success of a closed circuit: its failures are forgotten. ``False`` when there was
        nothing to forget (or it is not closed)."""
        with self._db.transaction("resetting a circuit") as cur:
            changed = self._db.execute(
                cur,
                "UPDATE circuits SET failures = 0, window_start = NULL, updated = ? "
                "WHERE key = ? AND state = ? AND failures > 0",
                (now, key, CLOSED),
            ).rowcount
        return int(changed) == 1

    def take_probe(
        self, key: str, owner: str, now: float, until: float, *, was: CircuitRow
    ) -> bool:
        """Compare-and-set: ``owner`` takes the probe of ``key`` until ``until``, if the circuit
        is still as ``was`` saw it: open with its cool-down over, or half-open with a probe
        whose time ran out (its taker died). ``False``: another process took it first."""
        with self._db.transaction("taking a circuit's probe") as cur:
            if was.state == OPEN:
                changed = self._db.execute(
                    cur,
                    "UPDATE circuits SET state = ?, probe_owner = ?, probe_until = ?, "
                    "updated = ? WHERE key = ? AND state = ? AND reopen_at <= ?",
                    (HALF_OPEN, owner, until, now, key, OPEN, now),
                ).rowcount
            else:
                changed = self._db.execute(
                    cur,
                    "UPDATE circuits SET probe_owner = ?, probe_until = ?, updated = ? "
                    "WHERE key = ? AND state = ? AND probe_until = ? AND probe_until < ?",
                    (owner, until, now, key, HALF_OPEN, was.probe_until, now),
                ).rowcount
        return int(changed) == 1

    def close(self, key: str, owner: str, now: float) -> bool:
        """Compare-and-set: ``owner``'s probe succeeded, the circuit closes (failures
        forgotten). ``False`` when the probe was no longer ``owner``'s."""
        with self._db.transaction("closing a circuit") as cur:
            changed = self._db.execute(
                cur,
                "UPDATE circuits SET state = ?, failures = 0, window_start = NULL, "
                "probe_owner = NULL, probe_until = NULL, updated = ? "
                "WHERE key = ? AND state = ? AND probe_owner = ?",
                (CLOSED, now, key, HALF_OPEN, owner),
            ).rowcount
        return int(changed) == 1

    def reopen(self, key: str, owner: str, now: float, reopen_at: float, error: str | None) -> bool:
        """Compare-and-set: ``owner``'s probe failed (or decided nothing: then ``reopen_at`` is
        ``now`` and the next sender probes), the circuit is open again until ``reopen_at``."""
        with self._db.transaction("reopening a circuit") as cur:
            changed = self._db.execute(
                cur,
                "UPDATE circuits SET state = ?, opened_at = COALESCE(?, opened_at), "
                "reopen_at = ?, probe_owner = NULL, probe_until = NULL, "
                "last_error = COALESCE(?, last_error), updated = ? "
                "WHERE key = ? AND state = ? AND probe_owner = ?",
                (
                    OPEN,
                    now if reopen_at > now else None,
                    reopen_at,
                    error,
                    now,
                    key,
                    HALF_OPEN,
                    owner,
                ),
            ).rowcount
        return int(changed) == 1
