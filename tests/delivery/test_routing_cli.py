"""The routing commands as a user runs them, in real processes on a real ledger file:
``routes tree``, ``routes test --json/--expect``, ``notify --label``, ``ack``, ``resolve`` and
``config check --strict-events``."""

from __future__ import annotations

import json

import pytest

from tests.delivery.conftest import PHONES
from tests.delivery.test_cli_delivery import run
from tests.delivery.test_escalation import sends
from tests.delivery.test_routing_sends import ROUTING, write_config


@pytest.fixture
def config(tmp_path, sim):
    return write_config(tmp_path, sim, events={"db.down": {"severity": "error"}}, **ROUTING)


def test_routes_tree(config):
    result = run(config, "routes", "tree")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("route -> oncall-sms [sms -> oncall]")
    assert any('severity="critical"' in line and "dba" in line for line in lines)
    assert any("active: business-hours" in line for line in lines)


def test_routes_test_json_is_the_documented_shape(config, sim):
    result = run(
        config,
        "--json",
        "routes",
        "test",
        "db.down",
        "--severity",
        "critical",
        "--label",
        "service=db",
        "--label",
        "host=db1",
        "--at",
        "2027-01-18T10:00+05:30",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"key", "receivers", "routes", "deliveries", "muted"}
    assert out["key"] == "db.down{host=db1}"
    assert out["receivers"] == ["dba", "page-primary"]
    dba = [d for d in out["deliveries"] if d["receiver"] == "dba"]
    assert [(d["channel"], d["to"], d["from"], d["priority"]) for d in dba] == [
        ("sms", "p2", "NKALRT", "high"),
        ("call", "p2", "08088919888", "high"),
    ]
    steps = [d for d in out["deliveries"] if d["receiver"] == "page-primary"]
    assert [(d["channel"], d["after"]) for d in steps] == [("sms", 0), ("call", 300), ("call", 600)]
    assert sim.requests == []  # nothing sent


def test_routes_test_shows_muted_receivers_and_expect_fails_in_ci(config):
    result = run(
        config, "--json", "routes", "test", "batch.nightly", "--at", "2027-01-23T10:00+05:30"
    )
    out = json.loads(result.stdout)
    assert out["receivers"] == []
    assert out["muted"] == [
        {"receiver": "oncall-sms", "reason": "outside its active_time_intervals (business-hours)"}
    ]
    ok = run(config, "routes", "test", "app.slow", "--expect", "oncall-sms")
    assert ok.returncode == 0, ok.stderr
    wrong = run(config, "routes", "test", "app.slow", "--expect", "dba,oncall-sms")
    assert wrong.returncode == 1
    assert "expected receivers dba, oncall-sms, got oncall-sms" in wrong.stderr


def test_notify_with_labels_then_ack_and_resolve(config, sim):
    sent = run(
        config, "--json", "notify", "db.down", "-s", "critical", "-l", "host=db7", "-l", "x=1"
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["key"] == "db.down{host=db7}"
    assert sends(sim) == [("sms", PHONES[0])]
    acked = run(config, "--json", "ack", "db.down{host=db7}", "--by", "asha")
    assert acked.returncode == 0, acked.stderr
    [record] = json.loads(acked.stdout)["acked"]
    assert (record["state"], record["acked_by"]) == ("acked", "asha")
    assert run(config, "ack", "db.down{host=db7}").returncode == 1  # nothing active now
    resolved = run(config, "resolve", "db.down{host=db7,x=1}")  # the alert's own key
    assert resolved.returncode == 0, resolved.stderr
    assert run(config, "resolve", "db.down{host=db7,x=1}").returncode == 1  # already resolved
    assert run(config, "resolve", "no.such{alert=1}").returncode == 1


def test_config_check_strict_events(config, tmp_path, sim):
    assert run(config, "config", "check", "--strict-events", "--event", "db.down").returncode == 0
    unknown = run(config, "config", "check", "--strict-events", "--event", "db.dwon")
    assert unknown.returncode == 3
    assert "event 'db.dwon' is named by no route and no events: entry" in unknown.stdout
    assert "did you mean 'db.down'" in unknown.stdout
