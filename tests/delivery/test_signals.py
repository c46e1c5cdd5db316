"""Ctrl-C and SIGTERM are honest: real ``notifykit notify`` and ``notifykit worker`` processes,
real signals, the simulator in this process answering late.

Each signal is sent once the simulator has seen N requests (a wait on its request log, not a
sleep). The simulator answers each request a while after it arrived, and a channel sends a
group's requests one after the other, so at that moment every request that was started has
arrived, and any request arriving after the signal was started after it. The tests then check
the exit code and output, the ledger file (states, provider ids, leases) and the simulator's
record of what was sent: nothing sent twice, every accepted request recorded with its Sid,
nothing left ``sending`` or leased, and nothing lost (a worker sends what was not started).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import TOKEN, write_config

ROOT = Path(__file__).resolve().parents[2]
#: the account's timeout: far above the simulator's delays, so an answer never times out
TIMEOUT = 20


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    env["NK_LEDGER_TOKEN"] = TOKEN
    env.pop("NOTIFYKIT_CONFIG", None)
    return env


class Cli:
    """A ``notifykit`` process whose stderr is read line by line as it comes."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifykit", "-c", str(config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(),
            cwd=config.parent,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr_lines: list[str] = []
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        with stream:
            for line in stream:
                self.lines.put(line)

    def signal(self, signum: int) -> float:
        """Send ``signum``; returns when (monotonic clock, the simulator's)."""
        at = time.monotonic()
        os.kill(self.proc.pid, signum)
        return at

    def wait_for_line(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no stderr line with {text!r} within {timeout} s: {self.stderr_lines}"
                ) from None
            self.stderr_lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the exit; returns (code, stdout, all of stderr)."""
        assert self.proc.stdout is not None
        with self.proc.stdout:
            out = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        while not self.lines.empty():
            self.stderr_lines.append(self.lines.get())
        return code, out, "".join(self.stderr_lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def cli() -> Iterator[Any]:
    started: list[Cli] = []

    def start(config: Path, *args: str) -> Cli:
        process = Cli(config, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def numbers(n: int, prefix: str) -> list[str]:
    return [f"+91{prefix}{i:05d}" for i in range(n)]


def ledger_rows(path: Path) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT id, address, state, provider_id, error, lease_owner, lease_expires, attempts "
            "FROM deliveries ORDER BY seq"
        ).fetchall()
        open_attempts = db.execute("SELECT COUNT(*) FROM attempts WHERE finished IS NULL")
        assert open_attempts.fetchone()[0] == 0, "an attempt was left open"
    return [dict(r) for r in rows]


def paged(request: Any) -> list[str]:
    """The numbers a request pages: a call rings its ``From`` (then connects ``To``, the
    bridge), an SMS goes to its ``To`` numbers."""
    if "Calls/connect" in request.path:
        return list(request.form["From"])
    return list(request.recipients)


def sent_by_simulator(sim: ExotelSimulator) -> dict[str, str]:
    """Number (last 10 digits) -> the Sid the simulator gave its call or SMS."""
    calls = {str(call["From"])[-10:]: sid for sid, call in sim.calls.items()}
    return {**calls, **{str(sms["To"])[-10:]: sid for sid, sms in sim.messages.items()}}


def assert_honest(rows: list[dict[str, Any]], sim: ExotelSimulator) -> dict[str, int]:
    """Nothing sent twice; every number the simulator accepted is ``sent`` with its Sid (or
    ``unknown`` when the run stopped waiting for it); every other delivery is ``pending``, its
    lease released; none is left ``sending``. Returns the counts per state."""
    per_number: dict[str, int] = {}
    for request in sim.requests:
        for number in paged(request):
            per_number[number[-10:]] = per_number.get(number[-10:], 0) + 1
    assert not per_number or max(per_number.values()) == 1, "a number was sent to twice"
    accepted = sent_by_simulator(sim)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
        number = row["address"][-10:]
        if row["state"] == "sent":
            assert row["provider_id"] == accepted[number], row
        elif row["state"] == "unknown":
            assert per_number.get(number) == 1, row  # its request did reach the simulator
        else:
            assert row["state"] == "pending", row
            assert number not in per_number, row
            assert (row["lease_owner"], row["lease_expires"]) == (None, None), row
    return counts


def assert_no_request_after(sim: ExotelSimulator, at: float) -> None:
    late = [r for r in sim.requests if r.time > at]
    times = [(round(r.time - at, 3), r.duration_ms) for r in sim.requests]
    assert not late, f"{len(late)} request(s) started after the signal: {times}"


# -- notify ----------------------------------------------------------------------------------


def test_sigint_during_notify_starts_no_new_call_and_exits_4_naming_what_went_out(
    tmp_path, sim, cli
):
    """Six calls, one after the other, each answered 0.4 s after it arrived; Ctrl-C while the
    second is in flight. The second is answered and recorded with its Sid, the other four are
    never requested and stay pending, released, for a worker, which sends each once."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT})
    to = numbers(6, "96100")
    sim.inject(Fault(delay=0.4), fraction=1.0)
    notify = cli(config, "--json", "notify", "db.down", "--channel", "call", "--to", ",".join(to))
    sim.wait_for_requests(2, timeout=30)
    at = notify.signal(signal.SIGINT)
    code, out, err = notify.finish()
    assert code == 4, err
    assert_no_request_after(sim, at)
    assert len(sim.requests) == 2
    rows = ledger_rows(tmp_path / "ledger.db")
    assert assert_honest(rows, sim) == {"sent": 2, "pending": 4}
    assert "SIGINT: starting no new request" in err
    sent = [r for r in rows if r["state"] == "sent"]
    assert "interrupted (SIGINT): 2 deliveries may have been sent" in err
    for row in sent:
        assert row["id"] in err and row["provider_id"] in err
    assert "4 deliveries were not sent: pending in" in err
    assert "could not be recorded" not in err and "Traceback" not in err
    report = json.loads(out)
    assert report["interrupted"] == "SIGINT" and report["exit_code"] == 4
    assert sorted(report["may_have_been_sent"]) == sorted(r["id"] for r in sent)
    assert len(report["not_sent_pending"]) == 4
    pending = [r for r in rows if r["state"] == "pending"]
    assert all("stopped (SIGINT)" in (r["error"] or "") for r in pending)
    # Nothing lost: a worker sends the four at once (their leases were released), and nothing
    # already sent goes out again.
    sim.clear_faults()
    drain = subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), "worker", "--drain"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert drain.returncode == 0, drain.stderr
    assert assert_honest(ledger_rows(tmp_path / "ledger.db"), sim) == {"sent": 6}


