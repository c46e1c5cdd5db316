"""One fsync per ``notify()``: the commit that makes a delivery ``sending`` before its request is
synced; the commit that records the outcome is not (a power cut may lose it, which leaves the
delivery ``sending`` and recovery makes it ``unknown``: never resent), and the next synced commit
takes it to the disk. Checked on a real SQLite file: the statements the ledger runs, and the
fdatasync calls the process makes (strace), which were two per ``notify()`` before."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit.ledger import Outcome, open_ledger
from notifykit.ledger.sqlite import SqliteLedger
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState

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


SCRIPT = textwrap.dedent(
    """
    import ctypes, sys
    from notifykit import Notifier

    libc = ctypes.CDLL(None)
    config = {
        "channels": {"console": {"type": "console", "stream": "stderr"}},
        "defaults": {"channels": ["console"]},
        "recipients": {"alice": {"phone": "+919876543210"}},
        "store": sys.argv[1],
    }
    with Notifier.from_config(config) as kit:
        for _ in range(3):
            kit.notify("disk.full", to="alice", data={"message": "95%"})
        libc.syscall(39)  # getpid: the start mark in the trace
        for _ in range(40):
            assert kit.notify("disk.full", to="alice", data={"message": "95%"}).ok
        libc.syscall(39)  # the end mark
    """
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to count fdatasync")
def test_notify_makes_one_fdatasync_not_two(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    done = subprocess.run(
        [
            "strace", "-f", "-qq", "-y", "-e", "trace=fsync,fdatasync,getpid", "-o", str(trace),
            sys.executable, "-c", SCRIPT, str(tmp_path / "ledger.db"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    lines = trace.read_text().splitlines()
    marks = [i for i, line in enumerate(lines) if "getpid()" in line]
    syncs = [line for line in lines[marks[0] : marks[-1]] if "sync(" in line and "-wal>" in line]
    # 40 notify() calls: one synced commit of the WAL each (add, with the deliveries already
    # `sending`); the outcome's commit is not synced. Before, each was: 80 and more.
    assert 40 <= len(syncs) <= 50, syncs
