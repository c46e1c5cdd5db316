"""One fsync per ``notify()``: the commit that makes a delivery ``sending`` before its request is
synced; the commit that records the outcome is not (a power cut may lose it, which leaves the
delivery ``sending`` and recovery makes it ``unknown``: never resent), and the next synced commit
takes it to the disk. Checked on a real SQLite file: the statements the ledger runs, and the
fdatasync calls the process makes (strace), which were two per ``notify()`` before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from notifykit.ledger import Outcome, open_ledger
from notifykit.ledger.sqlite import SqliteLedger
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState
from tests.ledger.syscalls import traced

MakePlan = Callable[..., Plan]


def _traced(ledger: SqliteLedger) -> list[str]:
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    return statements


def _send_and_record(ledger: SqliteLedger, plan: Plan) -> None:
    now = plan.jobs[0].due
    ids = [j.id for j in plan.jobs]
    ledger.add(plan, lease_owner="n1", lease_until=now + 30, sending=ids)
    ledger.record("n1", [Outcome(i, DeliveryState.SENT, provider_id=f"sid-{i}") for i in ids], now)


def test_the_outcome_commit_is_not_synced_and_the_one_before_the_request_is(
    tmp_path: Path, make_plan: MakePlan
) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    assert isinstance(ledger, SqliteLedger)
    try:
        statements = _traced(ledger)
        _send_and_record(ledger, make_plan(to="alice"))
        pragmas = [s for s in statements if s.startswith(("PRAGMA synchronous", "BEGIN", "COMMIT"))]
        # add(sending=...): BEGIN ... COMMIT at full; record(): at normal, then full again
        assert pragmas == [
            "BEGIN IMMEDIATE",
            "COMMIT",
            "PRAGMA synchronous = NORMAL",
            "BEGIN IMMEDIATE",
            "COMMIT",
            "PRAGMA synchronous = FULL",
        ]
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        report = ledger.reports(limit=1)[0]
        assert [d.state for d in report.deliveries] == [DeliveryState.SENT]
    finally:
        ledger.close()


def test_a_ledger_at_normal_is_left_at_normal(tmp_path: Path, make_plan: MakePlan) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"), synchronous="normal")
    assert isinstance(ledger, SqliteLedger)
    try:
        statements = _traced(ledger)
        _send_and_record(ledger, make_plan(to="alice"))
        assert not [s for s in statements if s.startswith("PRAGMA synchronous")]
        assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        ledger.close()


SCRIPT = """
from notifykit import Notifier

config = {
    "channels": {"console": {"type": "console", "stream": "stderr"}},
    "defaults": {"channels": ["console"]},
    "recipients": {"alice": {"phone": "+919876543210"}},
    "store": sys.argv[1],
}
with Notifier.from_config(config) as kit:
    for _ in range(3):
        kit.notify("disk.full", to="alice", data={"message": "95%"})
    mark()
    for _ in range(40):
        assert kit.notify("disk.full", to="alice", data={"message": "95%"}).ok
    mark()
"""


def test_notify_makes_one_fdatasync_not_two(tmp_path: Path) -> None:
    lines = traced(tmp_path, SCRIPT, [str(tmp_path / "ledger.db")], "fsync,fdatasync")
    syncs = [line for line in lines if "sync(" in line and "-wal>" in line]
    # 40 notify() calls: one synced commit of the WAL each (add, with the deliveries already
    # `sending`); the outcome's commit is not synced. Before, each was: 80 and more.
    assert 40 <= len(syncs) <= 50, syncs
