"""notify()'s own sends: its first group stored ``sending`` in the commit that stores the
notification (when no hook can veto it), and what becomes of them when the process dies before
the provider's answer is recorded: ``unknown``, never resent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from notifykit import hookimpl
from notifykit.channels.stop import SendStop, stopping_on
from notifykit.delivery.dispatch import NOTIFY_GROUP, NOTIFY_LEASE, NOTIFY_THREADS
from notifykit.plugins import get_plugin_manager
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import Fault
from tests.delivery.conftest import TOKEN, wait_until, write_config

ROOT = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> list[tuple[str, int, str | None]]:
    """(state, attempts, outcome of the open attempt) per delivery, read over a connection of
    its own, as another process would."""
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT d.state, d.attempts, a.outcome FROM deliveries d "
            "LEFT JOIN attempts a ON a.delivery_id = d.id ORDER BY d.seq"
        ).fetchall()


def test_notify_commits_sending_with_the_notification_before_the_request(make_kit, sim, tmp_path):
    kit = make_kit()
    sim.inject(Fault(delay=0.5))  # answered normally, late
    reports = []
    runner = threading.Thread(
        target=lambda: reports.append(kit.notify("db.down", data={"host": "db1"}))
    )
    runner.start()
    try:
        sim.wait_for_requests(1)
        assert _rows(tmp_path / "ledger.db") == [("sending", 1, "sending")]
    finally:
        runner.join(timeout=10)
    [report] = reports
    [delivery] = report.deliveries
    assert delivery.state is DeliveryState.SENT and delivery.attempts == 1
    [stored] = kit.report(report.id).deliveries
    assert [(a.number, a.outcome) for a in stored.attempt_log] == [(1, "sent")]
    assert len(sim.requests) == 1


def test_notify_with_a_before_delivery_hook_still_asks_it_first(make_kit, sim, tmp_path):
    asked: list[str] = []

    class Veto:
        @hookimpl
        def before_delivery(self, delivery):
            asked.append(delivery.state.value)
            return "quiet hours" if delivery.address.endswith("1") else None

    config = write_config(tmp_path, sim)
    kit = make_kit(config, plugin_manager=get_plugin_manager(plugins=[Veto()]))
    report = kit.notify("db.down", data={"host": "db1"}, to=["p0", "p1"])
    assert asked == ["pending", "pending"]  # asked before anything was marked sending
    assert [(d.state.value, d.attempts) for d in report.deliveries] == [
        ("sent", 1),
        ("skipped", 0),
    ]
    assert len(sim.requests) == 1


def test_a_notify_process_killed_mid_request_leaves_unknown_never_resent(
    make_kit, sim, clock, tmp_path
):
    """SIGKILL after the commit and before the answer is recorded: the delivery stays
    ``sending``, a worker's recover() makes it ``unknown`` once notify()'s lease is over, and
    nothing sends it again."""
    config = write_config(tmp_path, sim, account={"timeout": 30})
    sim.inject(Fault(delay=30))  # the request reaches Exotel; the answer never comes in time
    script = textwrap.dedent(
        f"""
        from notifykit import Notifier
        kit = Notifier.from_config({str(config)!r})
        kit.notify("db.down", data={{"host": "db1"}})
        """
    )
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: sim.requests or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    assert _rows(tmp_path / "ledger.db") == [("sending", 1, "sending")]
    sim.clear_faults()
    # The test clock is years ahead of the dead process's lease: it is long expired here.
    kit = make_kit(config, clock=clock)
    result = kit.worker().run(drain=True)
    assert result.recovered == 1 and result.counts == {"unknown": 1}
    [report] = kit.history()
    [delivery] = report.deliveries
    assert delivery.state is DeliveryState.UNKNOWN and "may have been sent" in (
        delivery.error or ""
    )
    assert [a.outcome for a in kit.report(report.id).deliveries[0].attempt_log] == ["unknown"]
    clock.advance(3600)
    assert kit.worker().run(drain=True).counts == {}
    assert len(_sends(sim)) == 1  # never resent


# -- a broadcast's groups in flight at once ---------------------------------------------------

#: more numbers than the groups notify() starts at once, so some groups go through begin_send
BROADCAST = NOTIFY_GROUP * (NOTIFY_THREADS + 2)


def _numbers(n: int) -> list[str]:
    return [f"+9197{i:08d}" for i in range(n)]


def _sends(sim) -> list:
    """The send requests (a worker's reconcile also asks Exotel about sent SMS, with GETs)."""
    return [r for r in sim.requests if r.method == "POST"]


def _requests_per_number(sim) -> dict[str, int]:
    """Per number (last 10 digits), the accepted send requests that carried it."""
    per: dict[str, int] = {}
    for request in _sends(sim):
        if request.status != 200:
            continue
        for number in request.recipients:
            per[number[-10:]] = per.get(number[-10:], 0) + 1
    return per


def test_a_broadcast_is_sent_once_in_order_each_group_started_before_its_requests(make_kit, sim):
    kit = make_kit(clock=time.monotonic)  # the simulator stamps requests with this clock
    to = _numbers(BROADCAST)
    report = kit.notify("db.down", data={"host": "db1"}, to=to)
    assert report.ok and [d.address for d in report.deliveries] == to
    assert len({d.provider_id for d in report.deliveries}) == len(to)
    assert len(_sends(sim)) == BROADCAST // 100
    assert set(_requests_per_number(sim).values()) == {1}
    # Every attempt was opened (committed 'sending') before its number's request arrived.
    arrived = {n[-10:]: r.time for r in _sends(sim) for n in r.recipients}
    stored = kit.report(report.id).deliveries
    assert [d.state for d in stored] == [DeliveryState.SENT] * len(to)
    for d in stored:
        [attempt] = d.attempt_log
        assert attempt.outcome == "sent" and attempt.started <= arrived[(d.address or "")[-10:]]


def test_a_429_mid_broadcast_fails_only_what_was_not_sent(make_kit, sim):
    kit = make_kit()  # the account's retries: 0, so a 429 is the client's final answer
    to = _numbers(BROADCAST)
    sim.inject(Fault(status=429, retry_after=1), times=2)
    report = kit.notify("db.down", data={"host": "db1"}, to=to)
    states = {d.address: d.state for d in report.deliveries}
    sent = _requests_per_number(sim)
    assert set(sent.values()) == {1}
    failed = [a for a, s in states.items() if s is DeliveryState.FAILED]
    assert failed and set(states.values()) == {DeliveryState.SENT, DeliveryState.FAILED}
    for address, state in states.items():
        assert (state is DeliveryState.SENT) == ((address or "")[-10:] in sent), address
    assert all("429" in (d.error or "") for d in report.deliveries if not d.ok)
    # Stored as reported, and nothing is retried later (notify() makes a 429 final).
    assert {d.address: d.state for d in kit.report(report.id).deliveries} == states
    requests = len(_sends(sim))
    assert kit.worker().run(drain=True).counts == {}
    assert len(_sends(sim)) == requests


def test_a_dropped_connection_mid_broadcast_is_unknown_and_never_resent(make_kit, sim, clock):
    kit = make_kit(clock=clock)
    to = _numbers(BROADCAST)
    sim.inject(Fault(drop=True))
    report = kit.notify("db.down", data={"host": "db1"}, to=to)
    counts = report.by_state()
    # The dropped request's numbers (and, if it was not a group's first, the rest of that
    # group, unsent) are not 'sent'; the dropped ones are 'unknown': they may have been.
    assert 100 <= counts["unknown"] <= NOTIFY_GROUP
    assert counts["sent"] + counts["unknown"] + counts.get("failed", 0) == len(to)
    assert set(_requests_per_number(sim).values()) == {1}
    requests = len(_sends(sim))
    clock.advance(3600)  # long past notify()'s lease and any backoff
    kit.worker().run(drain=True)
    assert len(_sends(sim)) == requests
    assert kit.report(report.id).by_state() == counts


def _boom(path: Path, name: str, when: str) -> None:
    """A trigger that makes one kind of ledger write fail, as a full disk would: a real SQLite
    error inside the ledger's transaction."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TRIGGER {name} BEFORE UPDATE OF state ON deliveries WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )


def test_a_ledger_error_starting_a_later_group_leaves_it_pending_for_a_worker(
    make_kit, sim, clock, tmp_path
):
    kit = make_kit(clock=clock)
    assert kit.ledger.counts() == {}  # opened (and migrated) now, so a trigger can be added
    to = _numbers(BROADCAST)
    late = to[-1]  # in the last group: started by begin_send, not by add()
    _boom(tmp_path / "ledger.db", "no_start", f"NEW.state = 'sending' AND NEW.address = '{late}'")
    report = kit.notify("db.down", data={"host": "db1"}, to=to)
    states = [d.state for d in report.deliveries]
    assert states[:-NOTIFY_GROUP] == [DeliveryState.SENT] * (len(to) - NOTIFY_GROUP)
    assert states[-NOTIFY_GROUP:] == [DeliveryState.PENDING] * NOTIFY_GROUP
    assert not report.ok
    assert len(_sends(sim)) == (len(to) - NOTIFY_GROUP) // 100
    # Nothing of that group went out; once notify()'s lease is over, a worker sends it, once.
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("DROP TRIGGER no_start")
    assert kit.worker().run(drain=True).counts == {}  # still leased to notify()
    clock.advance(NOTIFY_LEASE + 1)
    assert kit.worker().run(drain=True).counts == {"sent": NOTIFY_GROUP}
    assert set(_requests_per_number(sim).values()) == {1}
    assert len(_requests_per_number(sim)) == len(to)


def test_a_ledger_error_recording_a_group_leaves_it_sending_then_unknown(
    make_kit, sim, clock, tmp_path
):
    kit = make_kit(clock=clock)
    assert kit.ledger.counts() == {}
    to = _numbers(BROADCAST)
    middle = to[NOTIFY_GROUP * 3 + 7]  # in a group started by begin_send
    _boom(tmp_path / "ledger.db", "no_record", f"NEW.state = 'sent' AND NEW.address = '{middle}'")
    report = kit.notify("db.down", data={"host": "db1"}, to=to)
    # The caller still learns what was sent: the report has the provider's answers.
    assert report.ok and len(_sends(sim)) == len(to) // 100
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        conn.execute("DROP TRIGGER no_record")
    stored = [d.state for d in kit.report(report.id).deliveries]
    group = slice(NOTIFY_GROUP * 3, NOTIFY_GROUP * 4)
    assert stored[group] == [DeliveryState.SENDING] * NOTIFY_GROUP
    assert stored.count(DeliveryState.SENT) == len(to) - NOTIFY_GROUP
    clock.advance(NOTIFY_LEASE + 1)
    result = kit.worker().run(drain=True)
    assert result.recovered == NOTIFY_GROUP and result.counts == {"unknown": NOTIFY_GROUP}
    assert set(_requests_per_number(sim).values()) == {1}  # never resent


def test_a_broadcasts_hooks_run_in_the_calling_thread_in_order(make_kit, sim, tmp_path):
    seen: list[tuple[str, str, str]] = []

    class Observer:
        @hookimpl
        def after_delivery(self, delivery):
            seen.append(("after", threading.current_thread().name, delivery.address or ""))

    class Veto(Observer):
        @hookimpl
        def before_delivery(self, delivery):
            seen.append(("before", threading.current_thread().name, delivery.address or ""))

    to = _numbers(BROADCAST)
    here = threading.current_thread().name
    for plugin in (Observer(), Veto()):
        seen.clear()
        kit = make_kit(
            write_config(tmp_path, sim), plugin_manager=get_plugin_manager(plugins=[plugin])
        )
        assert kit.notify("db.down", data={"host": "db1"}, to=to).ok
        assert {thread for _, thread, _ in seen} == {here}
        assert [a for kind, _, a in seen if kind == "after"] == to
        if isinstance(plugin, Veto):
            assert [a for kind, _, a in seen if kind == "before"] == to


def test_a_notify_longer_than_its_lease_keeps_its_groups_and_sends_them_all(
    make_kit, sim, clock, tmp_path
):
    """notify() leases its deliveries for NOTIFY_LEASE; a broadcast that takes longer (a rate
    limit, a slow provider, slow hooks) renews the lease as its groups start, so a later group
    is still notify()'s to send instead of being left pending for a worker."""
    per_delivery = NOTIFY_LEASE / 1000  # 500 deliveries a group: half the lease per group

    class Slow:
        @hookimpl
        def before_delivery(self, delivery):
            clock.advance(per_delivery)  # a before_delivery hook: the groups go one by one

    kit = make_kit(
        write_config(tmp_path, sim),
        plugin_manager=get_plugin_manager(plugins=[Slow()]),
        clock=clock,
    )
    numbers = [f"+9198300{i:05d}" for i in range(3 * NOTIFY_GROUP)]
    report = kit.notify("db.down", data={"host": "db1"}, to=numbers)
    assert {d.state for d in report.deliveries} == {DeliveryState.SENT}
    assert clock.now - 1_800_000_000.0 > 1.4 * NOTIFY_LEASE  # it did outlast the first lease
    assert sum(len(r.recipients) for r in sim.requests) == len(numbers)  # each sent once


def _leases(path: Path) -> list[tuple[str, str | None]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT state, lease_owner FROM deliveries ORDER BY seq").fetchall()


def test_notify_under_a_stopped_send_sends_nothing_and_leaves_it_pending(make_kit, sim, tmp_path):
    """A stop that came first (a signal while the notification was being planned): it is
    stored, nothing is sent, and its deliveries are pending, released at once, for a worker."""
    kit = make_kit()
    stop = SendStop()
    stop.stop("SIGINT")
    with stopping_on(stop):
        report = kit.notify("db.down", data={"host": "db1"}, to=["p0", "p1"])
    assert [d.state for d in report.deliveries] == [DeliveryState.PENDING] * 2
    assert sim.requests == []
    assert _leases(tmp_path / "ledger.db") == [("pending", None), ("pending", None)]
    assert stop.notifications == [report.id]
    assert kit.worker().run(drain=True).counts == {"sent": 2}


def test_ctrl_c_in_notify_records_the_call_in_flight_unknown_and_gives_back_the_rest(
    make_kit, sim, tmp_path
):
    """Python's own Ctrl-C (KeyboardInterrupt, no handler) while notify() rings the first of
    three numbers: that call may have gone out (unknown), the two never started are pending,
    released, and the KeyboardInterrupt goes on up."""
    kit = make_kit(write_config(tmp_path, sim, account={"timeout": 30}))
    sim.inject(Fault(delay=2), fraction=1.0)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()

    def interrupt() -> None:
        sim.wait_for_requests(1, timeout=30)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    to = [f"+9198330{i:05d}" for i in range(3)]
    with pytest.raises(KeyboardInterrupt):
        kit.notify("db.down", to=to, channels="call")
    assert _leases(tmp_path / "ledger.db") == [
        ("unknown", None),
        ("pending", None),
        ("pending", None),
    ]
    [report] = kit.history()
    assert "interrupted (KeyboardInterrupt) while its request" in (report.deliveries[0].error or "")
    assert len(sim.requests) == 1
