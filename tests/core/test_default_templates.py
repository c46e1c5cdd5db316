"""The shipped ``default`` templates and the summary filters they are written with: one SMS
segment for a typical alert, a digest, an ack link; GSM-7 text; never a Python repr. Contexts are
built by the planner's own ``template_context`` and routing's ``routing_variables``, as a routed
notification's are."""

from __future__ import annotations

from typing import Any

import pytest

from notifykit.channels.base import severity_rank
from notifykit.plan.planner import template_context
from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.service import routing_variables
from notifykit.text.sms import GSM7_EXTENSION, analyze_sms
from notifykit.text.summary import (
    alert_line,
    fit,
    gsm7,
    host_labels,
    join_fit,
    scalars,
    sms_length,
)
from notifykit.text.templates import TemplateEngine

ACK = "https://alerts.example.com/notifykit/ack/01J9ZQ4X7M2N8P5R3T6V9W1Y4Zq8Kx2Lm5Np7Rs"


def routed(
    *alerts: Alert, ack_url: str | None = None, template: str = "default.sms"
) -> tuple[str, Any]:
    """Render ``template`` as routing renders a receiver's notification of ``alerts``."""
    first = alerts[-1]
    severity = max((a.severity for a in alerts), key=severity_rank)
    variables = routing_variables(first, alerts, AlertKey(first.event), "oncall", ack_url)
    context = template_context(first.event, severity, dict(first.data), variables)
    body = TemplateEngine().render(template, context)
    return body, analyze_sms(body)


def no_repr(body: str) -> None:
    assert not set(body) & GSM7_EXTENSION, body  # no {...} or [...] of a repr, nothing costly
    for internal in ("alert_key=", "ack_url=", "alerts=", "labels=", "receiver=", "None"):
        assert internal not in body


# --- the default SMS ----------------------------------------------------------------------------


def test_a_typical_alert_is_one_segment() -> None:
    alert = Alert(
        "db.down",
        "critical",
        {"host": "db1", "service": "db", "location": "/srv/app/very/deep/module.py:812"},
        {"message": "replica lag 300s on the primary", "version": "1.2"},
    )
    body, info = routed(alert)
    assert body == "CRITICAL db.down host=db1 service=db: replica lag 300s on the primary"
    assert info.encoding == "GSM-7" and info.segments == 1
    no_repr(body)


def test_data_without_a_message_shows_its_plain_values_only() -> None:
    data = {"version": "1.2", "ok": True, "n": 3, "nested": {"a": 1}, "list": [1, 2], "none": None}
    body, info = routed(Alert("deploy.done", "warning", {}, {**data, "trace": "a\nb"}))
    assert body == "WARNING deploy.done: version=1.2 ok=true n=3"
    assert info.segments == 1
    no_repr(body)


def test_a_long_message_is_cut_to_one_segment() -> None:
    alert = Alert("disk.full", "error", {"host": "web1"}, {"message": "full " * 100})
    body, info = routed(alert)
    assert body.startswith("ERROR disk.full host=web1: full full") and body.endswith("...")
    assert info.segments == 1 and info.length <= 160


def test_many_long_labels_are_cut_to_one_segment() -> None:
    names = ("host", "instance", "service", "job", "pod", "namespace", "cluster")
    alert = Alert("db.down", "critical", {n: f"{n}-" + "x" * 30 for n in names}, {"message": "m"})
    body, info = routed(alert, ack_url=ACK)
    assert body.startswith("CRITICAL db.down host=host-xxx") and body.endswith(f" Ack: {ACK}")
    assert info.segments == 1


def test_an_ack_link_is_kept_whole_within_one_segment() -> None:
    alert = Alert("db.down", "critical", {"host": "db1"}, {"message": "connection refused " * 10})
    body, info = routed(alert, ack_url=ACK)
    assert body.startswith("CRITICAL db.down host=db1: connection refused")
    assert body.endswith(f"... Ack: {ACK}")
    assert info.segments == 1
    short, _ = routed(Alert("db.down", "critical", {"host": "db1"}), ack_url=ACK)
    assert short == f"CRITICAL db.down host=db1 Ack: {ACK}"
    without, _ = routed(Alert("db.down", "critical", {"host": "db1"}))
    assert without == "CRITICAL db.down host=db1"  # no link, no "Ack", no None


def test_a_digest_of_several_alerts_is_one_segment() -> None:
    alerts = [
        Alert("db.down", "critical" if i == 3 else "error", {"host": f"db-replica-{i}.internal"})
        for i in range(12)
    ]
    body, info = routed(*alerts)
    assert body.startswith("CRITICAL 12 alerts db.down: host=db-replica-0.internal; ")
    assert body.endswith(" more") and "; +" in body
    assert info.segments == 1 and info.length <= 160
    shown = body.split(": ", 1)[1].split("; ")
    assert int(shown[-1].split()[0]) == 12 - (len(shown) - 1)  # +N counts the rest exactly
    no_repr(body)


