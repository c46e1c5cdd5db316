"""The SQLite ledger's group commit: threads calling ``add()`` (``submit()``, ``notify()``) at
once share one transaction and one commit, and each returns only after that commit.

To put several calls in one group for certain, a test holds the ledger's connection (as a worker's
``claim()`` would) while they queue up: the first becomes the leader and waits for the connection,
the others wait for its commit. Every ledger here is a real SQLite file; the crash test SIGKILLs a
real process."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.ledger import LedgerError, open_ledger
from notifykit.ledger.sqlite import SqliteLedger
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState, Submission
from tests.delivery.conftest import wait_until
from tests.ledger.conftest import CONFIG
from tests.ledger.test_sqlite_bad_days import read_only

MakePlan = Callable[..., Plan]
Result = Submission | BaseException


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path: Path) -> Iterator[SqliteLedger]:
    opened = open_ledger(str(path))
    assert isinstance(opened, SqliteLedger)
    yield opened
    opened.close()


@contextmanager
def statements(ledger: SqliteLedger) -> Iterator[list[str]]:
    """The SQL the ledger's connection runs meanwhile (SQLite's own trace, from any thread)."""
    seen: list[str] = []
    ledger._db.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        ledger._db.set_trace_callback(None)


def add_in_one_group(
    ledger: SqliteLedger,
    plans: Sequence[Plan],
    *,
    meanwhile: Callable[[], None] | None = None,
    **options: Any,
) -> list[Result]:
    """``ledger.add(plan, **options)`` for every plan, each in a thread of its own, all in one
    group commit; ``meanwhile`` runs while they wait (the connection held). Each result or
    error."""
    results: list[Result | None] = [None] * len(plans)

    def add(index: int) -> None:
        try:
            opts = {k: v(plans[index]) if callable(v) else v for k, v in options.items()}
            results[index] = ledger.add(plans[index], **opts)
        except BaseException as err:
            results[index] = err

    threads = [threading.Thread(target=add, args=(i,)) for i in range(len(plans))]
    with ledger._lock:  # the connection is busy: the callers queue up behind its leader
        for thread in threads:
            thread.start()
        wait_until(lambda: len(ledger._waiting) == len(plans))
        assert results == [None] * len(plans), "an add() returned before any commit"
        if meanwhile is not None:
            meanwhile()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    done = [r for r in results if r is not None]
    assert len(done) == len(plans)
    return done


def stored(path: Path) -> list[str]:
    """The notification ids in the file, read by a connection of its own (as another process)."""
    db = sqlite3.connect(str(path))
    try:
        return [r[0] for r in db.execute("SELECT id FROM notifications ORDER BY id")]
    finally:
        db.close()


def test_callers_at_once_share_one_transaction_and_return_after_its_commit(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    plans = [make_plan(to="alice") for _ in range(4)]
    with statements(ledger) as sql:
        results = add_in_one_group(ledger, plans, meanwhile=lambda: assert_empty(path))
    assert all(isinstance(r, Submission) and not r.duplicate for r in results)
    assert sorted(r.id for r in results if isinstance(r, Submission)) == sorted(
        p.notification.id for p in plans
    )
    assert sql.count("BEGIN IMMEDIATE") == 1
    assert sql.count("COMMIT") == 1
    assert sql.count("SAVEPOINT nk_add") == 4
    assert sorted(stored(path)) == sorted(p.notification.id for p in plans)
    assert ledger.counts() == {"pending": 4}


def assert_empty(path: Path) -> None:
    assert stored(path) == []


def test_a_caller_alone_runs_one_transaction_without_a_savepoint(
    ledger: SqliteLedger, make_plan: MakePlan
):
    with statements(ledger) as sql:
        ledger.add(make_plan(to="alice"))
    assert [s.split()[0] for s in sql] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]


def test_an_idempotency_key_twice_in_one_group_is_stored_once(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    plans = [make_plan(to="alice", key="k1"), make_plan(to="bob"), make_plan(to="bob", key="k1")]
    results = add_in_one_group(ledger, plans)
    first, other, second = results
    assert isinstance(first, Submission) and isinstance(second, Submission)
    assert isinstance(other, Submission) and not other.duplicate
    # Whichever of the two the leader wrote first is stored; the other gets it as a duplicate.
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert first.id == second.id and first.deliveries == second.deliveries
    assert sorted(stored(path)) == sorted([first.id, other.id])
    assert ledger.report(first.id).key == "k1"


def test_one_callers_bad_rows_fail_that_caller_alone(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    earlier = make_plan(to="alice")
    ledger.add(earlier)
    # A plan whose second delivery reuses a stored delivery's id: its insert fails (UNIQUE).
    clash = make_plan(to="oncall")
    jobs = list(clash.jobs)
    jobs[1] = dataclasses.replace(jobs[1], id=earlier.jobs[0].id)
    bad = dataclasses.replace(clash, jobs=tuple(jobs))
    good = [make_plan(to="bob"), make_plan(to="carol")]
    results = add_in_one_group(ledger, [good[0], bad, good[1]])
    assert isinstance(results[1], LedgerError)
    assert "storing a notification failed: UNIQUE constraint failed" in str(results[1])
    assert [r.id for r in results if isinstance(r, Submission)] == [p.notification.id for p in good]
    # Nothing of the bad one is stored, not even its notification row or its first delivery.
    assert sorted(stored(path)) == sorted(
        [earlier.notification.id, *(p.notification.id for p in good)]
    )
    assert ledger.counts() == {"pending": 3}
    assert ledger.deliveries([clash.jobs[0].id]) == []


def test_a_failing_commit_fails_every_caller_of_its_group_and_stores_nothing(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    if os.geteuid() != 0:
        pytest.skip("needs root: chattr +i makes the open WAL file unwritable")
    first = ledger.add(make_plan(to="alice"))  # the WAL exists now
    wal = Path(f"{path}-wal")
    plans = [make_plan(to="bob") for _ in range(3)]
    with read_only(wal):
        results = add_in_one_group(ledger, plans)
    assert all(isinstance(r, LedgerError) for r in results), results
    assert len({id(r) for r in results}) == 3  # each caller raises its own exception
    for err in results:
        assert "storing a notification failed: the disk is full or failing" in str(err)
    assert stored(path) == [first.id]
    # The next group is stored as usual.
    again = add_in_one_group(ledger, [make_plan(to="carol") for _ in range(2)])
    assert all(isinstance(r, Submission) for r in again)
    assert len(stored(path)) == 3


def test_a_write_lock_held_elsewhere_fails_the_whole_group(path: Path, make_plan: MakePlan):
    ledger = open_ledger(str(path), busy_timeout=0.2)
    assert isinstance(ledger, SqliteLedger)
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        results = add_in_one_group(ledger, [make_plan(to="bob") for _ in range(3)])
        assert all(isinstance(r, LedgerError) for r in results)
        assert all("the database is locked by another process" in str(r) for r in results)
        other.execute("ROLLBACK")
        assert ledger.counts() == {}
    finally:
        other.close()
        ledger.close()


def test_an_interrupted_leader_fails_its_group(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan, monkeypatch: pytest.MonkeyPatch
):
    """A leader interrupted while writing (KeyboardInterrupt, SystemExit) re-raises that; the
    followers are told their notification was not recorded, and none is."""
    plans = [make_plan(to="bob") for _ in range(3)]
    real = SqliteLedger._add

    def interrupted(
        self: SqliteLedger, cur: Any, plan: Plan, *args: Any, **kwargs: Any
    ) -> Submission:
        if plan is plans[1]:
            raise KeyboardInterrupt
        return real(self, cur, plan, *args, **kwargs)

    monkeypatch.setattr(SqliteLedger, "_add", interrupted)
    results = add_in_one_group(ledger, plans)
    assert sum(isinstance(r, KeyboardInterrupt) for r in results) == 1
    errors = [r for r in results if isinstance(r, LedgerError)]
    assert len(errors) == 2
    assert all("was interrupted; nothing was recorded" in str(e) for e in errors)
    assert stored(path) == []
    monkeypatch.undo()
    assert isinstance(ledger.add(make_plan(to="bob")), Submission)  # and the ledger goes on


class InterruptAfterCommit:
    """The ledger's real connection, whose cursors raise KeyboardInterrupt right after a COMMIT
    went through (as a Ctrl-C landing on the next bytecode would)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def cursor(self) -> Any:
        real = self.db.cursor()

        class Cursor:
            def execute(self, sql: str, params: Any = ()) -> Any:
                done = real.execute(sql, params)
                if sql == "COMMIT":
                    raise KeyboardInterrupt
                return done

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        return Cursor()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_leader_interrupted_after_its_commit_leaves_the_group_accepted(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan, monkeypatch: pytest.MonkeyPatch
):
    plans = [make_plan(to="bob") for _ in range(3)]
    monkeypatch.setattr(ledger, "_db", InterruptAfterCommit(ledger._db))
    results = add_in_one_group(ledger, plans)
    monkeypatch.undo()
    # The leader raises what interrupted it; the others were committed and are told so.
    assert sum(isinstance(r, KeyboardInterrupt) for r in results) == 1
    accepted = [r for r in results if isinstance(r, Submission)]
    assert len(accepted) == 2
    assert sorted(stored(path)) == sorted(p.notification.id for p in plans)