def test_sigterm_during_a_broadcast_in_three_groups(tmp_path, sim, cli):
    """1,500 numbers by bulk SMS: three groups of 500 in flight at once, five requests of 100
    each, one after the other; SIGTERM once the first request of each is in flight. Each group
    finishes it and starts no other: every accepted number is recorded sent with its Sid, the
    rest is pending, released."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT})
    to = numbers(1500, "96200")
    sim.inject(Fault(delay=0.3), fraction=1.0)
    notify = cli(config, "--json", "notify", "db.down", "-d", "host=db1", "--to", ",".join(to))
    sim.wait_for_requests(3, timeout=30)
    at = notify.signal(signal.SIGTERM)
    code, out, err = notify.finish()
    assert code == 4, err
    assert_no_request_after(sim, at)
    rows = ledger_rows(tmp_path / "ledger.db")
    counts = assert_honest(rows, sim)
    assert len(sim.requests) == 3  # the ones in flight when it came, one per group
    assert counts == {"sent": 300, "pending": 1200}
    report = json.loads(out)
    assert report["interrupted"] == "SIGTERM"
    assert len(report["may_have_been_sent"]) == counts["sent"]
    assert f"{counts['sent']} deliveries may have been sent" in err
    assert "and " in err and "more (--json lists them all)" in err


def test_a_second_sigint_stops_waiting_for_the_call_in_flight(tmp_path, sim, cli):
    """The call in flight takes 8 s to be answered; a second Ctrl-C does not wait for it: it
    is recorded unknown (it may have been sent), the rest stays pending, and the process
    exits at once."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT})
    to = numbers(3, "96300")
    sim.inject(Fault(delay=8), fraction=1.0)
    notify = cli(config, "notify", "db.down", "--channel", "call", "--to", ",".join(to))
    sim.wait_for_requests(1, timeout=30)
    notify.signal(signal.SIGINT)
    notify.wait_for_line("starting no new request")
    second = notify.signal(signal.SIGINT)
    code, _, err = notify.finish()
    took = time.monotonic() - second
    assert code == 4, err
    assert took < 4, f"it waited {took:.1f} s for the request in flight"
    assert "not waiting for the requests in flight" in err
    rows = ledger_rows(tmp_path / "ledger.db")
    assert [r["state"] for r in rows] == ["unknown", "pending", "pending"]
    unknown = rows[0]
    assert unknown["provider_id"] is None
    assert "interrupted (SIGINT) while its request was in flight" in unknown["error"]
    assert unknown["id"] in err and "1 delivery may have been sent" in err
    assert all((r["lease_owner"], r["lease_expires"]) == (None, None) for r in rows)
    assert len(sim.requests) == 1


