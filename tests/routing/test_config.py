"""Loading the routing sections: the issue's example, every value read, and problems with line,
key path, did-you-mean and the fix; references between sections checked; the events-only
back-compat tree."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from notifykit.routing import Alert, Matcher, RoutingConfig
from notifykit.routing.tree import DEFAULT_SETTINGS, RouteSettings, receivers_in_order

from .support import ISSUE_EXAMPLE, load, load_ok, problems_of


def test_the_issue_example_loads_with_every_value() -> None:
    config = load_ok(ISSUE_EXAMPLE)
    assert set(config.receivers) == {"oncall-sms", "dba", "page-primary"}
    dba = config.receivers["dba"]
    assert (dba.channels, dba.to, dba.template, dba.priority) == (
        ("sms", "call"),
        ("dba-team",),
        "db_down",
        "high",
    )
    assert dba.path == "receivers.dba" and dba.line == 4
    assert config.receivers["page-primary"].escalation == "primary"
    root = config.tree.root
    assert root.group_by == ("event", "host")
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (0, 300, 14400)
    assert root.routes[0].matchers == (
        Matcher("severity", "=", "critical"),
        Matcher("service", "=~", "db|cache"),
    )
    assert root.routes[0].continue_ is True
    assert root.routes[2].active_time_intervals == ("business-hours",)
    [rule] = config.inhibit_rules
    assert rule.equal == ("host",) and rule.path == "inhibit_rules[0]"
    [entry] = config.time_intervals["business-hours"].entries
    assert entry.location == "Asia/Kolkata" and str(entry.times[0]) == "09:30-18:30"
    policy = config.escalations["primary"]
    assert [s.after for s in policy.steps] == [0, 300, 600]
    assert (policy.repeat, policy.ack_on_answer) == (1, True)
    assert config.named_events() == set()
    assert config.names_event("batch.nightly")  # event=~"batch\\..*"
    assert not config.names_event("db.down")  # only severity/service matchers reach dba


def test_no_routing_sections_means_none() -> None:
    config, problems = load("events: {}\n")
    assert config is None and problems == []


def test_unquoted_sexagesimal_looking_values_keep_their_text() -> None:
    # YAML 1.1 reads 10:30 and 1:7 as base-60 integers; the schema keeps the source text.
    config = load_ok(
        """
        receivers: {a: {channels: sms, to: oncall}}
        route: {receiver: a, routes: [{active_time_intervals: [x]}]}
        time_intervals:
          x: [{times: [{start_time: 10:30, end_time: 18:00}], days_of_month: [1:7, -1]}]
        """
    )
    [entry] = config.time_intervals["x"].entries
    assert str(entry.times[0]) == "10:30-18:00"
    assert [(r.start, r.end) for r in entry.days_of_month] == [(1, 7), (-1, -1)]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            """
            receivers: {dba: {channels: [sms], to: [oncall]}}
            route:
              receiver: dba
              routes:
                - receiver: dbaa
            """,
            "6: route.routes[0].receiver: no receiver named 'dbaa' in receivers (did you mean "
            "'dba'?); defined: dba",
        ),
        (
            """
            receivers:
              dba: {channels: [sms], to: [oncall]}
              page: {escalation: primry}
            escalations:
              primary: {steps: [{after: 0s, channels: [sms], to: [oncall]}]}
            route: {receiver: dba}
            """,
            "4: receivers.page.escalation: no escalation named 'primry' in escalations "
            "(did you mean 'primary'?); defined: primary",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              routes:
                - matchers: [team=db]
                  mute_time_intervals: [nights]
            time_intervals:
              night: [{times: [{start_time: '22:00', end_time: '24:00'}]}]
            """,
            "7: route.routes[0].mute_time_intervals[0]: no time interval named 'nights' in "
            "time_intervals (did you mean 'night'?)",
        ),
        (
            """
            receivers: {a: {channels: [smss], to: [oncall]}}
            route: {receiver: a}
            """,
            "2: receivers.a.channels[0]: no channel named 'smss' in channels (did you mean 'sms'?)",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncal]}}
            route: {receiver: a}
            """,
            "2: receivers.a.to[0]: no recipient or group named 'oncal' in recipients or groups "
            "(did you mean 'oncall'?)",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: ['+91 not a number']}}
            route: {receiver: a}
            """,
            "2: receivers.a.to[0]: '+91 not a number' is not a valid phone number",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              routes:
                - matchers: ['severity=="critical"']
            """,
            "6: route.routes[0].matchers[0]: matcher 'severity==\"critical\"': '==' is not an "
            "operator: write '='",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              routes:
                - matcher: ['severity="critical"']
            """,
            "6: route.routes[0].matcher: unknown key 'matcher' (did you mean 'matchers'?)",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              routes:
                - match: {severity: critical}
            """,
            "6: route.routes[0].match: match: is Alertmanager's deprecated form: write matchers:",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              group_wait: soon
            """,
            "5: route.group_wait: 'soon' is not a duration: write it like 30s, 5m, 4h or 1h30m",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              group_by: [host, '...']
            """,
            "5: route.group_by: '...' means every label and must be alone",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              group_by: [host-name]
            """,
            "5: route.group_by[0]: 'host-name' is not a label name, or '...' for every label",
        ),
    ],
)
def test_problems_carry_line_path_and_fix(yaml_text: str, expected: str) -> None:
    problems = problems_of(yaml_text)
    assert any(p.startswith(expected) for p in problems), "\n".join(problems)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              group_wait: 0s
            """,
            "4: route.receiver: the root route must name a receiver",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              matchers: [team=db]
            """,
            "5: route.matchers: the root route matches every alert and takes no matchers: move "
            "them to a child route under routes:",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              continue: true
            """,
            "5: route.continue: the root route cannot have continue",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            route:
              receiver: a
              mute_time_intervals: [x]
            time_intervals: {x: [{weekdays: [sunday]}]}
            """,
            "5: route.mute_time_intervals: the root route cannot have mute_time_intervals",
        ),
        (
            """
            receivers: {a: {channels: [sms], to: [oncall]}}
            """,
            "2: receivers: needs a route: section to be used; add route: {receiver: NAME}",
        ),
    ],
)
def test_root_route_rules(yaml_text: str, expected: str) -> None:
    problems = problems_of(yaml_text)
    assert any(p.startswith(expected) for p in problems), "\n".join(problems)


