"""The status server: a WSGI app that receives delivery-status callbacks.

Routes (under whatever prefix the app is mounted at):

- ``POST /status/<token>``: a provider's status callback for the batch whose unguessable token
  (128 random bits, made when the notification was planned) is in the path. A genuine callback, a
  duplicate and a late one all get ``200`` so the provider stops retrying; an unknown token gets
  ``404``, a body that is not a status callback ``400``, a body over 1 MiB ``413``. Rejections are
  logged on ``notifykit.status`` without the token.
- ``GET /healthz``: ``200`` with the ledger's delivery counts, for load balancers.
- ``POST /alertmanager``: a Prometheus Alertmanager webhook (version 4); each alert is routed
  once (``Authorization: Bearer <server.webhook_token>`` required when that is set: ``401``
  otherwise; ``400`` for a body that is not a payload). ``notifykit serve`` and ``config check``
  refuse a config whose webhook is reachable beyond this machine without a token, unless it says
  ``webhook_token: none`` (:meth:`~notifykit.config.delivery.ServerSettings.webhook_exposure`).
- ``GET /ack/<token>``: a one-button page to acknowledge an escalation from a phone (the
  ``{{ ack_url }}`` of a step's SMS); ``POST /ack/<token>`` acknowledges it.
- ``GET /metrics``: Prometheus metrics in the text exposition format (docs/deploy.md lists
  them); building the app turns the Notifier's metrics on.

Mount it in an existing app (``app.wsgi_app = DispatcherMiddleware(app.wsgi_app,
{"/notifykit": create_app()})`` in Flask), run it under any WSGI server (``gunicorn
'notifykit.server:create_app()'``), or with ``notifykit serve``, which uses the standard library's
threaded server.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["MAX_BODY", "StatusApp", "StatusServer", "create_app"]

logger = logging.getLogger("notifykit.status")

#: the largest callback body read (Exotel's are well under a kilobyte)
MAX_BODY = 1 << 20
_STATUS_PATH = re.compile(r"/status/([A-Za-z0-9_-]{16,128})/?")
_ACK_PATH = re.compile(r"/ack/([A-Za-z0-9_-]{17,128})/?")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

StartResponse = Callable[..., Any]


class StatusApp:
    """The WSGI application. ``StatusApp(notifier)``; see the module docstring for routes."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._metrics = _metrics_app(notifier)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if path.rstrip("/") == "/metrics":
            return self._metrics(environ, start_response)
        try:
            if path.rstrip("/") == "/healthz":
                if method not in ("GET", "HEAD"):
                    return _answer(start_response, 405, {"error": "use GET"})
                return _answer(
                    start_response, 200, {"ok": True, "deliveries": self.notifier.ledger.counts()}
                )
            if path.rstrip("/") == "/alertmanager":
                return self._alertmanager(environ, start_response, method)
            ack = _ACK_PATH.fullmatch(path)
            if ack is not None:
                return self._ack(environ, start_response, method, ack.group(1))
            match = _STATUS_PATH.fullmatch(path)
            if match is None:
                return _answer(start_response, 404, {"error": "not found"})
            if method != "POST":
                return _answer(start_response, 405, {"error": "status callbacks are POSTed"})
            body, problem = _read_body(environ)
            if problem is not None:
                logger.warning("status callback rejected (%d): %s", problem[0], problem[1])
                return _answer(start_response, problem[0], {"error": problem[1]})
            content_type = environ.get("CONTENT_TYPE", "")
            code = self.notifier.handle_status_callback(match.group(1), body, content_type)
            return _answer(start_response, code, {"ok": code == 200})
        except Exception as err:
            # The ledger could not record it (locked, full disk...): 503 so the provider
            # retries later; the event is not lost as long as the provider retries.
            from notifykit.ledger.base import LedgerError

            if isinstance(err, LedgerError):
                logger.error("status callback not recorded (503): %s", err)
                return _answer(start_response, 503, {"error": "try again later"})
            logger.exception("status callback failed (500)")
            return _answer(start_response, 500, {"error": "internal error"})

    # -- alert routing (issue 8) --------------------------------------------------------------

    def _alertmanager(
        self, environ: dict[str, Any], start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        """``POST /alertmanager``: Alertmanager's webhook (version 4), each alert routed once."""
        if method != "POST":
            return _answer(start_response, 405, {"error": "Alertmanager webhooks are POSTed"})
        expected = self.notifier.config.server.webhook_token
        if expected:
            given = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected.encode()
            ):
                logger.warning("alertmanager webhook rejected (401): missing or wrong token")
                return _answer(
                    start_response,
                    401,
                    {"error": "send Authorization: Bearer <server.webhook_token>"},
                    [("WWW-Authenticate", "Bearer")],
                )
        body, problem = _read_body(environ)
        if problem is not None:
            return _answer(start_response, problem[0], {"error": problem[1]})
        from notifykit.errors import NotifykitError
        from notifykit.routing.alertmanager import AlertmanagerPayloadError

        try:
            result = self.notifier.alertmanager(body)
        except AlertmanagerPayloadError as err:
            logger.warning("alertmanager webhook rejected (400): %s", err)
            return _answer(start_response, 400, {"error": str(err)})
        except NotifykitError as err:
            from notifykit.ledger.base import LedgerError

            if isinstance(err, LedgerError):
                raise
            # A config mistake (a template that fails for these labels): Alertmanager should
            # not retry forever, and the operator must see it.
            logger.error("alertmanager webhook not routed (422): %s", err)
            return _answer(start_response, 422, {"error": str(err)})
        return _answer(start_response, 200, result)

    def _ack(
        self, environ: dict[str, Any], start_response: StartResponse, method: str, token: str
    ) -> Iterable[bytes]:
        """``GET /ack/<token>``: a one-button page (a link previewer fetching the URL must not
        acknowledge); ``POST``: acknowledge the escalation the signed token names."""
        if method in ("GET", "HEAD"):
            if self.notifier.ack_token(token, check_only=True) is None:
                return _page(start_response, 404, "Unknown or expired link.")
            return _page(
                start_response,
                200,
                "Acknowledge this alert? Nobody else will be paged for it.",
                button=True,
            )
        if method != "POST":
            return _answer(start_response, 405, {"error": "use GET or POST"})
        # The audit trail names whoever the link was sent to (read from the ledger).
        acked = self.notifier.ack_token(token)
        wants_json = "json" in environ.get("HTTP_ACCEPT", "")
        if acked is None:
            if wants_json:
                return _answer(start_response, 404, {"error": "unknown ack token"})
            return _page(start_response, 404, "Unknown or expired link.")
        if wants_json:
            return _answer(start_response, 200, {"ok": True, "acked": [a.key for a in acked]})
        text = "Acknowledged. Thank you." if acked else "Already acknowledged or resolved."
        return _page(start_response, 200, text)


