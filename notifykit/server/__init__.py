"""The HTTP side of notifykit: the status server that receives providers' delivery-status
callbacks (a WSGI app, mountable in Flask or Django, and ``notifykit serve``)."""

from __future__ import annotations

from notifykit.server.app import StatusApp, StatusServer, create_app

__all__ = ["StatusApp", "StatusServer", "create_app"]