@pytest.mark.parametrize(
    ("receivers", "expected"),
    [
        (
            "{a: {channels: [sms], to: [oncall], escalation: p}}",
            "receivers.a: a receiver sends either through channels: and to:, or through an "
            "escalation:",
        ),
        ("{a: {template: x}}", "receivers.a: a receiver needs channels: and to:, or escalation:"),
        ("{a: {channels: [sms]}}", "receivers.a: missing to:"),
        ("{a: {to: [oncall]}}", "receivers.a: missing channels:"),
        (
            "{a: {channels: [sms], to: [oncall], priority: urgent}}",
            "'urgent' is not one of normal, high",
        ),
        ("{a: {channels: [sms], too: [oncall]}}", "unknown key 'too' (did you mean 'to'?)"),
        ("{'a b': {channels: [sms], to: [oncall]}}", "receivers.a b: 'a b' is not a name"),
    ],
)
def test_receiver_problems(receivers: str, expected: str) -> None:
    text = f"""
    receivers: {receivers}
    route: {{receiver: a}}
    escalations: {{p: {{steps: [{{after: 0s, channels: [sms], to: [oncall]}}]}}}}
    """
    problems = problems_of(text)
    assert any(expected in p for p in problems), "\n".join(problems)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("{steps: []}", "escalations.p.steps: needs at least 1 item(s)"),
        ("{repeat: 1}", "escalations.p.steps: missing required key 'steps'"),
        (
            "{steps: [{after: 5m, channels: [sms], to: [oncall]}, {after: 0s, channels: [sms], to: [oncall]}]}",
            "escalations.p: steps must be in order of 'after'",
        ),
        (
            "{steps: [{after: 0s, channels: [sms], to: [oncall]}], repeat: 2}",
            "escalations.p: repeat_every must be longer than the last step's 'after'",
        ),
        ("{steps: [{after: 0s, channels: [fax], to: [oncall]}]}", "no channel named 'fax'"),
        ("{steps: [{after: 0s, channels: [sms]}]}", "steps[0].to: missing required key 'to'"),
        (
            "{steps: [{after: 0s, channels: [sms], to: [x]}], ack_on_anwser: true}",
            "did you mean 'ack_on_answer'",
        ),
    ],
)
def test_escalation_problems(policy: str, expected: str) -> None:
    text = f"""
    receivers: {{a: {{escalation: p}}}}
    route: {{receiver: a}}
    escalations:
      p: {policy}
    """
    problems = problems_of(text)
    assert any(expected in p for p in problems), "\n".join(problems)


