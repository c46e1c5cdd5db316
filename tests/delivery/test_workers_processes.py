"""Worker *processes* on one ledger, against a real simulator in this process: SIGKILLed mid-run,
several at once, on SQLite and PostgreSQL. The simulator's request log, counted per ``To``
number (one notification per number), proves that nothing was sent twice.

Every wait is on a condition with a deadline: requests reaching the simulator, workers seen in
the ledger, no delivery left ``pending`` or ``sending``. The config's lease is 2 s, so a killed
worker's deliveries are taken over within seconds, not the default minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import TOKEN, wait_until, write_config
from tests.services import postgres_schema

ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "notifykit")

#: short leases so a killed worker's work is taken over quickly; a fast poll, the backstop of
#: the wake-ups
WORKER = {"lease": "2s", "poll": "0.2s", "threads": 4, "batch": 20}


class Workers:
    """``notifykit worker`` processes on one config, each with its own log files; ``flags``:
    the global options they run with (``--json``: :meth:`stop` returns the summary; ``-v``:
    a line per delivery on stderr)."""

    def __init__(self, config: Path, logs: Path, flags: tuple[str, ...] = ("--json",)) -> None:
        self.config = config
        self.logs = logs
        self.flags = flags
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, node: str, *extra: str) -> subprocess.Popen[bytes]:
        # This checkout's plugins too, not the installed ones (a worktree's own changes).
        path = os.pathsep.join((str(ROOT), str(ROOT / "plugins")))
        env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": path}
        env.pop("NOTIFYKIT_CONFIG", None)
        out = (self.logs / f"{node}.out").open("wb")
        err = (self.logs / f"{node}.err").open("wb")
        proc = subprocess.Popen(
            [*CLI, "--config", str(self.config), *self.flags, "worker", "--node", node, *extra],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.config.parent,
        )
        out.close()
        err.close()
        self.procs[node] = proc
        return proc

    def kill(self, node: str) -> None:
        proc = self.procs[node]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self, node: str, codes: tuple[int, ...] = (0, 4)) -> dict[str, Any]:
        """SIGTERM: finish in-flight work and exit with one of ``codes`` (4: it recovered a
        dead worker's 'unknown's); returns its --json summary (empty without ``--json``)."""
        proc = self.procs[node]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert code in codes, self.stderr(node)
        if "--json" not in self.flags:
            return {}
        return dict(json.loads((self.logs / f"{node}.out").read_text()))

    def stderr(self, node: str) -> str:
        return (self.logs / f"{node}.err").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        group = Workers(config, tmp_path)
        made.append(group)
        return group

    yield make
    for group in made:
        group.close()


def numbers(n: int, prefix: str) -> list[str]:
    return [f"+91{prefix}{i:05d}" for i in range(n)]


def submit_all(kit: Notifier, to: list[str], threads: int = 1) -> None:
    def one(number: str) -> None:
        kit.submit("db.down", data={"host": "db1"}, to=number)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, to))


def left_over(kit: Notifier) -> int:
    counts = kit.ledger.counts()
    return counts.get("pending", 0) + counts.get("sending", 0)


def states_by_number(kit: Notifier) -> dict[str, DeliveryState]:
    return {d.address or "": d.state for r in kit.history(limit=0) for d in r.deliveries}


def assert_exactly_once(
    kit: Notifier, sim: ExotelSimulator, to: list[str], *, max_unknown: int
) -> dict[str, int]:
    """Every number got at most one request; every ``sent`` one exactly one; the rest are
    ``unknown`` (a killed worker may have sent them or not); nothing pending or sending."""
    per_number: dict[str, int] = {}
    for request in sim.requests:
        for number in request.recipients:
            per_number[number[-10:]] = per_number.get(number[-10:], 0) + 1
    states = states_by_number(kit)
    assert len(states) == len(to)
    assert max(per_number.values()) == 1, "a notification was sent twice"
    counts: dict[str, int] = {}
    for number, state in states.items():
        counts[state.value] = counts.get(state.value, 0) + 1
        sent = per_number.get(number[-10:], 0)
        if state is DeliveryState.SENT:
            assert sent == 1, number
        else:
            assert state is DeliveryState.UNKNOWN, (number, state)
            assert sent <= 1
    assert counts.get("unknown", 0) <= max_unknown, counts
    return counts


