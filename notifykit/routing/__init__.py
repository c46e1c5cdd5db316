"""Alert routing: Alertmanager-style route trees, inhibition, time intervals and escalation.

The pure parts of routing, with no I/O and no clock (times are passed in): parse and match
matchers, walk the route tree, decide inhibition and muting, plan escalation steps, load the
routing sections of ``notifykit.yaml``, read Alertmanager webhooks and explain a routing decision.
The notifier and the ledger use them to dedup, group, send and escalate.
"""

from __future__ import annotations

from notifykit.routing.alert import ALL_LABELS, Alert, AlertKey
from notifykit.routing.alertmanager import AlertmanagerPayloadError, WebhookPayload, parse_webhook
from notifykit.routing.config import ROUTING_SECTIONS, RoutingConfig, load_routing
from notifykit.routing.dedup import Decision, NotificationLog, content_digest, decide
from notifykit.routing.escalation import (
    EscalationPolicy,
    EscalationStep,
    Receiver,
    ScheduledStep,
    advance,
    plan,
)
from notifykit.routing.explain import Explanation, explain, render_tree
from notifykit.routing.inhibit import Inhibition, InhibitRule, inhibited_by
from notifykit.routing.matchers import Matcher, MatcherError, parse_matcher, parse_matchers
from notifykit.routing.timeintervals import TimeInterval, TimeIntervalEntry, TimeIntervalError
from notifykit.routing.tree import DEFAULT_SETTINGS, Route, RouteMatch, RouteSettings, RouteTree

__all__ = [
    "ALL_LABELS",
    "DEFAULT_SETTINGS",
    "ROUTING_SECTIONS",
    "Alert",
    "AlertKey",
    "AlertmanagerPayloadError",
    "Decision",
    "EscalationPolicy",
    "EscalationStep",
    "Explanation",
    "InhibitRule",
    "Inhibition",
    "Matcher",
    "MatcherError",
    "NotificationLog",
    "Receiver",
    "Route",
    "RouteMatch",
    "RouteSettings",
    "RouteTree",
    "RoutingConfig",
    "ScheduledStep",
    "TimeInterval",
    "TimeIntervalEntry",
    "TimeIntervalError",
    "WebhookPayload",
    "advance",
    "content_digest",
    "decide",
    "explain",
    "inhibited_by",
    "load_routing",
    "parse_matcher",
    "parse_matchers",
    "parse_webhook",
    "plan",
    "render_tree",
]