def test_time_interval_problems_point_at_the_entry() -> None:
    problems = problems_of(
        """
        receivers: {a: {channels: [sms], to: [oncall]}}
        route: {receiver: a, routes: [{mute_time_intervals: [night]}]}
        time_intervals:
          night:
            - times:
                - {start_time: '22:00', end_time: '07:00'}
              weekdays: [monday:fryday]
              location: Asia/Kolkatta
        """
    )
    assert problems[:3] == [
        "7: time_intervals.night[0].times[0]: end_time 07:00 is before start_time 22:00: a range "
        "must end after it starts; write a night window as two ranges, 22:00–24:00 and "
        "00:00–07:00",
        "8: time_intervals.night[0].weekdays[0]: 'fryday' is not a weekday: write one of "
        "sunday, monday, tuesday, wednesday, thursday, friday, saturday (or a range such as "
        "monday:friday)",
        "9: time_intervals.night[0].location: 'Asia/Kolkatta' is not an IANA time zone: write "
        "one like Asia/Kolkata, UTC or Europe/London",
    ]
    # the route naming the broken interval gets no second, misleading "no such interval"
    assert len(problems) == 3


def test_inhibit_rule_problems() -> None:
    problems = problems_of(
        """
        receivers: {a: {channels: [sms], to: [oncall]}}
        route: {receiver: a}
        inhibit_rules:
          - source_matchers: ['event="host.down"']
            equal: [host]
          - {source_matchers: [a=b], target_matchers: ['x=~"(?=y)"'], equals: [host]}
        """
    )
    assert "5: inhibit_rules[0].target_matchers: missing required key 'target_matchers'" in problems
    assert any(p.startswith("7: inhibit_rules[1].target_matchers[0]: matcher") for p in problems)
    assert any("unknown key 'equals' (did you mean 'equal'?)" in p for p in problems)


def test_environment_substitution_in_routing_values() -> None:
    config = load_ok(
        """
        receivers: {a: {channels: [sms], to: ['${TEAM}']}}
        route: {receiver: a}
        """
    )
    assert config.receivers["a"].to == ("oncall",)


# -- back compatibility -------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    channels: tuple[str, ...] | None = None
    to: tuple[str, ...] | None = None
    template: str | None = None


@dataclass(frozen=True)
class Defaults:
    channels: tuple[str, ...] = ("sms",)
    to: tuple[str, ...] = ("oncall",)


def test_from_events_builds_an_implicit_tree() -> None:
    events = {
        "db.down": Event(channels=("sms", "call"), to=("dba-team",), template="db_down"),
        "otp": Event(to=("ravi",)),
        "info.only": Event(template="x"),  # no channels or to: goes to the defaults
    }
    config = RoutingConfig.from_events(events, Defaults())
    assert config.implicit
    route = config.route
    assert receivers_in_order(route(Alert("db.down", "critical"))) == ["events.db.down"]
    assert receivers_in_order(route(Alert("otp", "info"))) == ["events.otp"]
    assert receivers_in_order(route(Alert("info.only", "info"))) == ["defaults"]
    assert receivers_in_order(route(Alert("unknown", "info"))) == ["defaults"]
    db = config.receivers["events.db.down"]
    assert (db.channels, db.to, db.template) == (("sms", "call"), ("dba-team",), "db_down")
    otp = config.receivers["events.otp"]
    assert (otp.channels, otp.to) == (("sms",), ("ravi",))  # channels from the defaults
    assert config.named_events() == {"db.down", "otp"}
    [match] = route(Alert("db.down", "critical", {"host": "h"}))
    assert match.settings == RouteSettings(
        "events.db.down",
        group_wait=DEFAULT_SETTINGS.group_wait,
        group_interval=300.0,
        repeat_interval=14400.0,
    )
    # An event name with regex characters is matched literally (an = matcher).
    assert receivers_in_order(route(Alert("dbXdown", "critical"))) == ["defaults"]


def test_from_events_takes_the_root_timers() -> None:
    no_dedup = RouteSettings(receiver="", repeat_interval=0.0)
    config = RoutingConfig.from_events({}, Defaults(), settings=no_dedup)
    [match] = config.route(Alert("x", "info"))
    assert match.receiver == "defaults" and match.settings.repeat_interval == 0.0