@pytest.mark.slow
def test_a_worker_killed_at_several_moments_never_sends_twice(tmp_path, sim, make_kit, workers):
    """Issue 7's crash test: 500 notifications; the worker is SIGKILLed after 50, 200 and 350
    requests reached the simulator, restarted each time, and a last one finishes."""
    config = write_config(
        tmp_path, sim, store={"path": "ledger.db", "synchronous": "normal"}, worker=WORKER
    )
    kit = make_kit(config)
    to = numbers(500, "97000")
    submit_all(kit, to)
    group = workers(config)
    kills = (50, 200, 350)
    for n, at in enumerate(kills):
        group.start(f"crash{n}")
        sim.wait_for_requests(at, timeout=30)
        group.kill(f"crash{n}")
    group.start("last")
    wait_until(lambda: left_over(kit) == 0, timeout=30)
    summary = group.stop("last")
    assert summary["name"] == "last" and summary["recovered"] >= 0
    # A final drain finds nothing left to do and sends nothing.
    before = len(sim.requests)
    drain = group.start("drain", "--drain")
    assert drain.wait(timeout=30) == 0, group.stderr("drain")
    assert len(sim.requests) == before
    counts = assert_exactly_once(kit, sim, to, max_unknown=len(kills) * WORKER["threads"])
    assert counts.get("sent", 0) >= len(to) - len(kills) * WORKER["threads"]
    # Every unknown one is explained: its worker vanished after marking it sending.
    for report in kit.history(limit=0, state="unknown"):
        (delivery,) = report.deliveries
        assert "stopped before recording the provider's answer" in (delivery.error or "")


@pytest.mark.slow
def test_two_worker_processes_on_one_sqlite_file_deliver_exactly_once(
    tmp_path, sim, make_kit, workers
):
    config = write_config(
        tmp_path, sim, store={"path": "ledger.db", "synchronous": "normal"}, worker=WORKER
    )
    kit = make_kit(config)
    group = workers(config)
    for node in ("w1", "w2"):
        group.start(node)
    wait_until(lambda: len(kit.ledger.workers(time.time(), 30)) == 2, timeout=30)
    to = numbers(1000, "97100")
    began = time.monotonic()
    submit_all(kit, to)
    wait_until(lambda: kit.ledger.counts() == {"sent": 1000}, timeout=45)
    took = time.monotonic() - began
    summaries = [group.stop(node) for node in ("w1", "w2")]
    assert [s["counts"].get("sent", 0) for s in summaries] != [1000, 0]
    assert sum(s["counts"].get("sent", 0) for s in summaries) == 1000
    assert assert_exactly_once(kit, sim, to, max_unknown=0) == {"sent": 1000}
    assert took < 45


@pytest.mark.slow
def test_three_workers_on_postgresql_survive_one_killed(tmp_path, sim, make_kit, workers):
    """Issue 10: three processes on one PostgreSQL ledger, 3,000 notifications; one is
    SIGKILLed mid-run and the other two finish its work, none sent twice."""
    with postgres_schema() as url:
        config = write_config(tmp_path, sim, store=url, worker=WORKER)
        kit = make_kit(config)
        to = numbers(3000, "97200")
        submit_all(kit, to, threads=4)
        group = workers(config)
        nodes = ("pg1", "pg2", "pg3")
        began = time.monotonic()
        for node in nodes:
            group.start(node)
        sim.wait_for_requests(1000, timeout=30)
        group.kill("pg2")
        wait_until(lambda: left_over(kit) == 0, timeout=45)
        took = time.monotonic() - began
        summaries = {node: group.stop(node) for node in ("pg1", "pg3")}
        assert all(s["counts"].get("sent", 0) > 0 for s in summaries.values())
        counts = assert_exactly_once(kit, sim, to, max_unknown=WORKER["threads"])
        assert counts["sent"] + counts.get("unknown", 0) == 3000
        # The ambiguous ones are exactly those the killed worker had in flight.
        for report in kit.history(limit=0, state="unknown"):
            (delivery,) = kit.report(report.id).deliveries
            assert [a.worker for a in delivery.attempt_log] == ["pg2"]
        assert took < 45
        kit.close()
