"""The route tree against Alertmanager's documented behaviour: first match, continue, a node
whose children do not match handles the alert, inheritance (time intervals excepted), muting
that does not change the walk, and the alert key under group_by."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from notifykit.routing import Alert, Matcher, Route, RouteTree
from notifykit.routing.timeintervals import parse_interval
from notifykit.routing.tree import receivers_in_order

from .support import ISSUE_EXAMPLE, load_ok

# Alertmanager's docs/configuration.md example route tree (receivers made ours).
AM_EXAMPLE = """
receivers:
  default-receiver: {channels: [sms], to: [oncall]}
  database-pager: {channels: [call], to: [dba-team]}
  frontend-pager: {channels: [sms], to: [ravi]}
  dev-pager: {channels: [sms], to: [primary]}
  on-call-pager: {channels: [call], to: [secondary]}
route:
  receiver: default-receiver
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  group_by: [cluster, alertname]
  routes:
  - receiver: database-pager
    group_wait: 10s
    matchers:
    - service=~"mysql|cassandra"
  - receiver: frontend-pager
    group_by: [product, environment]
    matchers:
    - team="frontend"
  - receiver: dev-pager
    matchers:
      - service="inhouse-service"
    mute_time_intervals:
      - offhours
      - holidays
    continue: true
  - receiver: on-call-pager
    matchers:
      - service="inhouse-service"
    active_time_intervals:
      - offhours
      - holidays
time_intervals:
  offhours:
    - times: [{start_time: '20:00', end_time: '24:00'}, {start_time: '00:00', end_time: '09:00'}]
      location: UTC
  holidays:
    - {months: ['december'], days_of_month: ['25'], location: UTC}
