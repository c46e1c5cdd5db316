"""An idle worker starts new work at once, on both backends: it waits on the ledger's wake-up
(SQLite: work added in this process, and other processes' announcements on its wake-up socket,
or ``PRAGMA data_version`` where it has none; PostgreSQL: LISTEN/NOTIFY), not on its poll
interval (30-60 s here), and stop() still ends it promptly. The cross-process tests use real
processes and sockets: one submits, another waits or works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.ledger import Ledger
from tests.delivery.conftest import SID, wait_until
from tests.ledger.conftest import CONFIG


@pytest.fixture
def store_kit(location: str) -> Iterator[Notifier]:
    with Notifier.from_config(CONFIG, store=location) as kit:
        yield kit


def test_an_idle_worker_wakes_for_a_submit_and_stops_promptly(store_kit: Notifier):
    kit = store_kit
    worker = kit.worker(poll=30.0, threads=1)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        # Idle first: it has looked at the ledger and is waiting (heartbeat written on start).
        wait_until(lambda: kit.ledger.workers(time.time(), 60), timeout=10)
        began = time.monotonic()
        submission = kit.submit("disk.full", to="alice", data={"message": "95%"})
        wait_until(
            lambda: kit.ledger.deliveries(submission.deliveries)[0].state.value == "sent",
            timeout=10,
        )
        assert time.monotonic() - began < 5  # far below the 30 s poll
    finally:
        stopping = time.monotonic()
        worker.stop()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert time.monotonic() - stopping < 2


def test_postgres_ledgers_in_other_schemas_do_not_wake_each_other(make_plan):
    """Each schema has its own wake-up channel: work added in one schema wakes its own waiter
    at once and not a ledger in another schema of the same database."""
    from notifykit.ledger import open_ledger
    from tests.services import postgres_schema

    with postgres_schema() as mine, postgres_schema() as theirs:
        waiter, adder, other = open_ledger(mine), open_ledger(mine), open_ledger(theirs)
        try:
            # The first wait sets up each listener (and returns at once).
            assert waiter.wait_for_work(0.01) is True
            assert other.wait_for_work(0.01) is True
            adder.add(make_plan())
            assert waiter.wait_for_work(10) is True
            began = time.monotonic()
            assert other.wait_for_work(0.3) is False
            assert time.monotonic() - began >= 0.25
        finally:
            for ledger in (waiter, adder, other):
                ledger.close()


def test_a_long_schema_name_gets_a_channel_that_fits_an_identifier():
    from notifykit.ledger.postgres import work_channel

    assert work_channel("ops") == "notifykit_work:ops"
    long = work_channel("s" * 63)
    assert len(long.encode()) <= 63 and long != work_channel("s" * 62)


# -- across processes -------------------------------------------------------------------------
#
# A worker process idle on the ledger starts what another process submits within moments, not
# at its poll: SQLite through ``PRAGMA data_version`` (changed by every other connection's
# commit), PostgreSQL through LISTEN/NOTIFY. Polls here are 30-60 s, so only the wake-up can
# make the deadlines of a few seconds.

ROOT = Path(__file__).resolve().parents[2]

#: submits one notification (console channel) into the ledger at argv[2] and exits
SUBMIT = """
import json, sys
from notifykit import Notifier
with Notifier.from_config(json.loads(sys.argv[1]), store=sys.argv[2]) as kit:
    kit.submit("disk.full", to="alice", data={"message": "95%"})
"""

#: ``kit.worker(poll=60).run()`` on the config at argv[1]; touches argv[2] each time the worker
#: waits for work (so the test knows it is idle), stops on SIGTERM
IDLE_WORKER = """
import signal, sys
from pathlib import Path
from notifykit import Notifier
kit = Notifier.from_config(sys.argv[1])
idle = Path(sys.argv[2])
wait_for_work = kit.ledger.wait_for_work

def waiting(timeout):
    idle.touch()
    return wait_for_work(timeout)

