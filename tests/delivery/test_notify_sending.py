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
from pathlib import Path

from notifykit import hookimpl
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
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
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
    assert len(sim.requests) == 1  # never resent