def test_a_digest_of_different_events_names_each_and_marks_resolved_ones() -> None:
    alerts = [
        Alert("db.down", "critical", {"host": "db1"}, resolved=True),
        Alert("disk.full", "warning", {"host": "web1"}),
        Alert("db.down", "critical", {"host": "db2"}),
    ]
    body, info = routed(*alerts)
    # firing ones first: the ones that matter most get the room
    assert body == (
        "CRITICAL 3 alerts: disk.full host=web1; db.down host=db2; db.down host=db1 resolved"
    )
    assert info.segments == 1


def test_a_resolved_alert_and_digest_say_resolved() -> None:
    body, _ = routed(Alert("db.down", "critical", {"host": "db1"}, resolved=True))
    assert body == "RESOLVED db.down host=db1"
    both = [Alert("db.down", "critical", {"host": h}, resolved=True) for h in ("db1", "db2")]
    body, _ = routed(*both)
    assert body == "RESOLVED 2 alerts db.down: host=db1; host=db2"


def test_non_gsm_text_is_folded_so_the_body_stays_gsm7() -> None:
    alert = Alert("db.down", "critical", {"host": "db–1"}, {"message": "“primary” down… सर्वर 🔥"})
    body, info = routed(alert)
    assert body == 'CRITICAL db.down host=db-1: "primary" down... ????? ?'
    assert info.encoding == "GSM-7"


def test_a_direct_send_renders_without_routing_variables() -> None:
    engine = TemplateEngine()
    context = template_context("cache.cold", "warning", {"message": "miss rate 80%"})
    assert engine.render("default.sms", context) == "WARNING cache.cold: miss rate 80%"
    labelled = template_context("e", "info", {}, {"labels": {"host": "h1"}})
    assert engine.render("default.sms", labelled) == "INFO e host=h1"
    assert engine.render("default.sms", {"event": "disk_full"}) == "INFO disk_full"


# --- the default voice text -----------------------------------------------------------------------


def test_the_default_voice_text() -> None:
    labels = {"host": "db1", "location": "/srv/x.py:1"}
    alert = Alert("db.down", "critical", labels, {"message": "replica lag."})
    speech, _ = routed(alert, template="default.voice")
    assert speech.splitlines() == [
        "This is a critical alert from notifykit.",
        "db down, host db1.",
        "replica lag.",
    ]
    long, _ = routed(
        Alert("db.down", "error", {"host": "db1"}, {"message": "word " * 80}),
        template="default.voice",
    )
    assert len(long) <= 128 and long.startswith("This is an error alert")
    digest, _ = routed(
        Alert("db.down", "critical", {"host": "a"}),
        Alert("disk_full", "warning", {"host": "b"}),
        template="default.voice",
    )
    assert digest == "There are 2 critical alerts from notifykit.\ndb down, disk full."
    resolved, _ = routed(Alert("db.down", "critical", {}, resolved=True), template="default.voice")
    assert resolved == "This alert from notifykit is resolved.\ndb down."
    for text in (speech, long, digest, resolved):
        no_repr(text)


# --- the filters ------------------------------------------------------------------------------------


def test_gsm7_folds_to_one_line_of_gsm7() -> None:
    assert gsm7("“a”\n\tb – c…  é ć") == '"a" b - c... é c'
    assert gsm7("डेटाबेस") == "???????"
    assert gsm7(42) == "42"
    assert analyze_sms(gsm7("any 😀 text ‘quoted’")).encoding == "GSM-7"


def test_fit_counts_septets_and_cuts_at_a_word() -> None:
    assert fit("short", 160) == "short"
    assert fit("alpha beta gamma delta", 16) == "alpha beta..."
    assert sms_length(fit("[" * 100, 20)) <= 20  # an extension character counts two
    assert fit("anything at all", -5) == ""
    assert fit("abcdefghij", 8, "") == "abcdefgh"


def test_host_labels_and_scalars_choose_what_reads_well() -> None:
    labels = {"location": "/x.py:3", "service": "db", "logger": "app", "host": "db1"}
    assert host_labels(labels) == "host=db1 service=db"
    assert host_labels(labels, " ", ", ") == "host db1, service db"
    assert host_labels(None) == ""
    assert scalars({"a": 1, "b": {"c": 2}, "d": [1], "e": None, "f": "x\ny", "g": ""}) == "a=1"


def test_alert_line_and_join_fit() -> None:
    alert = {"event": "db.down", "labels": {"host": "db1"}, "status": "resolved"}
    assert alert_line(alert) == "db.down host=db1 resolved"
    assert alert_line(alert, False, False) == "host=db1"
    items = [f"host=db{i}" for i in range(10)]
    assert join_fit(items, 160) == "; ".join(items)
    assert join_fit(items, 30) == "host=db0; host=db1; +8 more"
    assert sms_length(join_fit(items, 30)) <= 30


@pytest.mark.parametrize("name", ["default.sms", "default.voice"])
def test_the_defaults_render_with_an_empty_context(name: str) -> None:
    assert TemplateEngine().render(name, {"event": "x"})
