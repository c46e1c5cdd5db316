"""The routing commands as a user runs them, in real processes on a real ledger file:
``routes tree``, ``routes test --json/--expect``, ``notify --label``, ``ack``, ``resolve`` and
``config check --strict-events``."""

from __future__ import annotations

import json
from datetime import datetime

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
    assert set(out) == {"key", "receivers", "routes", "deliveries", "muted", "silenced_by"}
    assert out["silenced_by"] is None
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


# -- what a user sees: keys, dedup, texts, open alerts, history ------------------------------------


def test_resolve_takes_the_key_that_ack_takes(config, sim):
    sent = run(config, "notify", "db.down", "-s", "critical", "-l", "host=db7", "-l", "x=1")
    assert sent.returncode == 0, sent.stderr
    assert run(config, "ack", "db.down{host=db7}").returncode == 0
    resolved = run(config, "resolve", "db.down{host=db7}")
    assert resolved.returncode == 0, resolved.stderr
    assert "resolved db.down{host=db7}" in resolved.stdout


def test_a_deduplicated_repeat_says_nothing_went_out(config, sim):
    first = run(config, "notify", "app.slow", "-s", "warning", "-l", "host=web1")
    assert first.returncode == 0, first.stderr
    assert "1 sent" in first.stdout
    again = run(config, "notify", "app.slow", "-s", "warning", "-l", "host=web1")
    assert again.returncode == 0, again.stderr
    assert "deduplicated" in again.stdout and "nothing was sent" in again.stdout
    assert "sent," not in again.stdout and "1 sent" not in again.stdout
    as_json = run(config, "--json", "notify", "app.slow", "-s", "warning", "-l", "host=web1")
    assert as_json.returncode == 0, as_json.stderr
    out = json.loads(as_json.stdout)
    assert (out["deduplicated"], out["ok"], out["deliveries"], out["counts"]) == (
        True,
        True,
        [],
        {},
    )
    assert len(sim.requests) == 1


def test_every_distinct_text_is_shown(tmp_path, sim):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "dba.sms.j2").write_text("DBA: {{ event }}")
    (templates / "dba.voice.j2").write_text("database down")
    (templates / "page.sms.j2").write_text("PAGE: {{ event }}")
    routing = json.loads(json.dumps(ROUTING))
    routing["receivers"]["dba"]["template"] = "dba"
    routing["receivers"]["page-primary"]["template"] = "page"
    path = write_config(tmp_path, sim, **routing)
    result = run(path, "notify", "db.down", "-s", "critical", "-l", "service=db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("sms message") == 2
    assert "sms message (dba):\n    DBA: db.down" in result.stdout
    assert "sms message (page-primary):\n    PAGE: db.down" in result.stdout


def test_the_alerts_command_lists_open_alerts(config, sim):
    assert run(config, "alerts").stdout.strip() == "no open alerts"
    assert json.loads(run(config, "--json", "alerts").stdout) == []
    sent = run(config, "notify", "db.down", "-s", "critical", "-l", "host=db1", "-l", "service=db")
    assert sent.returncode == 0, sent.stderr
    result = run(config, "--json", "alerts")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["receiver"] for r in rows) == ["dba", "page-primary"]
    for row in rows:
        assert {"key", "event", "severity", "labels", "receiver", "state", "escalation"} <= set(row)
        assert (row["key"], row["event"], row["severity"], row["state"]) == (
            "db.down{host=db1,service=db}",
            "db.down",
            "critical",
            "firing",
        )
        assert row["labels"] == {"host": "db1", "service": "db"}
    [paging] = [r for r in rows if r["receiver"] == "page-primary"]
    escalation = paging["escalation"]
    assert (escalation["policy"], escalation["step"]) == ("primary", "0.0")
    assert datetime.fromisoformat(escalation["next_at"]).tzinfo is not None
    assert [r["escalation"] for r in rows if r["receiver"] == "dba"] == [None]
    text = run(config, "alerts")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert any("page-primary" in line and "escalation primary" in line for line in lines)
    assert any("dba" in line and "firing" in line for line in lines)


def test_history_shows_receiver_and_step(config, sim):
    run(config, "notify", "db.down", "-s", "critical", "-l", "host=db1", "-l", "service=db")
    text = run(config, "history")
    assert text.returncode == 0, text.stderr
    assert any("-> dba" in line for line in text.stdout.splitlines())
    assert any("-> page-primary step 0.0" in line for line in text.stdout.splitlines())
    rows = json.loads(run(config, "--json", "history").stdout)
    assert sorted((r["receiver"], r["step"]) for r in rows) == [
        ("dba", None),
        ("page-primary", "0.0"),
    ]


def test_shell_completion_of_alert_keys_and_receivers(config, sim):
    from tests.cli.test_completion import complete

    ledger = config.parent / "ledger.db"
    assert complete(f"notifykit -c {config} ack ") == []  # no ledger yet: none made for it
    assert not ledger.exists()
    run(config, "notify", "db.down", "-s", "critical", "-l", "host=db7", "-l", "x=1")
    keys = ["'db.down{host=db7,x=1}'", "'db.down{host=db7}'"]  # quoted for bash
    assert complete(f"notifykit -c {config} ack ") == keys
    assert complete(f"notifykit -c {config} resolve db.d") == keys
    assert complete(f"notifykit -c {config} resolve x") == []
    assert complete(f"notifykit -c {config} ack db.d", shell="zsh")[:2] == ["plain", keys[0][1:-1]]
    expect = f"notifykit -c {config} routes test db.down --expect dba,pa"
    assert complete(expect) == ["dba,page-primary"]
