"""The silence commands and ``ack --snooze`` as a user runs them, in real processes on a real
ledger file, with real HTTP to the simulator: ``silence add`` prints the id and refuses bad
matchers with the fix, ``notify`` is muted while the silence lasts (its report says by which),
``routes test`` names the silence, ``silence list``/``expire`` and the audit trail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.delivery.conftest import write_config
from tests.delivery.test_cli_delivery import run
from tests.delivery.test_escalation import sends

ROUTING: dict[str, Any] = {
    "receivers": {
        "ops": {"channels": ["sms"], "to": ["p2"]},
        "page": {"escalation": "primary"},
    },
    "route": {
        "receiver": "ops",
        "group_by": ["host"],
        "repeat_interval": "4h",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "page"}],
    },
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["call"], "to": ["p1"]},
            ]
        }
    },
}


@pytest.fixture
def config(tmp_path, sim):
    return write_config(tmp_path, sim, **ROUTING)


def test_silence_add_list_expire_and_what_it_mutes(config, sim):
    untouched = run(config, "--json", "routes", "test", "db.down", "-l", "service=db")
    assert json.loads(untouched.stdout)["silenced_by"] is None
    assert not (config.parent / "ledger.db").exists()  # a dry run creates no ledger
    bad = run(config, "silence", "add", "service", "--for", "2h", "--comment", "x")
    assert bad.returncode == 3
    assert 'no operator after the label name: write service="value"' in bad.stderr
    everything = run(config, "silence", "add", 'env=~".*"', "--for", "2h", "--comment", "x")
    assert everything.returncode == 3 and "would mute every alert" in everything.stderr
    made = run(
        config, "silence", "add", "service=db", 'env=~"prod|stage"', "--for", "2h",
        "--comment", "db failover drill", "--by", "asha",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    silence_id = made.stdout.strip()
    assert len(silence_id) == 36

    listed = run(config, "--json", "silence", "list")
    [shown] = json.loads(listed.stdout)
    assert shown["id"] == silence_id and shown["state"] == "active"
    assert shown["matchers"] == ['service="db"', 'env=~"prod|stage"']
    assert (shown["created_by"], shown["comment"]) == ("asha", "db failover drill")

    tested = run(
        config, "--json", "routes", "test", "db.down", "-l", "service=db", "-l", "env=prod"
    )
    assert json.loads(tested.stdout)["silenced_by"]["id"] == silence_id
    other = run(config, "--json", "routes", "test", "db.down", "-l", "service=db", "-l", "env=dev")
    assert json.loads(other.stdout)["silenced_by"] is None

    muted = run(config, "notify", "db.down", "-l", "service=db", "-l", "env=prod", "-l", "host=a")
    assert muted.returncode == 0, muted.stderr
    assert f"muted: ops: silenced by {silence_id} until " in muted.stdout
    assert sends(sim) == []
    sent = run(config, "notify", "db.down", "-l", "service=db", "-l", "env=dev", "-l", "host=b")
    assert sent.returncode == 0 and len(sends(sim)) == 1

    expired = run(config, "silence", "expire", silence_id[:8], "--by", "ravi")
    assert expired.returncode == 0 and expired.stdout.strip() == f"expired {silence_id}"
    assert json.loads(run(config, "--json", "silence", "list").stdout) == []
    [old] = json.loads(run(config, "--json", "silence", "list", "--all").stdout)
    assert old["state"] == "expired" and old["expired_by"] == "ravi"
    missing = run(config, "silence", "expire", "ffffffff")
    assert missing.returncode == 3 and "no silence has the id 'ffffffff'" in missing.stderr

    audit = json.loads(run(config, "--json", "audit").stdout)
    assert [(a["action"], a["actor"], a["path"]) for a in audit] == [
        ("silence-created", "asha", "cli"),
        ("silence-expired", "ravi", "cli"),
    ]


def test_ack_snooze_from_the_command_line(config, sim):
    sent = run(config, "notify", "db.down", "-s", "critical", "-l", "host=db7")
    assert sent.returncode == 0, sent.stderr
    snoozed = run(config, "--json", "ack", "{host=db7}", "--snooze", "30m", "--by", "asha")
    assert snoozed.returncode == 0, snoozed.stderr
    [record] = json.loads(snoozed.stdout)["acked"]
    assert record["state"] == "snoozed" and record["acked_by"] == "asha"
    assert record["wake_at"] - record["acked_at"] == pytest.approx(1800)
    text = run(config, "ack", "{host=db7}", "--snooze", "10m")
    assert text.returncode == 0 and text.stdout.startswith("snoozed {host=db7} until ")
    bad = run(config, "ack", "{host=db7}", "--snooze", "soon")
    assert bad.returncode == 3 and "not a positive duration" in bad.stderr
    audit = json.loads(run(config, "--json", "audit").stdout)
    assert [a["action"] for a in audit] == ["snoozed", "snoozed"]
