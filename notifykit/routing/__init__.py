"""Alert routing: Alertmanager-style route trees, inhibition, time intervals and escalation.

The pure parts of routing, with no I/O and no clock (times are passed in): parse and match
matchers, walk the route tree, decide inhibition and muting, plan escalation steps, load the
routing sections of ``notifykit.yaml``, read Alertmanager webhooks and explain a routing decision.
The notifier and the ledger use them to dedup, group, send and escalate.

The names below are imported on first use (PEP 562): an ``events:``-only config routes through
the implicit tree (:mod:`notifykit.routing.model`) without importing the YAML loader of the
routing sections, time intervals, inhibition, dedup or Alertmanager webhooks.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from notifykit._lazy import lazy_exports

if TYPE_CHECKING:
    from notifykit.routing.alert import ALL_LABELS, Alert, AlertKey
    from notifykit.routing.alertmanager import (
        AlertmanagerPayloadError,
        WebhookPayload,
        parse_webhook,
    )
    from notifykit.routing.config import load_routing
    from notifykit.routing.dedup import Decision, NotificationLog, content_digest, decide
    from notifykit.routing.escalation import (
        EscalationPolicy,
        EscalationStep,
        Receiver,
        ScheduledStep,
        advance,
        plan,
    )
    from notifykit.routing.inhibit import Inhibition, InhibitRule, inhibited_by
    from notifykit.routing.listing import EscalationStatus, OpenAlert
    from notifykit.routing.matchers import Matcher, MatcherError, parse_matcher, parse_matchers
    from notifykit.routing.model import ROUTING_SECTIONS, RoutingConfig
    from notifykit.routing.timeintervals import TimeInterval, TimeIntervalEntry, TimeIntervalError
    from notifykit.routing.tree import DEFAULT_SETTINGS, Route, RouteMatch, RouteSettings, RouteTree

if TYPE_CHECKING:
    from notifykit.routing.explain import Explanation, explain, render_tree

# name -> module that defines it
_LAZY = {
    "Explanation": "notifykit.routing.explain",
    "explain": "notifykit.routing.explain",
    "render_tree": "notifykit.routing.explain",
    "ALL_LABELS": "notifykit.routing.alert",
    "Alert": "notifykit.routing.alert",
    "AlertKey": "notifykit.routing.alert",
    "AlertmanagerPayloadError": "notifykit.routing.alertmanager",
    "WebhookPayload": "notifykit.routing.alertmanager",
    "parse_webhook": "notifykit.routing.alertmanager",
    "load_routing": "notifykit.routing.config",
    "ROUTING_SECTIONS": "notifykit.routing.model",
    "RoutingConfig": "notifykit.routing.model",
    "Decision": "notifykit.routing.dedup",
    "NotificationLog": "notifykit.routing.dedup",
    "content_digest": "notifykit.routing.dedup",
    "decide": "notifykit.routing.dedup",
    "EscalationPolicy": "notifykit.routing.escalation",
    "EscalationStep": "notifykit.routing.escalation",
    "Receiver": "notifykit.routing.escalation",
    "ScheduledStep": "notifykit.routing.escalation",
    "advance": "notifykit.routing.escalation",
    "plan": "notifykit.routing.escalation",
    "Inhibition": "notifykit.routing.inhibit",
    "InhibitRule": "notifykit.routing.inhibit",
    "inhibited_by": "notifykit.routing.inhibit",
    "EscalationStatus": "notifykit.routing.listing",
    "OpenAlert": "notifykit.routing.listing",
    "Matcher": "notifykit.routing.matchers",
    "MatcherError": "notifykit.routing.matchers",
    "parse_matcher": "notifykit.routing.matchers",
    "parse_matchers": "notifykit.routing.matchers",
    "TimeInterval": "notifykit.routing.timeintervals",
    "TimeIntervalEntry": "notifykit.routing.timeintervals",
    "TimeIntervalError": "notifykit.routing.timeintervals",
    "DEFAULT_SETTINGS": "notifykit.routing.tree",
    "Route": "notifykit.routing.tree",
    "RouteMatch": "notifykit.routing.tree",
    "RouteSettings": "notifykit.routing.tree",
    "RouteTree": "notifykit.routing.tree",
}

__all__ = [
    "ALL_LABELS",
    "DEFAULT_SETTINGS",
    "ROUTING_SECTIONS",
    "Alert",
    "AlertKey",
    "AlertmanagerPayloadError",
    "Decision",
    "EscalationPolicy",
    "EscalationStatus",
    "EscalationStep",
    "Explanation",
    "InhibitRule",
    "Inhibition",
    "Matcher",
    "MatcherError",
    "NotificationLog",
    "OpenAlert",
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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)


class _Package(ModuleType):
    """This package, whose ``explain`` is the function: the function shares its name with its
    module, and when the module ``notifykit.routing.explain`` is first imported the import
    system binds that name on the package to the module. Here it binds the module's function
    instead, as the package's eager ``from notifykit.routing.explain import explain`` did, so
    the module (and alerts, escalation and silences it imports) loads on first use."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "explain" and isinstance(value, ModuleType):
            value = value.explain
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
