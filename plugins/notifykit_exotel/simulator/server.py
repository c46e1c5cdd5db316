"""The simulator's HTTP server and its public facade, :class:`ExotelSimulator`.

A real ``ThreadingHTTPServer`` on the loopback interface that speaks Exotel's v1 wire protocol
(HTTP/1.1 keep-alive, Basic auth, form bodies, ``.json``/XML answers), records every request,
applies injected faults and a sliding-window rate limit, and sends status callbacks when a test
(or the auto-progress timer) moves a call or SMS along.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import math
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from ..wire import is_loopback
from . import callbacks
from .models import CallbackAttempt, Fault, RecordedRequest
from .recorder import Recorder, Slot
from .state import CallbackKind, PendingCallback, SimState
from .wire import GATEWAY_PAGE, ApiError, Form, parse_form, parse_urlencoded, to_json, to_xml

logger = logging.getLogger(__name__)

_ACCOUNT_PATH = re.compile(r"^/v1/Accounts/(?P<account>[^/]+)/(?P<resource>.+)$")

#: (method, resource pattern without ``.json``, endpoint name). The first pattern that matches
#: decides the endpoint, so ``Calls/connect`` must precede ``Calls/<sid>``.
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"Calls/connect"), "connect_call"),
    ("GET", re.compile(r"Calls"), "list_calls"),
    ("GET", re.compile(r"Calls/(?P<sid>[^/]+)"), "get_call"),
    ("GET", re.compile(r"Numbers/(?P<number>[^/]+)"), "number_info"),
    ("POST", re.compile(r"Sms/send"), "send_sms"),
    ("POST", re.compile(r"Sms/bulksend"), "bulk_send"),
    ("GET", re.compile(r"(?:SMS|Sms)/Messages/(?P<sid>[^/]+)"), "get_sms"),
)

#: How long ``stop()`` waits for handler threads to let go of their connections.
_STOP_GRACE = 5.0


@dataclass
class _FaultRule:
    fault: Fault
    remaining: int | None
    fraction: float | None
    rng: random.Random

    def matches(self, method: str, path: str) -> bool:
        if self.fault.method is not None and self.fault.method.upper() != method:
            return False
        return self.fault.path is None or re.search(self.fault.path, path) is not None


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that tracks its open connections so ``stop()`` can close them.

    Handler threads are daemons and not joined by ``server_close()``; without tracking, a pooled
    keep-alive connection would keep being served after stop(), and tests that stop the server
    to provoke "connection refused" would pass through the old connection instead.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: ExotelSimulator) -> None:
        self.simulator = simulator
        self._open: set[socket.socket] = set()
        self._open_changed = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_changed:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self._open_changed:
                self._open.discard(request)
                self._open_changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request are normal here (timeouts, dropped faults);
        # the default prints a traceback to stderr.
        logger.debug("error while serving %s", client_address, exc_info=True)

    def close_connections(self, timeout: float) -> None:
        """Cut every open connection, then wait for the handler threads to close them."""
        with self._open_changed:
            for conn in list(self._open):
                # OSError: the peer already closed it.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._open_changed.wait_for(lambda: not self._open, timeout)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the simulator; HTTP/1.1 so pooled clients keep connections."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would add
    # ~40 ms to every keep-alive request, which benchmarks would measure instead of the client.
    disable_nagle_algorithm = True
    server: _Server

    def _dispatch(self) -> None:
        self.server.simulator._serve(self)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read the whole request body (Content-Length or chunked) so keep-alive stays in sync."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = handler.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip trailers up to the blank line.
                while handler.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(65537)
    try:
        length = int(handler.headers.get("Content-Length", "0") or "0")
    except ValueError:
        length = 0
    return handler.rfile.read(length) if length > 0 else b""


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _redact(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    redacted: dict[str, str] = {}
    for name, value in headers:
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if value else "Basic"
            value = f"{scheme} <redacted>"
        redacted[name] = value
    return redacted


class ExotelSimulator:
    """A local stand-in for Exotel's v1 API, for tests, benchmarks and credential-free demos.

    Use it as a context manager (``with ExotelSimulator() as sim:``) or call ``start()`` and
    ``stop()``; it can be stopped and started again on the same port. Point a client at
    ``sim.base_url`` with account ``sid``, key ``api_key`` and token ``token``.
    """

    def __init__(
        self,
        sid: str = "ACsim",
        token: str = "sim-token",
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 200,
        rate_window: float = 60.0,
        auto_progress: bool = False,
        progress_delay: float = 0.2,
        exophones: Iterable[str] | None = None,
        accept_legacy_auth: bool = True,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the Exotel simulator only listens on loopback, not on {host!r}")
        if rate_limit < 1 or rate_window <= 0:
            raise ValueError("rate_limit must be >= 1 and rate_window > 0")
        self.sid = sid
        self.token = token
        self.api_key = api_key if api_key is not None else sid
        self.host = host
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.auto_progress = auto_progress
        self.progress_delay = progress_delay
        self.accept_legacy_auth = accept_legacy_auth
        self._port = port
        self._state = SimState(sid, exophones, on_created=self._on_created)
        self._lifecycle = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._requests: Recorder[RecordedRequest] = Recorder("requests")
        self._callbacks: Recorder[CallbackAttempt] = Recorder("callbacks")
        self._fault_lock = threading.Lock()
        self._faults: list[_FaultRule] = []
        self._rate_lock = threading.Lock()
        self._rate: dict[str, deque[float]] = {}
        # The rate limiter's clock; tests may replace it to slide the window without sleeping.
        self._clock: Callable[[], float] = time.monotonic
        self._timer_lock = threading.Lock()
        self._timers: set[threading.Timer] = set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ExotelSimulator:
        """Start serving (on the same port as before after a ``stop()``); returns self."""
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = _Server((self.host, self._port), self)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"exotel-simulator:{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; state and recordings are kept."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            self._stopping.set()  # wakes handlers sleeping in a delay fault
            server.shutdown()
            server.server_close()
            thread.join()
            server.close_connections(_STOP_GRACE)
            self._cancel_timers()
            self._server = self._thread = None

    def __enter__(self) -> ExotelSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently accepting connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port; known once the simulator has been started."""
        if self._port == 0:
            raise RuntimeError("the simulator has not been started yet")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>``, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    # --- recordings ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (a snapshot copy)."""
        return self._requests.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent request, or None."""
        return self._requests.last()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived (for code that sends from another thread);
        return them all. A request still being answered shows ``status`` 0."""
        return self._requests.wait_for(n, timeout)

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        """Every status callback attempted so far (a snapshot copy)."""
        return self._callbacks.snapshot()

    def wait_for_callbacks(self, n: int, timeout: float = 5.0) -> list[CallbackAttempt]:
        """Block until at least ``n`` callbacks were attempted; return them all."""
        return self._callbacks.wait_for(n, timeout)

    def clear(self) -> None:
        """Forget recorded requests and callbacks (calls, SMS and faults are kept)."""
        self._requests.clear()
        self._callbacks.clear()

    def reset(self) -> None:
        """Back to a fresh account: clear(), forget calls/SMS/number info, rate window, faults."""
        self._cancel_timers()
        self.clear()
        self._state.reset()
        self.clear_faults()
        with self._rate_lock:
            self._rate.clear()

    # --- faults -------------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        times: int | None = None,
        *,
        fraction: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Apply ``fault`` to the next ``times`` matching requests (default 1), or to a
        ``fraction`` of matching requests (deterministic for a given ``seed``) until
        ``clear_faults()``. Faults apply in the order injected; the first that fires wins."""
        if fraction is not None:
            if times is not None:
                raise ValueError("pass either times or fraction, not both")
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("fraction must be between 0 and 1")
        elif times is None:
            times = 1
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        rule = _FaultRule(fault, times, fraction, random.Random(seed))
        with self._fault_lock:
            self._faults.append(rule)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._fault_lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._fault_lock:
            for rule in self._faults:
                if not rule.matches(method, path):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                    return rule.fault
                if rule.fraction is not None and rule.rng.random() < rule.fraction:
                    return rule.fault
        return None

    # --- state and progression ----------------------------------------------------------------

    @property
    def calls(self) -> dict[str, dict[str, Any]]:
        """Call Sid -> current Call object (copies)."""
        return self._state.calls()

    @property
    def messages(self) -> dict[str, dict[str, Any]]:
        """SMS Sid -> current SMSMessage object (copies)."""
        return self._state.messages()

    def set_number_info(
        self,
        number: str,
        *,
        dnd: bool | None = None,
        operator: str | None = None,
        circle: str | None = None,
        operator_name: str | None = None,
        circle_name: str | None = None,
        number_type: str | None = None,
    ) -> None:
        """Pin what ``GET Numbers/<number>`` answers (matched on the last 10 digits)."""
        self._state.set_number_info(
            number,
            dnd=dnd,
            operator=operator,
            circle=circle,
            operator_name=operator_name,
            circle_name=circle_name,
            number_type=number_type,
        )

    def deliver_sms(
        self,
        sid: str,
        status: str = "sent",
        detailed_status_code: int | None = None,
        sms_units: int | None = None,
    ) -> CallbackAttempt | None:
        """Move an SMS to ``status`` and, when terminal and subscribed, send its callback.

        ``detailed_status_code`` defaults to the usual code for the status (sent → 20005,
        failed → 23010, failed_dnd → 23005, ...); ``sms_units`` to the units computed at send.
        Returns the callback attempt, or None when no callback was due.
        """
        pending = self._state.deliver_sms(sid, status, detailed_status_code, sms_units)
        attempts = self._send_callbacks([] if pending is None else [pending])
        return attempts[0] if attempts else None

    def complete_call(
        self,
        sid: str,
        status: str = "completed",
        duration: int = 17,
        answered_by: str | None = "Human",
        recording: bool | None = None,
    ) -> list[CallbackAttempt]:
        """End a call with a terminal ``status`` and send its callbacks.

        When the call subscribed to ``answered`` and ``status`` is completed, an ``answered``
        event goes first, then the terminal one. ``recording`` None follows the request's
        ``Record`` flag; True/False force a RecordingUrl on or off. Returns the attempts.
        """
        return self._send_callbacks(
            self._state.complete_call(sid, status, duration, answered_by, recording)
        )

    def _send_callbacks(self, pending: list[PendingCallback]) -> list[CallbackAttempt]:
        attempts = []
        for callback in pending:
            attempt = callbacks.send(callback)
            self._callbacks.add(attempt)
            attempts.append(attempt)
        return attempts

    def _on_created(self, kind: CallbackKind, sid: str) -> None:
        if not self.auto_progress:
            return
        timer = threading.Timer(self.progress_delay, self._progress, args=(kind, sid))
        timer.daemon = True
        with self._timer_lock:
            self._timers.add(timer)
        timer.start()

    def _progress(self, kind: CallbackKind, sid: str) -> None:
        with self._timer_lock:
            self._timers = {t for t in self._timers if t is not threading.current_thread()}
        try:
            # A test may already have moved it along; auto-progress only touches fresh items.
            if kind == "sms" and self._state.sms_status(sid) == "queued":
                self.deliver_sms(sid)
            elif kind == "call" and self._state.call_status(sid) == "in-progress":
                self.complete_call(sid)
        except (KeyError, ValueError):
            logger.debug("auto-progress skipped %s %s", kind, sid, exc_info=True)

    def _cancel_timers(self) -> None:
        with self._timer_lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()

    # --- request handling ---------------------------------------------------------------------

    def _record(self, entry: RecordedRequest) -> Slot:
        return self._requests.add(entry)

    def _set_status(self, slot: Slot, status: int) -> None:
        self._requests.update(slot, lambda request: replace(request, status=status))

    def _serve(self, handler: _Handler) -> None:
        arrived = time.monotonic()
        method = handler.command.upper()
        split = urlsplit(handler.path)
        path = split.path
        body = _read_body(handler)
        form = parse_form(body, handler.headers.get("Content-Type", "")) if body else {}
        query = parse_urlencoded(split.query)
        credentials = _basic_auth(handler.headers.get("Authorization"))
        slot = self._record(
            RecordedRequest(
                method=method,
                path=path,
                query=query,
                form=form,
                headers=_redact(handler.headers.items()),
                body=body,
                status=0,
                time=arrived,
                auth_user=credentials[0] if credentials else None,
            )
        )
        as_json = path.endswith(".json")
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay > 0 and self._stopping.wait(fault.delay):
                handler.close_connection = True  # stopped while sleeping: just hang up
                return
            if fault.drop:
                handler.close_connection = True
                return
            if fault.answers:
                answer = self._fault_answer(fault, as_json)
                self._set_status(slot, answer.status)
                self._write(handler, answer)
                return
        answer = self._answer(method, path, query, form, credentials, as_json)
        self._set_status(slot, answer.status)
        self._write(handler, answer)

    @staticmethod
    def _render(status: int, payload: Any, as_json: bool, headers: dict[str, str]) -> _Answer:
        if as_json:
            return _Answer(status, to_json(payload), "application/json", headers)
        return _Answer(status, to_xml(payload), "application/xml", headers)

    def _fault_answer(self, fault: Fault, as_json: bool) -> _Answer:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.non_json:
            status = fault.status or 502
            page = GATEWAY_PAGE.format(status=status).replace(
                "Bad Gateway", HTTPStatus(status).phrase
            )
            return _Answer(status, page.encode("utf-8"), "text/html", headers)
        status = fault.status or 500
        error = ApiError(status, fault.message or HTTPStatus(status).phrase, fault.code)
        return self._render(status, error.body(), as_json, headers)

    def _answer(
        self,
        method: str,
        path: str,
        query: Form,
        form: Form,
        credentials: tuple[str, str] | None,
        as_json: bool,
    ) -> _Answer:
        try:
            status, payload = self._route(method, path, query, form, credentials)
            return self._render(status, payload, as_json, {})
        except ApiError as err:
            return self._render(err.status, err.body(), as_json, err.headers)
        except Exception:
            # A simulator bug: answer like Exotel's 500 so the client under test sees a server
            # error instead of a dropped connection, and log it loudly for whoever runs the test.
            logger.exception("simulator failed on %s %s", method, path)
            error = ApiError(500, "Internal Server Error", 35000)
            return self._render(500, error.body(), as_json, {})

    def _authenticate(self, account: str, credentials: tuple[str, str] | None) -> None:
        users = {self.api_key} | ({self.sid} if self.accept_legacy_auth else set())
        ok = (
            credentials is not None
            and credentials[0] in users
            and hmac.compare_digest(credentials[1].encode(), self.token.encode())
            and account == self.sid
        )
        if not ok:
            raise ApiError(401, "Authentication failed", 34010)

    def _admit(self, account: str, method: str) -> None:
        """Sliding-window rate limit per account; raises 429 with Retry-After when full."""
        with self._rate_lock:
            now = self._clock()
            window = self._rate.setdefault(account, deque())
            while window and window[0] <= now - self.rate_window:
                window.popleft()
            if len(window) >= self.rate_limit:
                wait = max(1, math.ceil(window[0] + self.rate_window - now))
                raise ApiError(
                    429,
                    "Too Many Requests",
                    40402 if method == "POST" else 40403,
                    headers={"Retry-After": str(wait)},
                )
            window.append(now)

    def _route(
        self,
        method: str,
        path: str,
        query: Form,
        form: Form,
        credentials: tuple[str, str] | None,
    ) -> tuple[int, Any]:
        match = _ACCOUNT_PATH.match(path)
        if match is None:
            raise ApiError(404, f"The requested resource {path} was not found")
        account = unquote(match["account"])
        resource = match["resource"]
        if resource.endswith(".json"):
            resource = resource[: -len(".json")]
        self._authenticate(account, credentials)
        self._admit(account, method)
        for route_method, pattern, endpoint in _ROUTES:
            found = pattern.fullmatch(resource)
            if found is None:
                continue
            if route_method != method:
                raise ApiError(
                    405, f"Method {method} not allowed on {path}", headers={"Allow": route_method}
                )
            args = {key: unquote(value) for key, value in found.groupdict().items()}
            return 200, self._endpoint(endpoint, args, query, form)
        raise ApiError(404, f"The requested resource {path} was not found")

    def _endpoint(self, name: str, args: dict[str, str], query: Form, form: Form) -> Any:
        state = self._state
        handlers: dict[str, Callable[[], Any]] = {
            "connect_call": lambda: state.connect_call(form),
            "list_calls": lambda: state.list_calls(query),
            "get_call": lambda: state.get_call(args["sid"], query),
            "number_info": lambda: state.number_info(args["number"]),
            "send_sms": lambda: state.send_sms(form),
            "bulk_send": lambda: state.bulk_send(form),
            "get_sms": lambda: state.get_sms(args["sid"]),
        }
        return handlers[name]()

    @staticmethod
    def _write(handler: _Handler, answer: _Answer) -> None:
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(answer.body)
            handler.wfile.flush()
        except OSError:
            # The client gave up (a read timeout on a delayed fault): nothing left to answer.
            handler.close_connection = True
