"""The delivery commands do what docs/cli.md says: ``reconcile --older-than`` takes a duration as
the config does, ``history`` prints times with their zone, and ``--sandbox`` is honest about the
ledger it throws away. Real processes, a real ledger file, the simulator over HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import write_config
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
