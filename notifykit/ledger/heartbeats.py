"""The heartbeats' store (table ``heartbeats``, schema 7): when each dead-man's switch was first
configured, when it last beat, and whether its missed alert is raised. It stores; it decides
nothing (:mod:`notifykit.pipeline.heartbeats` decides).

The state moves only by compare-and-set (:meth:`HeartbeatStore.mark`): several workers ticking at
once, or several ``serve`` processes watching the workers, change a row once. The same table keeps
the watch of the workers themselves under the name :data:`WORKERS` (no config name can be it:
config names start with a letter or ``_``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from notifykit.ledger.rows import fetch

if TYPE_CHECKING:
    from notifykit.ledger.state import Database

__all__ = ["MISSED", "OK", "WORKERS", "HeartbeatRow", "HeartbeatStore"]

#: the row ``notifykit serve`` keeps for the workers' own heartbeat
WORKERS = "@workers"
OK = "ok"
MISSED = "missed"


@dataclass(frozen=True)
class HeartbeatRow:
    """One heartbeat as stored."""

    name: str
    #: when this ledger first saw it configured (a heartbeat never beaten counts from then)
    first_seen: float
    last_beat: float | None
    beats: int
    #: ``ok`` or ``missed`` (its missed alert raised and not resolved yet)
    state: str
    #: the time the missed alert counted from (its last beat, or ``first_seen``)
    missed_since: float | None
    #: when ``state`` last changed
    changed: float | None

    @property
    def since(self) -> float:
        """What the next beat is due from: the last beat, or when it was first configured."""
        return self.last_beat if self.last_beat is not None else self.first_seen


class HeartbeatStore:
    """The ``heartbeats`` table of a ledger's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def configured(self, names: Iterable[str], now: float) -> None:
        """Note ``now`` as the first time these names were seen configured (kept if known)."""
        names = list(names)
        if not names:
            return
        with self._db.transaction("noting configured heartbeats") as cur:
            for name in names:
                self._db.execute(
                    cur,
                    "INSERT INTO heartbeats (name, first_seen, beats, state) VALUES (?, ?, 0, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    (name, now, OK),
                )

    def beat(self, name: str, now: float) -> None:
        """Record a beat of ``name`` at ``now`` (the latest beat wins)."""
        with self._db.transaction("recording a heartbeat") as cur:
            self._db.execute(
                cur,
                "INSERT INTO heartbeats (name, first_seen, last_beat, beats, state) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (name) DO UPDATE SET "
                "last_beat = CASE WHEN heartbeats.last_beat IS NULL "
                "OR heartbeats.last_beat < excluded.last_beat THEN excluded.last_beat "
                "ELSE heartbeats.last_beat END, beats = heartbeats.beats + 1",
                (name, now, now, OK),
            )

    def rows(self, names: Iterable[str] | None = None) -> dict[str, HeartbeatRow]:
        """The stored heartbeats (only ``names`` when given), by name."""
        wanted = None if names is None else list(names)
        if wanted == []:
            return {}
        query = (
            "SELECT name, first_seen, last_beat, beats, state, missed_since, changed "
            "FROM heartbeats"
        )
        params: tuple[str, ...] = ()
        if wanted is not None:
            query += " WHERE name IN " + self._db.placeholders(wanted)
            params = tuple(wanted)
        with self._db.reading("reading heartbeats") as cur:
            rows, c = fetch(self._db.execute(cur, query, params))
        return {
            str(r[c.name]): HeartbeatRow(
                name=str(r[c.name]),
                first_seen=float(r[c.first_seen]),
                last_beat=None if r[c.last_beat] is None else float(r[c.last_beat]),
                beats=int(r[c.beats]),
                state=str(r[c.state]),
                missed_since=None if r[c.missed_since] is None else float(r[c.missed_since]),
                changed=None if r[c.changed] is None else float(r[c.changed]),
            )
            for r in rows
        }

    def workers_seen(self, since: float) -> tuple[int, float | None]:
        """How many workers beat at ``since`` or later, and when any worker last beat
        (``None``: none ever did). Two aggregates of the ``workers`` table, no per-worker work
        (a run of the watch every few seconds)."""
        with self._db.reading("reading the workers' heartbeats") as cur:
            rows, c = fetch(
                self._db.execute(
                    cur,
                    "SELECT COUNT(CASE WHEN heartbeat >= ? THEN 1 END) AS live, "
                    "MAX(heartbeat) AS last FROM workers",
                    (since,),
                )
            )
        live, last = rows[0][c.live], rows[0][c.last]
        return int(live or 0), None if last is None else float(last)

    def mark(
        self,
        name: str,
        *,
        was: str,
        state: str,
        missed_since: float | None,
        now: float,
        was_since: float | None = None,
    ) -> bool:
        """Compare-and-set: ``name`` goes from ``was`` (and, when given, the ``missed_since`` it
        had: ``was_since``) to ``state``; ``False`` when another process changed it first."""
        query = (
            "UPDATE heartbeats SET state = ?, missed_since = ?, changed = ? "
            "WHERE name = ? AND state = ?"
        )
        params: tuple[object, ...] = (state, missed_since, now, name, was)
        if was_since is not None:
            query += " AND missed_since = ?"
            params += (was_since,)
        with self._db.transaction("changing a heartbeat's state") as cur:
            return int(self._db.execute(cur, query, params).rowcount) == 1
