"""The reliable-delivery commands as a user runs them: real processes, a real ledger file, the
simulator over HTTP, signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import PHONES, TOKEN, free_port, wait_until, write_config

DELIVERY_KEYS = {
    "id",
    "channel",
    "recipient",
    "address",
    "state",
    "provider_id",
    "attempts",
    "error",
}


def _env() -> dict[str, str]:
    return {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "NOTIFYKIT_DISABLE_PLUGINS": ""}


def run(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path, sim: ExotelSimulator) -> Path:
    return write_config(tmp_path, sim)


def test_submit_then_drain_then_history(config, sim):
    first = run(
        config, "submit", "db.down", "-d", "host=db1", "--to", "oncall", "--key", "k1", "--json"
    )
    assert first.returncode == 0, first.stderr
    submitted = json.loads(first.stdout)
    assert set(submitted) >= {"id", "deliveries", "duplicate"} and not submitted["duplicate"]
    again = run(config, "submit", "db.down", "-d", "host=db1", "--key", "k1", "--json")
    assert json.loads(again.stdout) == {**submitted, "duplicate": True}
    plain = run(config, "submit", "db.up", "-d", "host=db1")
    assert plain.returncode == 0 and len(plain.stdout.strip()) == 26  # just the id
    assert sim.requests == []

    drained = run(config, "worker", "--drain", "--node", "w1")
    assert drained.returncode == 0, drained.stderr
    assert "3 sent" in drained.stdout
    # db.down to oncall (p0, p1) in one bulk request, db.up to the default p0.
    assert [len(sim.requests_to(p)) for p in PHONES[:2]] == [2, 1]

    listed = json.loads(run(config, "history", "--json").stdout)
    assert [n["event"] for n in listed] == ["db.up", "db.down"]
    assert set(listed[1]) == {
        "id",
        "event",
        "severity",
        "key",
        "created",
        "receiver",
        "step",
        "deliveries",
    }
    assert (listed[1]["receiver"], listed[1]["step"]) == (None, None)  # not routed by a route:
    assert listed[1]["key"] == "k1" and listed[1]["id"] == submitted["id"]
    assert all(set(d) >= DELIVERY_KEYS for n in listed for d in n["deliveries"])
    assert {d["state"] for n in listed for d in n["deliveries"]} == {"sent"}
    assert (
        json.loads(run(config, "history", "--json", "--limit", "1").stdout)[0]["event"] == "db.up"
    )
    assert json.loads(run(config, "history", "--json", "--state", "failed").stdout) == []

    one = json.loads(run(config, "history", submitted["id"], "--json").stdout)
    assert one["id"] == submitted["id"]
    for delivery in one["deliveries"]:
        assert [a["outcome"] for a in delivery["attempt_log"]] == ["sent"]
        assert delivery["attempt_log"][0]["worker"] == "w1" and delivery["events"] == []
    text = run(config, "history", submitted["id"]).stdout
    assert "attempt 1" in text and "sent" in text


def test_drain_exit_codes(config, sim):
    run(config, "submit", "db.down", "-d", "host=a")
    sim.inject(Fault(drop=True))
    unknown = run(config, "worker", "--drain")
    assert unknown.returncode == 4, unknown.stdout + unknown.stderr
    run(config, "submit", "db.down", "-d", "host=b")
    sim.inject(Fault(status=400, code=40007, message="invalid To"))
    failed = run(config, "worker", "--drain", "--json")
    assert failed.returncode == 2 and json.loads(failed.stdout)["counts"] == {"failed": 1}
    nothing = run(config, "worker", "--drain")
    assert nothing.returncode == 0


def test_caller_mistakes_exit_3_and_store_nothing(config, tmp_path):
    result = run(config, "submit", "db.down", "--to", "nobody")
    assert result.returncode == 3 and "no recipient or group named 'nobody'" in result.stderr
    assert not (tmp_path / "ledger.db").exists()  # nothing even opened the ledger


def test_a_corrupt_ledger_is_a_clear_error_and_nothing_is_sent(config, sim, tmp_path):
    (tmp_path / "ledger.db").write_bytes(b"this is not a database" * 100)
    for command in (["submit", "db.down", "-d", "host=x"], ["notify", "db.down", "-d", "host=x"]):
        result = run(config, *command)
        assert result.returncode == 2, result.stderr
        assert "not a SQLite database or is corrupt" in result.stderr
        assert "Traceback" not in result.stderr and TOKEN not in result.stderr
    assert sim.requests == []


def test_sigterm_stops_the_worker_gracefully(config, sim, tmp_path):
    for i in range(3):
        run(config, "submit", "db.down", "-d", "host=x", "--to", f"+9198400{i:05d}")
    sim.inject(Fault(delay=0.5))  # the account's timeout is 1 s
    worker = subprocess.Popen(
        [sys.executable, "-m", "notifykit", "-c", str(config), "worker", "--threads", "1"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sim.wait_for_requests(1, timeout=30)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode == 0, err
    assert "finishing what is in flight" in err
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        states = sorted(r[0] for r in conn.execute("SELECT state FROM deliveries"))
        leases = conn.execute("SELECT COUNT(*) FROM deliveries WHERE lease_owner IS NOT NULL")
        assert states == ["pending", "pending", "sent"] and leases.fetchone() == (0,)
    assert len(sim.requests) == 1


def test_serve_receives_status_callbacks_as_a_real_process(tmp_path, sim):
    port = free_port()
    config = write_config(tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}"})
    server = subprocess.Popen(
        [sys.executable, "-m", "notifykit", "-c", str(config), "serve", "--port", str(port)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _up(port), timeout=20)
        sent = run(config, "notify", "db.down", "-d", "host=db1", "--json")
        assert sent.returncode == 0, sent.stderr
        delivery = json.loads(sent.stdout)["deliveries"][0]
        attempt = sim.deliver_sms(delivery["provider_id"], "sent")
        assert attempt is not None and attempt.status == 200
        listed = json.loads(run(config, "history", "--json").stdout)
        assert listed[0]["deliveries"][0]["state"] == "delivered"
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
        assert server.returncode == 0
    finally:
        server.kill()


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
