"""The status server: a WSGI app that receives delivery-status callbacks, Alertmanager's webhook
and ack links.

Routes (under whatever prefix the app is mounted at):

- ``POST /status/<token>``: a provider's status callback for the batch whose unguessable token
  (128 random bits, made when the notification was planned) is in the path. A genuine callback, a
  duplicate and a late one all get ``200`` so the provider stops retrying; an unknown token gets
  ``404``, a token that expired (``server.callback_token_ttl`` after its batch's last delivery
  became final) ``410``, a body that is not a status callback ``400``, a body over 1 MiB ``413``.
  Rejections are logged on ``notifykit.status`` without the token.
- ``GET /healthz``: ``200`` while the process answers (liveness: it reads nothing).
- ``GET /readyz``: ``200`` when a ledger write and read succeed, the ledger's disk is writable
  and a worker was seen within two leases; ``503`` naming what failed (readiness:
  :mod:`notifykit.server.health`).
- ``POST /alertmanager``: a Prometheus Alertmanager webhook (version 4); each alert is routed
  once (``Authorization: Bearer <server.webhook_token>`` required when that is set: ``401``
  otherwise; ``400`` for a body that is not a payload). ``notifykit serve`` and ``config check``
  refuse a config whose webhook is reachable beyond this machine without a token, unless it says
  ``webhook_token: none`` (:meth:`~notifykit.config.delivery.ServerSettings.webhook_exposure`).
- ``GET /ack/<token>``: a page naming the alert with one button to acknowledge its escalation
  from a phone (the ``{{ ack_url }}`` of a step's SMS), or saying who acknowledged it and when;
  ``POST /ack/<token>`` acknowledges it in the name of the step's recipients
  (:mod:`notifykit.server.ack`).
- ``POST /heartbeat/<name>/<token>`` (``GET`` too): a beat of a ``heartbeats:`` entry
  (:mod:`notifykit.server.heartbeat`).
- ``/console/``: the web console, when ``console:`` lets anyone in (:mod:`notifykit.server.console`).
- Routes plugins add through the ``register_routes`` hook (docs/plugins.md), after these.
- ``GET /metrics``: Prometheus metrics in the text exposition format (docs/deploy.md lists
  them); building the app turns the Notifier's metrics on.

Every body is read with limits: over :data:`MAX_BODY` is ``413``, JSON nested deeper than
:data:`MAX_JSON_DEPTH` is ``400``. More routes can be added with :meth:`StatusApp.add_route`.

Mount it in an existing app (``app.wsgi_app = DispatcherMiddleware(app.wsgi_app,
{"/notifykit": create_app()})`` in Flask), run it under any WSGI server (``gunicorn
'notifykit.server:create_app()'``), or with ``notifykit serve``, which runs it on the embedded
server (:mod:`notifykit.server.embedded`).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notifykit.server.http import (
    MAX_BODY,
    MAX_JSON_DEPTH,
    REASONS,
    HTTPProblem,
    Request,
    Response,
    cut,
    hide_tokens,
    json_too_deep,
)

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = [
    "MAX_BODY",
    "MAX_JSON_DEPTH",
    "HTTPProblem",
    "Request",
    "Response",
    "StatusApp",
    "create_app",
    "json_too_deep",
]

logger = logging.getLogger("notifykit.status")
access_logger = logging.getLogger("notifykit.server.access")

_TOKEN = r"[A-Za-z0-9_-]{16,128}"
_ACK_TOKEN = r"[A-Za-z0-9_.-]{17,128}"
StartResponse = Callable[..., Any]


#: ``handler(request) -> Response``
Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class _Route:
    pattern: re.Pattern[str]
    handler: Handler
    methods: tuple[str, ...]


class StatusApp:
    """The WSGI application. ``StatusApp(notifier)``; see the module docstring for routes."""

    def __init__(self, notifier: Notifier) -> None:
        from notifykit.server.ack import AckPage
        from notifykit.server.health import Readiness
        from notifykit.server.heartbeat import HEARTBEAT_PATH, HeartbeatEndpoint

        self.notifier = notifier
        self._metrics = _metrics_app(notifier)
        self.readiness = Readiness(notifier)
        self.ack_page = AckPage(notifier)
        self._routes: list[_Route] = []
        self.add_route(r"/healthz", self._healthz)
        self.add_route(r"/readyz", self._readyz)
        self.add_route(r"/alertmanager", self._alertmanager, ("POST",))
        self.add_route(rf"/ack/(?P<token>{_ACK_TOKEN})", self.ack_page, ("GET", "HEAD", "POST"))
        self.add_route(rf"/status/(?P<token>{_TOKEN})", self._status, ("POST",))
        self.add_route(HEARTBEAT_PATH, HeartbeatEndpoint(notifier), ("GET", "POST"))
        from notifykit.server.console import register_console

        self.console = register_console(self.add_route, notifier)
        notifier.registry.pm.hook.register_routes(add_route=self.add_route, notifier=notifier)

    @property
    def routes(self) -> list[tuple[str, tuple[str, ...]]]:
        """``(pattern, methods)`` of every route, in the order they are matched (the fixed
        ones, the console's, then the plugins')."""
        return [(route.pattern.pattern, route.methods) for route in self._routes]

    def announce(self) -> None:
        """Log what this app serves beyond its fixed routes (the console), once it listens."""
        from notifykit.server.console import announce_console

        announce_console(self.notifier)

    def add_route(
        self, pattern: str, handler: Handler, methods: Sequence[str] = ("GET", "HEAD")
    ) -> None:
        """Serve the paths ``pattern`` matches whole (a trailing ``/`` is allowed) with
        ``handler(request)``; other methods get ``405``. Earlier routes win."""
        self._routes.append(_Route(re.compile(pattern + "/?"), handler, tuple(methods)))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if path.rstrip("/") == "/metrics":
            return self._metrics(environ, start_response)
        response = self._respond(environ, method, path)
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {REASONS.get(response.status, 'Error')}", headers)
        access_logger.debug(
            "%s %s -> %d (%.1f ms)",
            method,
            hide_tokens(path),
            response.status,
            1000 * (time.perf_counter() - started),
        )
        return [b"" if method == "HEAD" else response.body]

    def _respond(self, environ: dict[str, Any], method: str, path: str) -> Response:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if method not in route.methods:
                allowed = ", ".join(route.methods)
                return Response.json(405, {"error": f"use {allowed}"}, (("Allow", allowed),))
            request = Request(environ, method, path, match.groupdict())
            try:
                return route.handler(request)
            except HTTPProblem as problem:
                logger.warning(
                    "%s %s rejected (%d): %s",
                    method,
                    hide_tokens(path),
                    problem.status,
                    cut(problem.message),
                )
                return Response.error(problem.status, problem.message)
            except Exception as err:
                # The ledger could not record it (locked, full disk...): 503 so the sender
                # retries later; nothing is lost as long as it does.
                from notifykit.ledger.base import LedgerError

                if isinstance(err, LedgerError):
                    logger.error("%s %s not served (503): %s", method, hide_tokens(path), err)
                    return Response.error(503, "try again later")
                logger.exception("%s %s failed (500)", method, hide_tokens(path))
                return Response.error(500, "internal error")
        return Response.error(404, "not found")

    # -- health ---------------------------------------------------------------------------------

    def _healthz(self, request: Request) -> Response:
        """Liveness: the process answers. Reads nothing (a slow or locked ledger must not make a
        supervisor restart a server that works); ``/readyz`` checks the ledger."""
        return Response.json(200, {"ok": True})

    def _readyz(self, request: Request) -> Response:
        report = self.readiness.check()
        return Response.json(200 if report["ready"] else 503, report)

    # -- status callbacks -----------------------------------------------------------------------

    def _status(self, request: Request) -> Response:
        body = request.body()
        code = self.notifier.handle_status_callback(
            request.params["token"], body, request.content_type
        )
        return Response.json(code, {"ok": code == 200})

    # -- alert routing (issue 8) ----------------------------------------------------------------

    def _alertmanager(self, request: Request) -> Response:
        """``POST /alertmanager``: Alertmanager's webhook (version 4), each alert routed once."""
        expected = self.notifier.config.server.webhook_token
        if expected:
            scheme, _, token = request.header("Authorization").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected.encode()
            ):
                logger.warning("alertmanager webhook rejected (401): missing or wrong token")
                return Response.json(
                    401,
                    {"error": "send Authorization: Bearer <server.webhook_token>"},
                    (("WWW-Authenticate", "Bearer"),),
                )
        body = request.body()
        from notifykit.errors import LedgerError, NotifykitError
        from notifykit.routing.alertmanager import AlertmanagerPayloadError

        try:
            result = self.notifier.alertmanager(body)
        except AlertmanagerPayloadError as err:
            raise HTTPProblem(400, str(err)) from None
        except LedgerError:
            raise
        except NotifykitError as err:
            # A config mistake (a template that fails for these labels): Alertmanager should
            # not retry forever, and the operator must see it.
            logger.error("alertmanager webhook not routed (422): %s", cut(str(err)))
            return Response.error(422, str(err))
        return Response.json(200, result)


