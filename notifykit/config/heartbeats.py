"""The ``heartbeats:`` section: dead-man's switches, each a job that must call notifykit at least
every so often (``POST <server.public_url>/heartbeat/<name>/<token>``), or be paged about.

::

    heartbeats:
      nightly-backup:
        every: 24h            # the job beats at least this often
        grace: 30m            # and may be this late before it counts as missed
        labels: {team: infra} # routed with these (and heartbeat: nightly-backup)
        severity: critical
        # token: ${BACKUP_HEARTBEAT_TOKEN}   # default: one derived from the ledger's secret
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from notifykit.config.convert import convert, named_items
from notifykit.config.schema import INVALID, Checker, join
from notifykit.config.settings import Duration, Settings, setting
from notifykit.model import Severity

__all__ = ["HeartbeatSettings", "load_heartbeats"]


class HeartbeatSettings(Settings):
    """A ``heartbeats:`` entry: a job that must beat at least every ``every``."""

    every: Duration = setting(min=1.0, doc="the job beats at least this often")
    grace: Duration = setting(
        default=300.0,
        doc="how late a beat may be before it counts as missed (and pages)",
    )
    labels: Mapping[str, str] = setting(
        default_factory=dict,
        doc="labels of the heartbeat.missed alert, besides heartbeat: NAME (what routes match)",
    )
    severity: Severity = setting(default="critical", doc="the severity of the missed alert")
    token: str | None = setting(
        default=None,
        secret=True,
        pattern=r"[A-Za-z0-9_-]{16,128}",
        expected="16 to 128 letters, digits, _ or -",
        doc="the secret in the URL (${VAR}); default: one derived from a secret kept in the "
        "ledger (notifykit heartbeats --show-url prints it)",
    )


def load_heartbeats(node: yaml.Node | None, ctx: Checker) -> dict[str, HeartbeatSettings]:
    """Every ``heartbeats:`` entry, by name."""
    found: dict[str, HeartbeatSettings] = {}
    for name, _key_node, value_node in named_items(node, "heartbeats", ctx):
        value = convert(value_node, HeartbeatSettings, join("heartbeats", name), ctx)
        if value is not INVALID:
            found[name] = value
    return found
