"""The delivery commands do what docs/cli.md says: ``reconcile --older-than`` takes a duration as
the config does, ``history`` prints times with their zone, and ``--sandbox`` is honest about the
ledger it throws away. Real processes, a real ledger file, the simulator over HTTP."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import TOKEN, write_config
from tests.delivery.test_cli_delivery import run


@pytest.fixture
def config(tmp_path: Path, sim: ExotelSimulator) -> Path:
    return write_config(tmp_path, sim)


def test_reconcile_older_than_takes_a_duration_like_the_config(config, sim):
    sent = run(config, "--json", "notify", "db.down", "-d", "host=db1", "--to", "p0")
    assert sent.returncode == 0, sent.stderr
    [delivery] = json.loads(sent.stdout)["deliveries"]
    sim.deliver_sms(delivery["provider_id"], "sent")
    # Sent a moment ago: with 10m, 90s, 1h or 600 (seconds) it is too soon to look it up.
    for older_than in ("10m", "90s", "1h", "1h30m", "600"):
        soon = run(config, "--json", "reconcile", "--older-than", older_than)
        assert soon.returncode == 0, (older_than, soon.stderr)
        assert json.loads(soon.stdout) == [], older_than
    assert [r for r in sim.requests if r.method == "GET"] == []
    # With 0s it is not: it is looked up, and the provider's answer recorded.
    now = run(config, "--json", "reconcile", "--older-than", "0s")
    assert now.returncode == 0, now.stderr
    [changed] = json.loads(now.stdout)
    assert (changed["id"], changed["state"]) == (delivery["id"], "delivered")
    assert datetime.fromisoformat(changed["updated"]).utcoffset() is not None  # ISO, with offset


def test_the_duration_option_reads_durations_as_the_config_does():
    from notifykit.cli.delivery import duration
    from notifykit.config.delivery import parse_duration

    for text, seconds in [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2.5", 2.5)]:
        assert duration(text) == seconds == parse_duration(text)


def test_reconcile_refuses_what_is_not_a_duration_and_names_the_form(config):
    refused = run(config, "reconcile", "--older-than", "10 minutes")
    assert refused.returncode == 3  # a usage error
    assert "'10 minutes' is not a duration" in refused.stderr
    assert "10m" in refused.stderr and "seconds" in refused.stderr


def test_sandbox_submit_is_refused_with_the_fix_not_stored_in_a_ledger_that_vanishes(config, sim):
    refused = run(config, "--sandbox", "submit", "db.down", "-d", "host=db1")
    assert refused.returncode == 3, refused.stdout
    assert refused.stdout == ""  # no id: nothing was accepted
    message = refused.stderr
    assert "--sandbox" in message and "in memory" in message
    assert "notifykit --sandbox notify" in message and "without --sandbox" in message
    as_json = run(config, "--sandbox", "--json", "submit", "db.down", "-d", "host=db1")
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["ok"] is False
    assert not (config.parent / "ledger.db").exists() and sim.requests == []
    # Without --sandbox the same submit is accepted into the config's ledger, for a worker.
    accepted = run(config, "submit", "db.down", "-d", "host=db1")
    assert accepted.returncode == 0 and len(accepted.stdout.strip()) == 26


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "--drain"],
        ["workers"],
        ["history"],
        ["reconcile"],
        ["serve", "--port", "0"],
        ["ack", "db.down{host=db1}"],
        ["resolve", "db.down{host=db1}"],
    ],
    ids=lambda c: c[0],
)
def test_sandbox_commands_that_need_a_lasting_ledger_say_so(config, command):
    # Each --sandbox run has a fresh, empty, in-memory ledger: these commands would report on
    # (or wait for) work no earlier command could have left there.
    refused = run(config, "--sandbox", *command, timeout=30)
    assert refused.returncode == 3, (refused.stdout, refused.stderr)
    assert "--sandbox" in refused.stderr and "in memory" in refused.stderr
    assert f"Run `notifykit {command[0]}` without --sandbox" in refused.stderr


def test_a_ledger_locked_by_another_process_names_the_file_and_the_fix(tmp_path, sim):
    config = write_config(tmp_path, sim, store={"path": "ledger.db", "busy_timeout": "300ms"})
    assert run(config, "submit", "db.down", "-d", "host=db1").returncode == 0  # the ledger exists
    ledger = tmp_path / "ledger.db"
    other = sqlite3.connect(str(ledger), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        refused = run(config, "submit", "db.down", "-d", "host=db2")
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        message = refused.stderr
        assert str(ledger) in message and "locked by another process" in message
        assert "store.busy_timeout (0.3s)" in message and "stop that process" in message
        assert "migration" not in message
        # Reading needs no write lock (WAL): history works while the other process writes.
        read = run(config, "--json", "history")
        assert read.returncode == 0, read.stderr
        assert len(json.loads(read.stdout)) == 1
    finally:
        other.close()
    assert len(json.loads(run(config, "--json", "history").stdout)) == 1


def run_in_zone(config: Path, zone: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``notifykit ARGS`` on a machine whose local time zone is ``zone`` (TZ)."""
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "NOTIFYKIT_DISABLE_PLUGINS": "", "TZ": zone}
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "-c", str(config), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("zone", "shown", "offset"),
    [
        ("Asia/Kolkata", "IST (+05:30)", timedelta(hours=5, minutes=30)),
        ("UTC", "UTC (+00:00)", timedelta(0)),
    ],
)
def test_history_prints_times_with_their_zone(config, sim, zone, shown, offset):
    sent = run(config, "--json", "notify", "db.down", "-d", "host=db1", "--to", "p0")
    assert sent.returncode == 0, sent.stderr
    notification = json.loads(sent.stdout)["id"]
    with sqlite3.connect(config.parent / "ledger.db") as db:
        [(created,)] = db.execute("SELECT created FROM notifications").fetchall()
    local = datetime.fromtimestamp(created).astimezone(_zone(zone))

    listed = run_in_zone(config, zone, "history")
    assert listed.returncode == 0, listed.stderr
    assert f"{local:%Y-%m-%d %H:%M:%S} {shown}" in listed.stdout
    one = run_in_zone(config, zone, "history", notification)
    assert one.returncode == 0, one.stderr
    # Every time printed (the notification's, each attempt's) carries its zone.
    stamps = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [A-Z]+ \([+-]\d\d:\d\d\))?", one.stdout)
    assert len(stamps) >= 2 and all(s.endswith(shown) for s in stamps), one.stdout

    # --json: ISO 8601 with the offset, the same moment as the ledger's.
    [listed_json] = json.loads(run_in_zone(config, zone, "--json", "history").stdout)
    moment = datetime.fromisoformat(listed_json["created"])
    assert moment.utcoffset() == offset
    assert abs(moment.timestamp() - created) < 0.001
    detail = json.loads(run_in_zone(config, zone, "--json", "history", notification).stdout)
    [delivery] = detail["deliveries"]
    [attempt] = delivery["attempt_log"]
    for value in (delivery["updated"], attempt["started"], attempt["finished"]):
        assert datetime.fromisoformat(value).utcoffset() == offset, value

    # The same for the workers a worker left in the ledger.
    assert run_in_zone(config, zone, "worker", "--drain", "--node", "w1").returncode == 0
    seen = run_in_zone(config, zone, "workers")
    assert re.search(
        rf"w1 .* seen \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {re.escape(shown)}$", seen.stdout
    )
    [worker] = json.loads(run_in_zone(config, zone, "--json", "workers").stdout)
    for value in (worker["started"], worker["heartbeat"]):
        assert datetime.fromisoformat(value).utcoffset() == offset, value


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
