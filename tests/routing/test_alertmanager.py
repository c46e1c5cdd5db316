"""Alertmanager's webhook payload (version 4): the documented shape, filled in as Alertmanager
sends it (fixtures/alertmanager_webhook_v4.json), read into alerts and routed; malformed bodies
refused with the field named."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifykit.routing import Alert, AlertmanagerPayloadError, explain, parse_webhook

from .support import ISSUE_EXAMPLE, load_ok

FIXTURE = Path(__file__).parent / "fixtures" / "alertmanager_webhook_v4.json"


def body() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def test_the_documented_payload_becomes_alerts() -> None:
    payload = parse_webhook(FIXTURE.read_bytes())
    assert (payload.status, payload.receiver, payload.truncated_alerts) == (
        "firing",
        "notifykit",
        0,
    )
    assert payload.group_labels == {"alertname": "PostgresDown"}
    assert payload.external_url == "http://alertmanager.example.com:9093"
    firing, resolved = payload.alerts
    assert firing.event == "PostgresDown"
    assert firing.severity == "critical"
    assert firing.labels == {
        "alertname": "PostgresDown",
        "host": "db1",
        "instance": "db1:9187",
        "job": "postgres",
        "service": "db",
    }
    assert firing.data["summary"] == "Postgres is down"
    assert firing.data["alertmanager"]["fingerprint"] == "c4a1b6e1f2d3a4b5"
    assert firing.data["alertmanager"]["generatorURL"].startswith("http://prometheus.example.com")
    assert firing.idempotency_key == (
        "alertmanager:c4a1b6e1f2d3a4b5:2026-03-02T08:14:03.123456789Z"
    )
    assert not firing.resolved
    assert resolved.resolved
    assert resolved.idempotency_key == "alertmanager:0f9e8d7c6b5a4938:2026-03-02T07:50:00Z:resolved"
    # posting the same body twice gives the same idempotency keys (the ledger sends once)
    again = parse_webhook(json.dumps(body()))
    assert [a.idempotency_key for a in again.alerts] == [a.idempotency_key for a in payload.alerts]


def test_the_payload_routes_to_the_expected_receivers() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    firing = parse_webhook(FIXTURE.read_bytes()).alerts[0]
    result = explain(config, firing, datetime(2026, 3, 2, 8, 15, tzinfo=timezone.utc))
    assert result.receivers == ("dba", "page-primary")
    assert [(d["receiver"], d["channel"], d["to"]) for d in result.deliveries][:3] == [
        ("dba", "sms", "dba-team"),
        ("dba", "call", "dba-team"),
        ("page-primary", "sms", "primary"),
    ]
    assert result.key == "PostgresDown{host=db1}"


@pytest.mark.parametrize(
    ("label", "kwargs", "severity", "kept"),
    [
        ("Warning", {}, "warning", None),  # case-insensitive
        ("page", {}, "warning", "page"),  # not ours: the default, original kept
        ("page", {"default_severity": "error"}, "error", "page"),
        ("page", {"severity_map": {"PAGE": "critical"}}, "critical", None),
        (None, {}, "warning", None),
    ],
)
def test_severity_mapping(
    label: str | None, kwargs: dict[str, Any], severity: str, kept: str | None
) -> None:
    data = body()
    labels = data["alerts"][0]["labels"]
    if label is None:
        del labels["severity"]
    else:
        labels["severity"] = label
    alert = parse_webhook(data, **kwargs).alerts[0]
    assert alert.severity == severity
    assert alert.labels.get("alert_severity") == kept
    assert "severity" not in alert.labels


def test_an_event_label_is_kept_under_another_name() -> None:
    data = body()
    data["alerts"][0]["labels"]["event"] = "deploy"
    alert = parse_webhook(data).alerts[0]
    assert alert.event == "PostgresDown" and alert.labels["alert_event"] == "deploy"


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("version", "3", "version is '3', expected \"4\""),
        ("version", _DELETE, "version is None"),
        ("status", "pending", "status must be firing or resolved"),
        ("alerts", {}, "alerts must be a list"),
        ("truncatedAlerts", -1, "truncatedAlerts must be a non-negative integer"),
        ("commonLabels", [], "commonLabels must be an object of strings"),
        ("alerts.0.status", "ok", "alerts[0].status must be firing or resolved"),
        ("alerts.0.labels.alertname", "", "alerts[0].labels.alertname is missing or empty"),
        ("alerts.0.labels.host", 1, "alerts[0].labels.host must be a string, got int"),
        ("alerts.0.startsAt", "yesterday", "alerts[0].startsAt is not an RFC 3339 time"),
        ("alerts.0.startsAt", "2026-03-02T08:14:03", "has no time zone offset"),
        ("alerts.0.startsAt", _DELETE, "alerts[0].startsAt is missing"),
        ("alerts.1.fingerprint", _DELETE, "alerts[1].fingerprint is missing"),
        ("alerts.0.annotations", "x", "alerts[0].annotations must be an object of strings"),
        ("alerts.0.labels.", "x", "alerts[0]: label names must be non-empty strings"),
    ],
)
def test_malformed_payloads_name_the_field(path: str, value: Any, message: str) -> None:
    data = body()
    _set(data, path, value)
    with pytest.raises(AlertmanagerPayloadError) as caught:
        parse_webhook(data)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "must be a JSON object"),
        (b"\xff\xfe\x00", "the body is not JSON"),
        (b" " * (4 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_bodies_that_are_not_payloads(raw: bytes, message: str) -> None:
    with pytest.raises(AlertmanagerPayloadError, match=message):
        parse_webhook(raw)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_payload_error(raw: bytes) -> None:
    try:
        payload = parse_webhook(raw)
    except AlertmanagerPayloadError:
        return
    assert all(isinstance(a, Alert) for a in payload.alerts)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_arbitrary_alert_objects_parse_or_raise_payload_error(item: Any) -> None:
    data = body()
    data["alerts"] = [item]
    try:
        payload = parse_webhook(data)
    except AlertmanagerPayloadError:
        return
    [alert] = payload.alerts
    assert alert.event and alert.idempotency_key
