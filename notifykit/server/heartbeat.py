"""``POST /heartbeat/<name>/<token>`` (and ``GET``, for ``curl`` from cron): a beat of the
heartbeat ``name`` of ``heartbeats:`` (:mod:`notifykit.pipeline.heartbeats`).

``200`` when recorded (and its missed alert, if raised, resolved); ``404`` for a name no
heartbeat has *and* for a wrong token, so the URL says nothing about which names exist (the log
says which it was, never the token); ``503`` while the ledger cannot record it, so the job's
retry (``curl --retry``) tries again. ``HEAD`` is not a beat (``405``): link previews and
monitors that only look must not keep a dead job alive.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from notifykit.server.http import Request, Response, cut

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["HEARTBEAT_PATH", "HeartbeatEndpoint"]

logger = logging.getLogger("notifykit.heartbeats")

#: the route's pattern (a name as ``heartbeats:`` allows, a token of URL-safe characters)
HEARTBEAT_PATH = (
    r"/heartbeat/(?P<name>[A-Za-z_][A-Za-z0-9_.-]{0,127})/(?P<token>[A-Za-z0-9_-]{1,128})"
)


class HeartbeatEndpoint:
    """The handler of :data:`HEARTBEAT_PATH`."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def __call__(self, request: Request) -> Response:
        name = request.params["name"]
        if self.notifier.heartbeat(name, request.params["token"]):
            return Response.json(200, {"ok": True, "heartbeat": name})
        known = name in self.notifier.config.heartbeats
        logger.warning(
            "heartbeat %s refused (404): %s",
            cut(name),
            "wrong token" if known else "no heartbeat has this name",
        )
        return Response.error(404, "not found")
