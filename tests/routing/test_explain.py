"""``explain``: the ``routes test --json`` shape, muted receivers (time intervals, inhibition,
resolved without send_resolved), deliveries described by the channel layer's callback, and the
escalation timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifykit.routing import Alert, Receiver, explain

from .support import ISSUE_EXAMPLE, load_ok

IST = ZoneInfo("Asia/Kolkata")
MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=IST)
SATURDAY_NOON = datetime(2026, 3, 7, 12, 0, tzinfo=IST)
SENDERS = {"info": "EXOINF", "warning": "EXOWRN", "error": "EXOERR", "critical": "EXOCRT"}
GROUPS = {"dba-team": ["asha", "ravi"]}


def describe(
    receiver: Receiver, channel: str, recipient: str, severity: str
) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
    """What the integrator's channel layer would answer: a sender by severity, the priority."""
    base = {"from": SENDERS[severity], "priority": receiver.priority or "normal"}
    if recipient in GROUPS:
        return [{**base, "to": member, "group": recipient} for member in GROUPS[recipient]]
    return base


def test_the_json_shape_of_routes_test() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    alert = Alert("db.down", "critical", {"host": "db1", "service": "db"})
    result = explain(config, alert, MONDAY_NOON, describe_delivery=describe).to_dict()
    assert set(result) == {"key", "receivers", "routes", "deliveries", "muted", "silenced_by"}
    assert result["silenced_by"] is None
    assert json.loads(json.dumps(result)) == result  # plain JSON values only
    assert result["key"] == "db.down{host=db1}"
    assert result["receivers"] == ["dba", "page-primary"]
    assert result["muted"] == []
    assert [r["path"] for r in result["routes"]] == ["route.routes[0]", "route.routes[1]"]
    first = result["routes"][0]
    assert first["matchers"] == ['severity="critical"', 'service=~"db|cache"']
    assert first["continue"] is True and first["muted"] is None
    assert first["group_by"] == ["event", "host"] and first["repeat_interval"] == 14400
    dba = [d for d in result["deliveries"] if d["receiver"] == "dba"]
    assert [(d["channel"], d["to"], d["from"], d["priority"], d["template"]) for d in dba] == [
        ("sms", "asha", "EXOCRT", "high", "db_down"),
        ("sms", "ravi", "EXOCRT", "high", "db_down"),
        ("call", "asha", "EXOCRT", "high", "db_down"),
        ("call", "ravi", "EXOCRT", "high", "db_down"),
    ]
    escalation = [d for d in result["deliveries"] if d["receiver"] == "page-primary"]
    assert [(d["step"], d["loop"], d["channel"], d["to"], d["after"]) for d in escalation] == [
        (0, 0, "sms", "primary", 0),
        (1, 0, "call", "primary", 300),
        (2, 0, "call", "secondary", 600),
        (0, 1, "sms", "primary", 900),
        (1, 1, "call", "primary", 1200),
        (2, 1, "call", "secondary", 1500),
    ]
    assert escalation[1]["due"] == "2026-03-02T12:05:00+05:30"
    assert escalation[0]["from"] == "EXOCRT" and escalation[0]["priority"] == "normal"


def test_to_json_is_a_json_string_of_to_dict() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    explained = explain(config, Alert("db.down", "critical", {"host": "db1"}), MONDAY_NOON)
    text = explained.to_json()
    assert isinstance(text, str)
    assert json.loads(text) == explained.to_dict()
    assert json.loads(explained.to_json(indent=2)) == explained.to_dict()


def test_a_receiver_outside_its_active_interval_is_muted_not_reached() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    batch = Alert("batch.failed", "error")
    weekday = explain(config, batch, MONDAY_NOON)
    assert weekday.receivers == ("oncall-sms",) and weekday.muted == ()
    weekend = explain(config, batch, SATURDAY_NOON).to_dict()
    assert weekend["receivers"] == []
    assert weekend["deliveries"] == []
    assert weekend["muted"] == [
        {"receiver": "oncall-sms", "reason": "outside its active_time_intervals (business-hours)"}
    ]
    assert weekend["routes"][0]["muted"] == weekend["muted"][0]["reason"]


