"""Helpers for the routing tests: load routing sections from YAML text as the config loader will."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import yaml

from notifykit.config.schema import Checker, mapping_items
from notifykit.errors import ConfigProblem
from notifykit.routing import RoutingConfig, load_routing

CHANNELS = frozenset({"sms", "call", "console"})
TARGETS = frozenset({"oncall", "dba-team", "primary", "secondary", "ravi"})


def load(
    text: str,
    *,
    channels: Iterable[str] = CHANNELS,
    targets: Iterable[str] = TARGETS,
) -> tuple[RoutingConfig | None, list[ConfigProblem]]:
    """Load the routing sections of a YAML document; the config and every problem recorded."""
    ctx = Checker(file="notifykit.yaml", environ={"TEAM": "oncall"})
    root = yaml.compose(textwrap.dedent(text), Loader=yaml.SafeLoader)
    nodes = {key: value for key, _key_node, value in mapping_items(root, "", ctx)}
    known = set(targets)
    config = load_routing(
        nodes,
        ctx,
        channels=set(channels),
        check_target=known.__contains__,
        target_names=known,
    )
    return config, ctx.problems


def load_ok(text: str) -> RoutingConfig:
    config, problems = load(text)
    assert problems == [], "\n".join(str(p) for p in problems)
    assert config is not None
    return config


def problems_of(text: str) -> list[str]:
    """Every problem as ``line: path: message`` (what a person reads)."""
    config, problems = load(text)
    assert problems, "expected problems, the config loaded"
    assert config is None
    return [f"{p.line}: {p.path}: {p.message}" for p in problems]


#: the example config of issue 8, verbatim
ISSUE_EXAMPLE = r"""
receivers:                       # who gets it, through what
  oncall-sms:   {channels: [sms], to: [oncall]}
  dba:          {channels: [sms, call], to: [dba-team], template: db_down, priority: high}
  page-primary: {escalation: primary}

route:                           # the root route: no matchers, matches everything
  receiver: oncall-sms
  group_by: [event, host]        # the alert key's labels; default: event + all labels
  group_wait: 0s                 # defaults for in-app alerting; all Go-style durations (30s, 5m, 4h)
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"', 'service=~"db|cache"']
      receiver: dba
      continue: true
    - matchers: ['severity="critical"']
      receiver: page-primary
    - matchers: ['event=~"batch\\..*"']
      receiver: oncall-sms
      active_time_intervals: [business-hours]

inhibit_rules:
  - source_matchers: ['event="host.down"']
    target_matchers: ['severity=~"warning|error"']
    equal: [host]

time_intervals:                  # Alertmanager's format; location defaults to Asia/Kolkata
  business-hours:
    - {weekdays: ['monday:friday'], times: [{start_time: '09:30', end_time: '18:30'}]}

escalations:
  primary:
    steps:
      - {after: 0s, channels: [sms],  to: [primary]}
      - {after: 5m, channels: [call], to: [primary]}
      - {after: 10m, channels: [call], to: [secondary]}
    repeat: 1                    # run the steps again this many times (default 0: once)
    ack_on_answer: true          # an answered call counts as acknowledgement
"""
