"""The audit trail through the command line, in real processes on a real ledger file: ``ack`` and
``resolve`` with ``--by`` and without (the OS user name), ``notify --resolved``, and ``notifykit
audit`` with ``--json``, ``--since`` and ``--limit``."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.delivery.test_cli_delivery import run
from tests.delivery.test_routing_sends import ROUTING, write_config


@pytest.fixture
def config(tmp_path, sim):
    return write_config(tmp_path, sim, **ROUTING)


def audit(config, *args: str) -> list[dict]:
    result = run(config, "audit", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_ack_and_resolve_name_who_and_the_cli(config):
    user = getpass.getuser()  # the subprocess runs as this user, with this environment
    for host in ("db7", "db8"):
        sent = run(config, "notify", "db.down", "-s", "critical", "-l", f"host={host}")
        assert sent.returncode == 0, sent.stderr
    assert run(config, "ack", "db.down{host=db7}", "--by", "asha").returncode == 0
    assert run(config, "ack", "db.down{host=db8}").returncode == 0
    assert run(config, "resolve", "db.down{host=db7}").returncode == 0
    assert run(config, "resolve", "db.down{host=db8}", "--by", "ravi").returncode == 0
    assert run(config, "resolve", "db.down{host=db8}", "--by", "ravi").returncode == 1  # nothing
    trail = audit(config)
    assert [(r["action"], r["path"], r["actor"], r["target"]["key"]) for r in trail] == [
        ("acknowledged", "cli", "asha", "db.down{host=db7}"),
        ("acknowledged", "cli", user, "db.down{host=db8}"),
        ("resolved", "cli", user, "db.down{host=db7}"),
        ("resolved", "cli", "ravi", "db.down{host=db8}"),
    ]
    first = trail[0]
    assert set(first) == {"at", "action", "path", "actor", "target", "detail"}
    assert set(first["target"]) == {"key", "receiver", "escalation", "policy"}
    assert first["target"]["policy"] == "primary" and first["detail"] is None
    at = datetime.fromisoformat(first["at"])
    assert at.tzinfo is not None and abs(datetime.now(timezone.utc) - at) < timedelta(minutes=5)
    text = run(config, "audit")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 4
    assert "acknowledged" in lines[0] and "db.down{host=db7}" in lines[0]
    assert "by asha via cli" in lines[0] and "escalation primary" in lines[0]
    assert f"by {user} via cli" in lines[2] and "resolved" in lines[2]


def test_notify_resolved_through_the_cli(config):
    assert run(config, "notify", "db.down", "-s", "critical", "-l", "host=db9").returncode == 0
    resolved = run(config, "notify", "db.down", "-s", "critical", "-l", "host=db9", "--resolved")
    assert resolved.returncode == 0, resolved.stderr
    [row] = audit(config)
    assert (row["action"], row["path"], row["actor"]) == ("resolved", "cli", getpass.getuser())


def test_audit_since_and_limit(config):
    assert audit(config) == []
    assert run(config, "audit").stdout.strip() == "no actions in the audit trail"
    for host in ("a", "b", "c"):
        assert (
            run(config, "notify", "db.down", "-s", "critical", "-l", f"host={host}").returncode == 0
        )
        assert run(config, "ack", f"db.down{{host={host}}}", "--by", host).returncode == 0
    assert [r["actor"] for r in audit(config, "--since", "1h")] == ["a", "b", "c"]
    assert [r["actor"] for r in audit(config, "--limit", "2")] == ["b", "c"]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(timespec="seconds")
    assert audit(config, "--since", later) == []
    earlier = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(tzinfo=None)
    assert len(audit(config, "--since", earlier.isoformat(timespec="seconds"))) == 3  # UTC
    bad = run(config, "audit", "--since", "yesterday")
    assert bad.returncode == 3
    assert "'yesterday' is neither a duration (30m, 24h, 7d) nor an ISO time" in bad.stderr