def _metrics_app(notifier: Notifier) -> Callable[..., Iterable[bytes]]:
    """``GET /metrics``: the Notifier's metrics (turned on here) as prometheus_client's own WSGI
    app serves them (the text format, or OpenMetrics when asked; gzip when accepted). Without
    prometheus-client installed, the rest of the app serves and ``/metrics`` says how to fix it."""

    def answer(start_response: StartResponse, response: Response) -> Iterable[bytes]:
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {REASONS.get(response.status, 'Error')}", headers)
        return [response.body]

    try:
        from prometheus_client import make_wsgi_app
    except ImportError:
        missing = "prometheus-client is not installed: pip install prometheus-client"
        logger.warning("GET /metrics will answer 501: %s", missing)
        return lambda environ, start_response: answer(start_response, Response.error(501, missing))

    served = make_wsgi_app(notifier.start_metrics())

    def metrics(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            refused = Response.json(405, {"error": "use GET"}, (("Allow", "GET, HEAD"),))
            return answer(start_response, refused)
        body: Iterable[bytes] = served({**environ, "REQUEST_METHOD": "GET"}, start_response)
        return [] if method == "HEAD" else body

    return metrics


def create_app(notifier: Notifier | None = None) -> StatusApp:
    """The app for a Notifier (default: the one ``notifykit.notify()`` uses, from
    ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``)."""
    if notifier is None:
        from notifykit.notifier import get_notifier

        notifier = get_notifier()
    return StatusApp(notifier)
