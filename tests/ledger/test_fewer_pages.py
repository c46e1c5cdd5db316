"""Migration 12 (issue 20, fewer pages per notify()): a ledger made before it keeps every row,
its idempotency keys stay unique (PostgreSQL's schema is unchanged), and in SQLite the
notifications and attempts tables become ``WITHOUT ROWID`` with a partial index of keys; a SQLite ledger whose rows no longer refer to each other is refused, not
half-upgraded. Real SQLite files and real PostgreSQL schemas."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit.ledger import Ledger, LedgerError, Outcome, open_ledger
from notifykit.ledger.migrations import MIGRATIONS, render
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState

MakePlan = Callable[..., Plan]
LEASE = 30.0


def _as_version_11(location: str) -> None:
    """Turn a ledger made by this notifykit back into what version 11 left, its rows kept."""
    if location.startswith("postgresql"):  # version 12 changed nothing there
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version > 11")
        return
    # A new file made by migrations 1 to 11 as written, then every row of the ledger copied in.
    old = f"{location}.v11"
    db = sqlite3.connect(old, isolation_level=None)
    try:
        db.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
        )
        for version, script in MIGRATIONS[:11]:
            db.executescript(render(script, "sqlite"))
            db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
        db.execute("ATTACH DATABASE ? AS made", (location,))
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM made.sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'"
            )
        ]
        db.execute("BEGIN")
        for table in tables:
            columns = ", ".join(r[1] for r in db.execute(f"PRAGMA made.table_info({table})"))
            db.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM made.{table}")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE made")
    finally:
        db.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{location}{suffix}").unlink(missing_ok=True)
    Path(old).replace(location)


def _sqlite_schema(location: str) -> dict[str, str]:
    db = sqlite3.connect(location)
    try:
        return dict(db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        db.close()


def _version(ledger: Ledger) -> int:
    [row], c = ledger.routing._rows(
        "reading", "SELECT MAX(version) AS version FROM schema_migrations"
    )
    return int(row[c.version])


def _fill(ledger: Ledger, make_plan: MakePlan) -> tuple[Plan, Plan]:
    """A notification with a key, sent (an attempt recorded), and one without a key, pending."""
    keyed, keyless = make_plan(to="alice", key="k-1"), make_plan(to="alice")
    now = keyed.notification.created
    ids = [j.id for j in keyed.jobs]
    ledger.add(keyed, lease_owner="n1", lease_until=now + LEASE, sending=ids)
    ledger.record("n1", [Outcome(ids[0], DeliveryState.SENT, provider_id="sid-1")], now + 0.1)
    ledger.add(keyless)
    return keyed, keyless


def _seen(ledger: Ledger, plan: Plan) -> list[tuple[object, ...]]:
    report = ledger.report(plan.notification.id, detail=True)
    return [
        (
            d.id,
            d.state,
            d.provider_id,
            [(a.number, a.outcome, a.provider_id) for a in d.attempt_log],
        )
        for d in report.deliveries
    ]


def test_a_version_11_ledger_keeps_its_rows_and_keys(location: str, make_plan: MakePlan):
    old = open_ledger(location)
    keyed, keyless = _fill(old, make_plan)
    before = [_seen(old, keyed), _seen(old, keyless)]
    old.close()
    _as_version_11(location)
    if not location.startswith("postgresql"):
        assert "WITHOUT ROWID" not in _sqlite_schema(location)["notifications"]

    ledger = open_ledger(location)
    try:
        assert _version(ledger) == len(MIGRATIONS) == 12
        assert [_seen(ledger, keyed), _seen(ledger, keyless)] == before
        assert before[0][0][1] is DeliveryState.SENT and before[0][0][3] == [(1, "sent", "sid-1")]
        # The key still names one notification; notifications without one are many.
        again = ledger.add(make_plan(to="alice", key="k-1"))
        assert again.duplicate and again.id == keyed.notification.id
        assert not ledger.add(make_plan(to="alice")).duplicate
        assert not ledger.add(make_plan(to="alice")).duplicate
        assert ledger.counts() == {"pending": 3, "sent": 1}
    finally:
        ledger.close()
    if not location.startswith("postgresql"):
        schema = _sqlite_schema(location)
        assert schema["notifications"].rstrip().endswith("WITHOUT ROWID")
        assert schema["attempts"].rstrip().endswith("WITHOUT ROWID")
        assert "WHERE key IS NOT NULL" in schema["notifications_key"]
        assert "WITHOUT ROWID" not in schema["deliveries"]


def test_foreign_keys_are_enforced_after_the_upgrade(tmp_path, make_plan: MakePlan):
    location = str(tmp_path / "ledger.db")
    open_ledger(location).close()
    _as_version_11(location)
    ledger = open_ledger(location)
    try:
        with pytest.raises(LedgerError), ledger.routing.unit() as unit:
            unit._exec(
                "INSERT INTO attempts (delivery_id, number, started, outcome) "
                "VALUES ('no-such-delivery', 1, 0, 'sending')",
                (),
            )
    finally:
        ledger.close()


def test_a_sqlite_ledger_with_broken_references_is_refused_unchanged(tmp_path, make_plan: MakePlan):
    location = str(tmp_path / "ledger.db")
    old = open_ledger(location)
    _fill(old, make_plan)
    old.close()
    _as_version_11(location)
    db = sqlite3.connect(location, isolation_level=None)
    db.execute(  # an attempt whose delivery is gone (foreign keys were off when it was written)
        "INSERT INTO attempts (delivery_id, number, started, outcome) VALUES ('gone', 1, 0, 'x')"
    )
    db.close()
    before = _sqlite_schema(location)

    with pytest.raises(LedgerError, match=r"refer to rows that are not there.*nothing was changed"):
        open_ledger(location)

    assert _sqlite_schema(location) == before
    db = sqlite3.connect(location)
    assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (11,)
    db.close()
