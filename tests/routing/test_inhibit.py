"""Inhibition with Alertmanager's semantics: equal labels (missing = empty), resolved sources do
not inhibit, and an alert matching both sides cannot be inhibited by alerts matching both."""

from __future__ import annotations

import pytest

from notifykit.routing import Alert, InhibitRule, inhibited_by, parse_matchers


def rule(source: str, target: str, *equal: str) -> InhibitRule:
    return InhibitRule(tuple(parse_matchers(source)), tuple(parse_matchers(target)), equal)


HOST_DOWN = rule('event="host.down"', 'severity=~"warning|error"', "host")


def alert(event: str, severity: str = "warning", resolved: bool = False, **labels: str) -> Alert:
    return Alert(event, severity, labels, resolved=resolved)


@pytest.mark.parametrize(
    ("target", "firing", "inhibited"),
    [
        # same host: muted
        (alert("disk.full", host="h1"), [alert("host.down", "critical", host="h1")], True),
        # other host: not
        (alert("disk.full", host="h2"), [alert("host.down", "critical", host="h1")], False),
        # the target side does not match (critical is not warning|error)
        (alert("disk.full", "critical", host="h1"), [alert("host.down", host="h1")], False),
        # no source firing
        (alert("disk.full", host="h1"), [alert("disk.full", host="h1")], False),
        # a resolved source does not inhibit
        (alert("disk.full", host="h1"), [alert("host.down", resolved=True, host="h1")], False),
        # a missing equal label is empty on both sides: equal
        (alert("disk.full"), [alert("host.down", "critical")], True),
        # missing on one side only: not equal
        (alert("disk.full"), [alert("host.down", "critical", host="h1")], False),
        (alert("disk.full", host=""), [alert("host.down", "critical")], True),
    ],
)
def test_equal_labels(target: Alert, firing: list[Alert], inhibited: bool) -> None:
    assert (inhibited_by([HOST_DOWN], target, firing) is not None) is inhibited


def test_an_alert_matching_both_sides_cannot_inhibit_itself_or_its_peers() -> None:
    both = rule('team="db"', 'team="db"', "cluster")
    first = alert("replication.lag", cluster="c1", team="db")
    peer = alert("replication.lag", "error", cluster="c1", team="db")
    assert inhibited_by([both], first, [first]) is None
    assert inhibited_by([both], first, [first, peer]) is None
    # A source that matches only the source side still inhibits the two-sided alert.
    narrow = rule('team="db"', 'severity="warning"', "cluster")
    source_only = alert("db.down", "critical", cluster="c1", team="db")
    target = alert("replication.lag", cluster="c1", team="db")
    found = inhibited_by([narrow], target, [target, source_only])
    assert found is not None and found.source is source_only


def test_equal_may_use_event_and_severity_and_the_first_rule_wins() -> None:
    by_event = rule('severity="critical"', 'severity="warning"', "event")
    other = rule('event="x"', 'severity="warning"')
    target = alert("x", "warning")
    found = inhibited_by(
        [by_event, other], target, [alert("x", "critical"), alert("y", "critical")]
    )
    assert found is not None and found.rule is by_event
    assert found.reason == f"inhibited by x {{}} ({by_event.path})".replace(" {}", "")
    assert inhibited_by([by_event], target, [alert("y", "critical")]) is None