"""


def alert(event: str = "x", severity: str = "warning", **labels: str) -> Alert:
    return Alert(event, severity, labels)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"service": "mysql"}, ["database-pager"]),
        ({"service": "cassandra", "team": "frontend"}, ["database-pager"]),  # first match wins
        ({"service": "mysql-replica"}, ["default-receiver"]),  # regexes are anchored
        ({"team": "frontend"}, ["frontend-pager"]),
        ({"service": "inhouse-service"}, ["dev-pager", "on-call-pager"]),  # continue
        ({"service": "other"}, ["default-receiver"]),
        ({}, ["default-receiver"]),
    ],
)
def test_alertmanager_docs_example(labels: dict[str, str], receivers: list[str]) -> None:
    config = load_ok(AM_EXAMPLE)
    assert receivers_in_order(config.route(alert(**labels))) == receivers


def test_inheritance_of_timers_and_group_by_but_not_time_intervals() -> None:
    config = load_ok(AM_EXAMPLE)
    [db] = config.route(alert(service="mysql", cluster="c1", alertname="Down"))
    assert db.settings.group_wait == 10.0  # its own
    assert db.settings.group_interval == 300.0  # inherited
    assert db.settings.repeat_interval == 4 * 3600.0
    assert db.settings.group_by == ("cluster", "alertname")
    [frontend] = config.route(alert(team="frontend", product="shop"))
    assert frontend.settings.group_by == ("product", "environment")
    assert frontend.settings.group_wait == 30.0
    dev, oncall = config.route(alert(service="inhouse-service"))
    assert dev.mute_time_intervals == ("offhours", "holidays")
    assert dev.active_time_intervals == ()
    assert oncall.active_time_intervals == ("offhours", "holidays")
    assert oncall.mute_time_intervals == ()


def test_time_intervals_are_not_inherited_by_children() -> None:
    config = load_ok(
        """
        receivers:
          a: {channels: [sms], to: [oncall]}
          b: {channels: [sms], to: [ravi]}
        route:
          receiver: a
          routes:
            - matchers: [team=db]
              receiver: b
              mute_time_intervals: [night]
              routes:
                - matchers: [severity=critical]
        time_intervals:
          night: [{times: [{start_time: '00:00', end_time: '24:00'}]}]
        """
    )
    [child] = config.route(alert(severity="critical", team="db"))
    assert child.path == "route.routes[0].routes[0]"
    assert child.receiver == "b"  # the receiver is inherited...
    assert child.mute_time_intervals == ()  # ...the mute interval is not
    assert config.tree.mute_reason(child, datetime(2026, 1, 1, tzinfo=timezone.utc)) is None
    [parent] = config.route(alert(severity="error", team="db"))
    assert parent.path == "route.routes[0]"  # no child matched: the node handles it itself
    assert "mute_time_intervals (night)" in str(
        config.tree.mute_reason(parent, datetime(2026, 1, 1, tzinfo=timezone.utc))
    )


def test_a_muted_route_still_ends_the_search() -> None:
    config = load_ok(AM_EXAMPLE.replace("    continue: true\n", ""))
    matches = config.route(alert(service="inhouse-service"))
    assert [m.receiver for m in matches] == ["dev-pager"]
    at_night = datetime(2026, 3, 3, 22, 0, tzinfo=timezone.utc)
    assert config.tree.mute_reason(matches[0], at_night) == "in its mute_time_intervals (offhours)"
    in_the_day = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
    assert config.tree.mute_reason(matches[0], in_the_day) is None


def test_active_intervals_mute_outside_them() -> None:
    config = load_ok(AM_EXAMPLE)
    _dev, oncall = config.route(alert(service="inhouse-service"))
    christmas_noon = datetime(2026, 12, 25, 12, 0, tzinfo=timezone.utc)
    assert config.tree.mute_reason(oncall, christmas_noon) is None
    ordinary_noon = datetime(2026, 12, 24, 12, 0, tzinfo=timezone.utc)
    assert config.tree.mute_reason(oncall, ordinary_noon) == (
        "outside its active_time_intervals (offhours, holidays)"
    )


def test_continue_deep_in_the_tree_and_a_parent_that_continues() -> None:
    config = load_ok(
        """
        receivers:
          root: {channels: [sms], to: [oncall]}
          a: {channels: [sms], to: [ravi]}
          b: {channels: [sms], to: [primary]}
          c: {channels: [sms], to: [secondary]}
        route:
          receiver: root
          routes:
            - matchers: [team=db]
              continue: true
              routes:
                - {matchers: [severity=critical], receiver: a, continue: true}
                - {matchers: ['severity=~"critical|error"'], receiver: b}
                - {matchers: [severity=critical], receiver: c}
            - matchers: [team=db]
              receiver: c
        """
    )
    critical = config.route(alert(severity="critical", team="db"))
    assert [(m.path, m.receiver) for m in critical] == [
        ("route.routes[0].routes[0]", "a"),
        ("route.routes[0].routes[1]", "b"),  # b does not continue: routes[0].routes[2] not tried
        ("route.routes[1]", "c"),  # routes[0] continues, so its sibling is tried
    ]
    warning = config.route(alert(team="db"))
    assert [(m.path, m.receiver) for m in warning] == [
        ("route.routes[0]", "root"),  # no child matched, so routes[0] handles it (inherited)
        ("route.routes[1]", "c"),
    ]


def test_the_matchers_that_matched_are_reported_root_first() -> None:
    config = load_ok(
        """
        receivers: {a: {channels: [sms], to: [ravi]}}
        route:
          receiver: a
          routes:
            - matchers: [team=db]
              routes: [{matchers: ['severity>="error"']}]
        """
    )
    [match] = config.route(alert(severity="critical", team="db"))
    assert [str(m) for m in match.matchers] == ['team="db"', 'severity>="error"']
    assert [path for path, _ in match.matched] == ["route.routes[0]", "route.routes[0].routes[0]"]


def test_the_issue_example() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    route = config.route
    critical_db = alert("db.down", "critical", host="db1", service="db")
    assert receivers_in_order(route(critical_db)) == ["dba", "page-primary"]
    assert receivers_in_order(route(alert("disk.full", "critical", host="h"))) == ["page-primary"]
    assert receivers_in_order(route(alert("batch.failed", "error"))) == ["oncall-sms"]
    assert route(alert("batch.failed", "error"))[0].path == "route.routes[2]"
    assert route(alert("batchXfailed", "error"))[0].path == "route"  # the dot is escaped
    assert str(route(critical_db)[0].key) == "db.down{host=db1}"


def test_alert_key_follows_group_by() -> None:
    config = load_ok(
        """
        receivers: {a: {channels: [sms], to: [ravi]}}
        route:
          receiver: a
          routes:
            - {matchers: [team=db], group_by: [host]}
            - {matchers: [team=web], group_by: ['...']}
            - {matchers: [team=ops], group_by: [event, severity, rack]}
        """
    )
    base = {"host": "db1", "service": "pg"}
    assert str(config.route(alert("down", **base))[0].key) == "down{host=db1,service=pg}"
    assert str(config.route(alert("down", team="db", **base))[0].key) == "{host=db1}"
    assert str(config.route(alert("down", team="web", **base))[0].key) == (
        "down{host=db1,service=pg,team=web}"
    )
    assert str(config.route(alert("down", "error", team="ops"))[0].key) == "down{severity=error}"
    keyed = Alert("down", "warning", {"team": "db"}, key="db-outage-42")
    assert str(config.route(keyed)[0].key) == "db-outage-42"


def test_tree_invariants_when_built_in_python() -> None:
    with pytest.raises(ValueError, match="takes no matchers"):
        RouteTree(Route(receiver="a", matchers=(Matcher("a", "=", "b"),)))
    with pytest.raises(ValueError, match="must name a receiver"):
        RouteTree(Route())
    with pytest.raises(ValueError, match="cannot have mute or active"):
        RouteTree(Route(receiver="a", mute_time_intervals=("x",)))
    with pytest.raises(ValueError, match="no time interval named 'x'"):
        RouteTree(Route(receiver="a", routes=(Route(mute_time_intervals=("x",)),)))
    tree = RouteTree(
        Route(receiver="a", routes=(Route(active_time_intervals=("x",), path="route.routes[0]"),)),
        time_intervals={"x": parse_interval("x", [{"weekdays": ["monday"]}])},
    )
    assert tree.route(alert())[0].path == "route.routes[0]"  # an empty matcher list matches


def test_render_tree() -> None:
    from notifykit.routing import render_tree

    text = render_tree(load_ok(ISSUE_EXAMPLE))
    assert text.splitlines() == [
        "route -> oncall-sms [sms -> oncall]  (group_by: [event, host]; group_wait: 0s; "
        "group_interval: 5m; repeat_interval: 4h)",
        '├── [0] severity="critical", service=~"db|cache" -> dba [sms, call -> dba-team]  '
        "(continue)",
        '├── [1] severity="critical" -> page-primary [escalation primary]',
        '└── [2] event=~"batch\\\\..*" -> oncall-sms [sms -> oncall]  (active: business-hours)',
    ]