def _metrics_app(notifier: Notifier) -> Callable[..., Iterable[bytes]]:
    """``GET /metrics``: the Notifier's metrics (turned on here) as prometheus_client's own WSGI
    app serves them (the text format, or OpenMetrics when asked; gzip when accepted). Without
    prometheus-client installed, the rest of the app serves and ``/metrics`` says how to fix it."""
    try:
        from prometheus_client import make_wsgi_app
    except ImportError:
        missing = "prometheus-client is not installed: pip install prometheus-client"
        logger.warning("GET /metrics will answer 501: %s", missing)
        return lambda environ, start_response: _answer(start_response, 501, {"error": missing})

    served = make_wsgi_app(notifier.start_metrics())

    def metrics(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"error": "use GET"}, [("Allow", "GET, HEAD")])
        body: Iterable[bytes] = served({**environ, "REQUEST_METHOD": "GET"}, start_response)
        return [] if method == "HEAD" else body

    return metrics


def _page(
    start_response: StartResponse, code: int, text: str, *, button: bool = False
) -> list[bytes]:
    """A tiny HTML page for a phone's browser."""
    import html

    form = (
        '<form method="post"><button style="font-size:1.5em;padding:.5em 1em">'
        "Acknowledge</button></form>"
        if button
        else ""
    )
    body = (
        '<!doctype html><meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>notifykit</title><body style="font-family:sans-serif;margin:2em">'
        f"<p>{html.escape(text)}</p>{form}</body>"
    ).encode()
    start_response(
        f"{code} {_REASONS.get(code, 'Error')}",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _read_body(environ: dict[str, Any]) -> tuple[bytes, tuple[int, str] | None]:
    length_text = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            return b"", (400, "Content-Length is not a number")
        if length < 0:
            return b"", (400, "Content-Length is negative")
        if length > MAX_BODY:
            return b"", (413, f"body over {MAX_BODY} bytes")
        return stream.read(length), None
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        data = stream.read(MAX_BODY + 1)  # the WSGI server decodes the chunks
        if len(data) > MAX_BODY:
            return b"", (413, f"body over {MAX_BODY} bytes")
        return data, None
    return b"", None


def _answer(
    start_response: StartResponse,
    code: int,
    payload: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{code} {_REASONS.get(code, 'Error')}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [body]


def create_app(notifier: Notifier | None = None) -> StatusApp:
    """The app for a Notifier (default: the one ``notifykit.notify()`` uses, from
    ``$NOTIFYKIT_CONFIG`` or ``./notifykit.yaml``)."""
    if notifier is None:
        from notifykit.notifier import get_notifier

        notifier = get_notifier()
    return StatusApp(notifier)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    """Access lines on ``notifykit.status`` at DEBUG, with the token in the path cut out."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s", _hide_tokens(format % args))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = _hide_tokens(self.path.split("?", 1)[0])
        logger.debug("%s %s -> %s", self.command, path, code)


def _hide_tokens(text: str) -> str:
    return re.sub(r"/(status|ack)/[A-Za-z0-9_-]+", r"/\1/<token>", text)


class StatusServer:
    """The status app on a threaded HTTP server (``notifykit serve``). ``port=0`` picks a free
    port; :attr:`url` says where it listens."""

    def __init__(self, notifier: Notifier, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.app = StatusApp(notifier)
        self._server = make_server(
            host, port, self.app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)
        self._server.server_close()

    def start(self) -> StatusServer:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self._server.shutdown()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