def test_a_receiver_reached_by_one_muted_and_one_open_route_is_reached() -> None:
    config = load_ok(
        """
        receivers: {a: {channels: [sms], to: [oncall]}}
        route:
          receiver: a
          routes:
            - {matchers: [team=db], active_time_intervals: [never], continue: true}
            - {matchers: [team=db]}
        time_intervals: {never: [{years: ['1999']}]}
        """
    )
    result = explain(config, Alert("x", "info", {"team": "db"}), MONDAY_NOON)
    assert result.receivers == ("a",) and result.muted == ()
    assert [r["muted"] is None for r in result.routes] == [False, True]
    assert len(result.deliveries) == 1  # each receiver once


def test_inhibited_alerts_are_muted_everywhere() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    target = Alert("disk.full", "warning", {"host": "db1"})
    source = Alert("host.down", "critical", {"host": "db1"})
    result = explain(config, target, MONDAY_NOON, firing=[source, target])
    assert result.receivers == ()
    assert result.muted == (
        {"receiver": "oncall-sms", "reason": "inhibited by host.down{host=db1} (inhibit_rules[0])"},
    )
    other_host = explain(config, target, MONDAY_NOON, firing=[source.with_labels(host="db2")])
    assert other_host.receivers == ("oncall-sms",)


def test_resolved_alerts_go_only_where_send_resolved_is_on() -> None:
    config = load_ok(
        ISSUE_EXAMPLE.replace(
            "      receiver: page-primary\n",
            "      receiver: page-primary\n      send_resolved: true\n",
        )
    )
    alert = Alert("db.down", "critical", {"host": "db1", "service": "db"}, resolved=True)
    result = explain(config, alert, MONDAY_NOON)
    assert result.receivers == ("page-primary",)
    assert result.muted == (
        {
            "receiver": "dba",
            "reason": "the alert is resolved and the route does not send_resolved",
        },
    )
    # a resolved escalation goes to everyone its steps could have reached, once each
    assert [(d["channel"], d["to"]) for d in result.deliveries] == [
        ("sms", "primary"),
        ("call", "primary"),
        ("call", "secondary"),
    ]


def test_route_priority_overrides_the_receivers() -> None:
    config = load_ok(
        """
        receivers: {a: {channels: [sms], to: [oncall], priority: normal}}
        route:
          receiver: a
          routes: [{matchers: ['severity>="error"'], priority: high}]
        """
    )
    high = explain(config, Alert("x", "critical"), MONDAY_NOON, describe_delivery=describe)
    assert [d["priority"] for d in high.deliveries] == ["high"]
    normal = explain(config, Alert("x", "warning"), MONDAY_NOON, describe_delivery=describe)
    assert [(d["priority"], d["from"]) for d in normal.deliveries] == [("normal", "EXOWRN")]
    plain = explain(config, Alert("x", "warning"), MONDAY_NOON)
    assert [(d["priority"], d["from"]) for d in plain.deliveries] == [("normal", None)]


def test_text_report() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    text = explain(config, Alert("batch.failed", "error", {"job": "nightly"}), SATURDAY_NOON).text()
    assert text.splitlines() == [
        "alert batch.failed (error) labels job=nightly",
        "at 2026-03-07T12:00:00+05:30",
        "key batch.failed",  # group_by [event, host]: job is not part of it
        "routes:",
        '  route.routes[2] -> oncall-sms: event=~"batch\\\\..*" - muted: outside its '
        "active_time_intervals (business-hours)",
        "would send nothing",
        "muted: oncall-sms: outside its active_time_intervals (business-hours)",
    ]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware time"):
        explain(load_ok(ISSUE_EXAMPLE), Alert("x", "info"), datetime(2026, 1, 1))


def test_utc_and_ist_moments_agree() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    batch = Alert("batch.failed", "error")
    # 04:00 UTC on Monday is 09:30 in India: inside business hours.
    assert explain(config, batch, datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc)).receivers == (
        "oncall-sms",
    )
    assert explain(config, batch, datetime(2026, 3, 2, 3, 59, tzinfo=timezone.utc)).receivers == ()