kit.ledger.wait_for_work = waiting
worker = kit.worker(poll=60.0, threads=1)
signal.signal(signal.SIGTERM, lambda *_: worker.stop())
worker.run()
kit.close()
"""


def _python(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    env.pop("NOTIFYKIT_CONFIG", None)
    return subprocess.Popen([sys.executable, *args], env=env, **kwargs)


def submit_elsewhere(location: str) -> None:
    """One submit() by another process into the ledger at ``location`` (the fixture's: a
    ledger's own ``location`` hides a PostgreSQL schema), committed when this returns."""
    proc = _python("-c", SUBMIT, json.dumps(CONFIG), location, stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")


def test_work_another_process_adds_wakes_a_waiting_ledger(
    location: str, open_store: Callable[..., Ledger]
):
    waiter = open_store()
    waiter.wait_for_work(0.01)  # the first wait sets up its listener or socket
    woken: list[tuple[bool, float]] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        began = time.monotonic()
        woken.append((waiter.wait_for_work(30.0), time.monotonic() - began))

    thread = threading.Thread(target=wait)
    thread.start()
    assert waiting.wait(10)
    submit_elsewhere(location)
    thread.join(timeout=40)
    assert woken and woken[0][0] is True, woken
    assert woken[0][1] < 10  # far below the 30 s it would otherwise wait


def test_work_another_process_added_between_two_waits_is_not_missed(
    location: str, open_store: Callable[..., Ledger]
):
    waiter = open_store()
    waiter.wait_for_work(0.01)  # the first wait sets up its listener or socket
    began = time.monotonic()
    assert waiter.wait_for_work(0.3) is False  # nothing happened: the wait runs out
    assert time.monotonic() - began >= 0.25
    submit_elsewhere(location)  # while nobody waits
    began = time.monotonic()
    assert waiter.wait_for_work(30.0) is True
    assert time.monotonic() - began < 5
    # The wake-up was taken: the next wait runs out again.
    assert waiter.wait_for_work(0.3) is False


def test_an_idle_worker_process_starts_what_another_process_submits(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A real worker process, idle with a 60 s poll, sends (to the Exotel simulator) what this
    process submits, within seconds; then SIGTERM ends it."""
    from notifykit_exotel.simulator import ExotelSimulator
    from tests.delivery.conftest import TOKEN, write_config

    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    with ExotelSimulator(sid=SID, token=TOKEN) as sim:
        config = write_config(tmp_path, sim, store=location, worker={"poll": "60s"})
        idle = tmp_path / "idle"
        worker = _python("-c", IDLE_WORKER, str(config), str(idle), stderr=subprocess.PIPE)
        try:
            with Notifier.from_config(config) as kit:
                for round_ in range(1, 4):
                    # It is waiting for work (it touched the file since the last round).
                    idle.unlink(missing_ok=True)
                    wait_until(idle.exists, timeout=30)
                    began = time.monotonic()
                    kit.submit("db.down", data={"host": "db1"})
                    wait_until(lambda n=round_: len(sim.requests) >= n, timeout=10)  # type: ignore[misc]
                    assert time.monotonic() - began < 5  # far below the 60 s poll
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err.decode(errors="replace")
        assert len(sim.requests) == 3


# -- SQLite: the wake-up sockets, and the data_version watch without them -------------------

#: binds its wake-up socket (a first wait), says so, then waits until it is killed
WAITER = """
import sys
from notifykit.ledger.sqlite import SqliteLedger
ledger = SqliteLedger(sys.argv[1])
assert ledger.wait_for_work(0) is True
print("waiting", flush=True)
ledger.wait_for_work(600)
"""


def sockets(ledger: Path) -> list[Path]:
    return sorted(ledger.with_name(ledger.name + "-wake").glob("*.sock"))


def test_a_waiter_has_a_socket_beside_the_ledger_until_it_closes(
    tmp_path: Path, make_plan: Callable[..., Any]
):
    from notifykit.ledger.sqlite import SqliteLedger

    path = tmp_path / "ledger.db"
    submitter = SqliteLedger(path)
    submitter.add(make_plan())
    assert sockets(path) == []  # a ledger that never waits binds nothing
    waiter = SqliteLedger(path)
    try:
        assert waiter.wait_for_work(0) is True  # the first wait: its socket is new
        assert len(sockets(path)) == 1
        assert waiter.wait_for_work(0.05) is False
        submitter.add(make_plan())
        assert waiter.wait_for_work(5) is True
    finally:
        waiter.close()
        submitter.close()
    assert sockets(path) == []


def test_a_dead_waiters_socket_neither_fails_nor_stops_a_submit(
    tmp_path: Path, make_plan: Callable[..., Any]
):
    """A waiter SIGKILLed leaves its socket file; the next commit that announces work removes
    it, and still wakes the live waiters."""
    from notifykit.ledger.sqlite import SqliteLedger

    path = tmp_path / "ledger.db"
    SqliteLedger(path).close()  # created and migrated
    dead = _python("-c", WAITER, str(path), stdout=subprocess.PIPE)
    try:
        assert dead.stdout is not None and dead.stdout.readline() == b"waiting\n"
    finally:
        dead.kill()
        dead.communicate(timeout=10)
    (stale,) = sockets(path)
    waiter, submitter = SqliteLedger(path), SqliteLedger(path)
    try:
        assert waiter.wait_for_work(0) is True
        submitter.add(make_plan())
        assert stale not in sockets(path) and len(sockets(path)) == 1
        assert waiter.wait_for_work(5) is True
    finally:
        waiter.close()
        submitter.close()


def test_a_waiter_that_never_reads_does_not_block_a_submit(
    tmp_path: Path, make_plan: Callable[..., Any]
):
    """Its socket's queue fills up (10 datagrams by default on Linux); the next announcements
    to it are dropped, not waited for."""
    import socket

    from notifykit.ledger.sqlite import SqliteLedger

    path = tmp_path / "ledger.db"
    waiter, submitter = SqliteLedger(path), SqliteLedger(path)
    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        assert waiter.wait_for_work(0) is True  # makes the wake directory
        deaf.bind(str(sockets(path)[0].with_name("deaf.sock")))
        done = threading.Event()

        def submit_many() -> None:
            for _ in range(40):
                submitter.add(make_plan(to="alice"))
            done.set()

        thread = threading.Thread(target=submit_many, daemon=True)
        thread.start()
        assert done.wait(60), "a submit blocked on a full wake-up socket"
        assert waiter.wait_for_work(5) is True
        assert submitter.counts()["pending"] == 40
    finally:
        deaf.close()
        waiter.close()
        submitter.close()


def test_a_waiter_whose_socket_file_was_removed_makes_a_new_one(
    tmp_path: Path, make_plan: Callable[..., Any]
):
    """A clean-up (``rm -r notifykit.db-wake``, a tmp cleaner) makes the socket unreachable;
    within a second or so of waiting the waiter notices and binds a new one."""
    import shutil

    from notifykit.ledger.sqlite import SqliteLedger

    path = tmp_path / "ledger.db"
    waiter, submitter = SqliteLedger(path), SqliteLedger(path)
    try:
        assert waiter.wait_for_work(0) is True
        shutil.rmtree(path.with_name(path.name + "-wake"))
        # Wait slices, as the worker's: the one after the removal is noticed returns True.
        deadline = time.monotonic() + 10
        while not waiter.wait_for_work(0.1):
            assert time.monotonic() < deadline, "the removed socket was not replaced"
        assert len(sockets(path)) == 1
        submitter.add(make_plan())
        assert waiter.wait_for_work(5) is True
    finally:
        waiter.close()
        submitter.close()


@pytest.fixture
def long_path(tmp_path: Path) -> Path:
    """A ledger whose wake-up socket path would not fit a ``sockaddr_un`` (108 bytes): its
    waiters fall back to watching ``PRAGMA data_version``, as on Windows."""
    directory = tmp_path / ("d" * 110)
    directory.mkdir()
    return directory / "ledger.db"


def test_without_a_socket_a_waiter_watches_data_version(long_path: Path):
    from notifykit.ledger.sqlite import SqliteLedger

    waiter = SqliteLedger(long_path)
    try:
        began = time.monotonic()
        assert waiter.wait_for_work(0.3) is False  # no socket, so no "new socket" wake-up
        assert time.monotonic() - began >= 0.25
        assert sockets(long_path) == []
        submit_elsewhere(str(long_path))
        began = time.monotonic()
        assert waiter.wait_for_work(30.0) is True
        assert time.monotonic() - began < 5
        assert waiter.wait_for_work(0.3) is False
    finally:
        waiter.close()


def test_the_data_version_watch_keeps_its_timeout_while_another_thread_holds_the_connection(
    long_path: Path, make_plan: Callable[..., Any]
):
    """Looking at ``data_version`` needs the ledger's connection; a thread holding it (a long
    transaction, a busy wait on another process's lock) delays the look, never the wait's end."""
    from notifykit.ledger.sqlite import SqliteLedger

    ledger = SqliteLedger(long_path)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ledger._connection():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        began = time.monotonic()
        assert ledger.wait_for_work(0.3) is False
        assert time.monotonic() - began < 2
    finally:
        release.set()
        holder.join(timeout=10)
    ledger.add(make_plan())  # this process's own work still wakes it at once
    began = time.monotonic()
    assert ledger.wait_for_work(30.0) is True
    assert time.monotonic() - began < 5
    ledger.close()


def test_an_in_memory_ledger_wakes_for_its_own_work_only(make_plan: Callable[..., Any]):
    """No other process can reach ``:memory:``: its wait is the in-process signal alone."""
    from notifykit.ledger import open_ledger

    ledger = open_ledger(":memory:")
    try:
        began = time.monotonic()
        assert ledger.wait_for_work(0.3) is False
        assert time.monotonic() - began >= 0.25
        ledger.add(make_plan())
        began = time.monotonic()
        assert ledger.wait_for_work(30.0) is True
        assert time.monotonic() - began < 5
        assert ledger.wait_for_work(0.05) is False
    finally:
        ledger.close()