def test_sigint_before_anything_is_sent_exits_3(tmp_path, sim, cli):
    """Every request is refused by the gate when the signal came first: nothing sent, exit 3,
    and the notification's deliveries are pending for a worker."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT})
    # The simulator refuses the first call outright (a 400: certainly not sent) after a while,
    # and the signal comes while that refusal is in flight.
    sim.inject(Fault(delay=0.5, status=400, message="Invalid Recipient"))
    to = numbers(3, "96400")
    notify = cli(config, "notify", "db.down", "--channel", "call", "--to", ",".join(to))
    sim.wait_for_requests(1, timeout=30)
    notify.signal(signal.SIGINT)
    code, _, err = notify.finish()
    assert code == 3, err
    assert "interrupted (SIGINT): nothing was sent" in err
    rows = ledger_rows(tmp_path / "ledger.db")
    assert [r["state"] for r in rows] == ["failed", "pending", "pending"]
    assert len(sim.requests) == 1


# -- the worker --------------------------------------------------------------------------------


def _submit(config: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), "submit", "db.down", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


WORKER = {"lease": "60s", "poll": "0.2s", "batch": 100}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_stops_a_worker_mid_group_of_calls(tmp_path, sim, cli, signum):
    """One notification to six numbers by call: one group, its calls one after the other.
    The signal comes while the second call is in flight: it is answered and recorded with its
    Sid, no other call starts, and the four left are released at once (a second worker sends
    them, each once)."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT}, worker=WORKER)
    to = numbers(6, "96500")
    _submit(config, "--channel", "call", "--to", ",".join(to))
    sim.inject(Fault(delay=0.4), fraction=1.0)
    worker = cli(config, "--json", "worker", "--threads", "2", "--node", "w1")
    sim.wait_for_requests(2, timeout=30)
    at = worker.signal(signum)
    code, out, err = worker.finish()
    assert code == 0, err
    assert_no_request_after(sim, at)
    assert len(sim.requests) == 2
    rows = ledger_rows(tmp_path / "ledger.db")
    assert assert_honest(rows, sim) == {"sent": 2, "pending": 4}
    assert json.loads(out)["counts"] == {"sent": 2, "pending": 4}
    assert "starting no new request" in err
    assert "could not be recorded" not in err and "Traceback" not in err
    sim.clear_faults()
    drain = cli(config, "worker", "--drain", "--node", "w2")
    assert drain.finish()[0] == 0
    assert assert_honest(ledger_rows(tmp_path / "ledger.db"), sim) == {"sent": 6}


def test_a_second_signal_stops_the_worker_waiting_for_requests_in_flight(tmp_path, sim, cli):
    """Two groups of calls in flight, each call answered 8 s after it arrived. The first
    SIGTERM: no new call; the second: the worker stops waiting, records both calls in flight
    unknown, releases the rest at once, closes the ledger and exits 4, without starting a call
    or failing to record anything."""
    config = write_config(tmp_path, sim, account={"timeout": TIMEOUT}, worker=WORKER)
    for prefix in ("96600", "96610"):
        _submit(config, "--channel", "call", "--to", ",".join(numbers(3, prefix)))
    sim.inject(Fault(delay=8), fraction=1.0)
    worker = cli(config, "worker", "--threads", "2")
    sim.wait_for_requests(2, timeout=30)
    worker.signal(signal.SIGTERM)
    worker.wait_for_line("starting no new request")
    second = worker.signal(signal.SIGTERM)
    code, _, err = worker.finish()
    took = time.monotonic() - second
    assert code == 4, err
    assert took < 4, f"it waited {took:.1f} s for the requests in flight"
    assert "not waiting for the requests in flight" in err
    assert "could not be recorded" not in err and "Traceback" not in err
    rows = ledger_rows(tmp_path / "ledger.db")
    assert assert_honest(rows, sim) == {"unknown": 2, "pending": 4}
    for row in rows:
        if row["state"] == "unknown":
            assert "interrupted (SIGTERM) while its request was in flight" in row["error"]
            assert (row["lease_owner"], row["lease_expires"]) == (None, None)
    assert len(sim.requests) == 2