def test_add_from_a_thread_holding_the_connection_does_not_wait_for_itself(
    ledger: SqliteLedger, make_plan: MakePlan
):
    with ledger._connection():
        submission = ledger.add(make_plan(to="alice"))
    assert ledger.counts() == {"pending": 1}
    assert not submission.duplicate


def test_many_threads_submitting_each_notification_is_stored_once(path: Path):
    config = {**CONFIG, "store": str(path)}
    threads, each = 8, 40
    with Notifier.from_config(config) as kit:
        returned: list[list[Submission]] = [[] for _ in range(threads)]

        def work(t: int) -> None:
            for i in range(each):
                returned[t].append(
                    kit.submit("disk.full", to="oncall", data={"n": f"{t}-{i}"}, key=f"k{t}-{i}")
                )

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        submissions = [s for per in returned for s in per]
        assert len(submissions) == threads * each
        assert not any(s.duplicate for s in submissions)
        assert len({s.id for s in submissions}) == threads * each
        reports = kit.history(limit=0)
        assert sorted(r.id for r in reports) == sorted(s.id for s in submissions)
        assert all(len(r.deliveries) == 3 for r in reports)
        assert kit.ledger.counts() == {"pending": 3 * threads * each}


#: submits from 8 threads, printing each id (and its data) once submit() returned, until killed
CRASH_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    from notifykit import Notifier

    config = json.loads(sys.argv[1])
    kit = Notifier.from_config(config)
    out = threading.Lock()

    def work(t):
        for i in range(100_000):
            s = kit.submit("disk.full", to="alice", data={"n": f"{t}-{i}"})
            with out:
                sys.stdout.write(f"{s.id} {t}-{i}\\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_every_submit_that_returned_survives_a_sigkill(path: Path, synchronous: str):
    """8 threads submit; after 300 submit() calls returned the process is SIGKILLed. Every
    notification whose submit() returned is in the file, with its delivery, and none twice."""
    config = {**CONFIG, "store": {"path": str(path), "synchronous": synchronous}}
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[bytes] = []
    try:
        while len(lines) < 300:
            line = proc.stdout.readline()
            assert line, proc.stderr.read().decode()
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # What it printed before it died returned too (a line is one write() of a few bytes).
    lines.extend(line for line in proc.stdout.read().splitlines(keepends=True))
    proc.stdout.close()
    proc.stderr.close()
    returned = dict(line.decode().split() for line in lines if line.endswith(b"\n"))
    assert len(returned) >= 300
    db = sqlite3.connect(str(path))
    try:
        rows = db.execute("SELECT id, body FROM notifications").fetchall()
        per_notification = dict(
            db.execute("SELECT notification_id, COUNT(*) FROM deliveries GROUP BY notification_id")
        )
    finally:
        db.close()
    data = {i: json.loads(body)["data"]["n"] for i, body in rows}
    missing = [i for i in returned if i not in data]
    assert missing == [], f"{len(missing)} submit() calls returned and were lost"
    assert all(data[i] == n for i, n in returned.items())
    assert len(set(data.values())) == len(data), "a notification was stored twice"
    assert all(per_notification.get(i) == 1 for i in data)


def test_a_ledger_file_checkpoints_its_wal_every_8192_pages(ledger: SqliteLedger, path: Path):
    from notifykit.ledger.sqlite import WAL_CHECKPOINT_PAGES

    assert WAL_CHECKPOINT_PAGES == 8192
    assert ledger._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 8192
    page = ledger._db.execute("PRAGMA page_size").fetchone()[0]
    assert ledger._db.execute("PRAGMA journal_size_limit").fetchone()[0] == 2 * 8192 * page
    memory = open_ledger(":memory:")
    try:
        assert isinstance(memory, SqliteLedger)
        assert memory._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        memory.close()


def test_add_to_a_closed_ledger_is_a_ledger_error(path: Path, make_plan: MakePlan):
    ledger = open_ledger(str(path))
    ledger.close()
    with pytest.raises(LedgerError, match="storing a notification failed"):
        ledger.add(make_plan(to="alice"))


class Interrupted(Exception):
    pass


def test_a_caller_interrupted_while_waiting_for_its_group_is_not_stored(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    """A signal (Ctrl-C, say) lands in a submit() waiting for a group: its call raises, and since
    no leader had taken its rows yet, they are never written."""
    first, mine = make_plan(to="alice"), make_plan(to="bob")
    leader_result: list[Result] = []
    main = threading.get_ident()

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def leader() -> None:
        try:
            leader_result.append(ledger.add(first))
        except BaseException as err:
            leader_result.append(err)

    def interrupter() -> None:
        wait_until(lambda: len(ledger._waiting) == 2)  # the leader's and mine
        signal.pthread_kill(main, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    helpers = [threading.Thread(target=leader), threading.Thread(target=interrupter)]
    try:
        with ledger._lock:  # the connection is busy: the leader waits for it
            helpers[0].start()
            wait_until(lambda: len(ledger._waiting) == 1)
            helpers[1].start()
            with pytest.raises(Interrupted):
                ledger.add(mine)  # waits for the leader's commit, then the signal comes
            assert len(ledger._waiting) == 1  # taken back out
    finally:
        signal.signal(signal.SIGUSR1, previous)
        for helper in helpers:
            helper.join(timeout=30)
    (result,) = leader_result
    assert isinstance(result, Submission)
    assert stored(path) == [first.notification.id]


def test_deliveries_stored_sending_in_a_group_commit(
    ledger: SqliteLedger, path: Path, make_plan: MakePlan
):
    """notify()'s add(sending=...) in a group with other callers: each caller's own deliveries
    start sending, with their attempt, and a refused one fails its caller alone."""
    plans = [make_plan(to=["alice", "bob"]) for _ in range(3)]
    bad = plans[1]
    results = add_in_one_group(
        ledger,
        plans,
        lease_owner="n1",
        lease_until=plans[0].jobs[0].due + 60,
        sending=lambda p: ["not-in-plan"] if p is bad else [p.jobs[0].id],
    )
    assert isinstance(results[1], ValueError)
    assert all(isinstance(r, Submission) for i, r in enumerate(results) if i != 1)
    assert sorted(stored(path)) == sorted(p.notification.id for p in plans if p is not bad)
    for plan in (plans[0], plans[2]):
        first, second = ledger.report(plan.notification.id, detail=True).deliveries
        assert (first.state, first.attempts) == (DeliveryState.SENDING, 1)
        assert [(a.number, a.outcome, a.worker) for a in first.attempt_log] == [
            (1, "sending", "n1")
        ]
        assert (second.state, second.attempts, second.attempt_log) == (
            DeliveryState.PENDING,
            0,
            (),
        )
