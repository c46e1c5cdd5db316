"""The HTTP side of notifykit: the status server that receives providers' delivery-status
callbacks, Alertmanager's webhook and ack links (a WSGI app, mountable in Flask or Django or run
under gunicorn, and ``notifykit serve``, which runs it on the embedded server)."""

from __future__ import annotations

from notifykit.server.app import StatusApp, create_app
from notifykit.server.embedded import StatusServer

__all__ = ["StatusApp", "StatusServer", "create_app"]
