"""The local HTTP server under a plugin's test fake (and its ``--sandbox``), written once: a
plugin's fake of its provider subclasses :class:`FakeServer` and writes only what the provider
would answer (:meth:`FakeServer._serve`); the rest is here.

* It serves on 127.0.0.1 (a free port unless one is given) in a daemon thread, one thread per
  connection, kept alive (HTTP/1.1), with no line per request on stderr; ``base_url`` and
  ``port`` say where. It is a context manager; :meth:`FakeServer.close` stops it, and cuts short
  an answer held back (:meth:`FakeServer._hold`).
* It records what it receives (``_record``) behind one condition, so a test waits for it
  (:meth:`FakeServer.wait_for`, with a deadline) instead of sleeping.
* It plays faults in turn: :meth:`FakeServer.inject` queues one (any frozen dataclass with a
  ``times`` field), ``_next_fault`` takes it for the next ``times`` requests.
* :class:`FakeRequest` is a request as the fake sees it: its body (read up to
  :data:`MAX_BODY`), its headers with lowercased names, and :meth:`FakeRequest.answer` (JSON by
  default; a client that gave up and hung up is not an error) or :meth:`FakeRequest.hang_up`.
* :func:`closed_url` is an address where nothing listens (a refused connection needs no server).

Standard library only, nothing of notifykit and no provider: importing it starts nothing.

::

    class FakeAcme(FakeServer[Request, Fault]):
        def _serve(self, request: FakeRequest) -> None:
            body = request.read_body()
            fault = self._next_fault()
            self._record(Request(request.path, body))
            if fault is not None and fault.kind == "drop":
                request.hang_up()
            elif fault is None or not self._hold(fault.delay):
                request.answer(200, {"id": "..."})
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Protocol, TypeVar

__all__ = ["MAX_BODY", "FakeRequest", "FakeServer", "closed_url"]

#: the largest body a fake reads of a request
MAX_BODY = 1024 * 1024


class _Fault(Protocol):
    """A fault a fake plays: a dataclass (frozen or not) with a ``times`` field."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def times(self) -> int: ...


R = TypeVar("R")
F = TypeVar("F", bound=_Fault)
S = TypeVar("S", bound="FakeServer[Any, Any]")


def closed_url(path: str = "") -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (a refused connection), ``path``
    appended."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}{path}"


class FakeServer(Generic[R, F]):
    """A local HTTP server recording ``R`` items and playing ``F`` faults (see the module
    docstring). A subclass sets the class attributes below and writes :meth:`_serve`."""

    #: the serving thread's name (the port is appended)
    thread_name: ClassVar[str] = "notifykit-fake"
    #: the HTTP methods handed to :meth:`_serve`; any other is answered 501, as http.server does
    methods: ClassVar[tuple[str, ...]] = ("POST",)
    #: what :meth:`wait_for` and ``repr`` call the recorded items
    noun: ClassVar[str] = "requests"
    #: what :meth:`wait_for` raises when too few arrived in time
    timeout_error: ClassVar[type[Exception]] = AssertionError
    #: seconds an idle connection is kept open (``None``: as long as the client keeps it)
    socket_timeout: ClassVar[float | None] = None

    def __init__(self, *, port: int = 0, start: bool = True) -> None:
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._recorded: list[R] = []
        self._faults: list[F] = []
        self._server = _Server(("127.0.0.1", port), FakeRequest)
        self._server.fake = self
        self.port = int(self._server.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, {self.noun}={len(self._recorded)})"

    def start(self: S) -> S:
        """Serve in a daemon thread (once: a second call does nothing); returns the fake."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.thread_name}:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port (an answer held back is given up). Idempotent."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inject(self, fault: F) -> None:
        """Make ``fault`` for the next ``fault.times`` requests (after those injected before)."""
        with self._changed:
            self._faults.append(fault)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[R]:
        """What was recorded, once at least ``count`` items have arrived (:attr:`timeout_error`
        after ``timeout`` seconds, saying how many did)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._recorded) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.timeout_error(
                        f"{len(self._recorded)} {self.noun} arrived within {timeout} s, not {count}"
                    )
                self._changed.wait(left)
            return list(self._recorded)

    # -- for the subclass ------------------------------------------------------------------------

    def _serve(self, request: FakeRequest) -> None:
        """Answer one request (on the server's thread for its connection)."""
        raise NotImplementedError

    def _record(self, item: R) -> None:
        """Keep ``item`` and wake whoever waits for it."""
        with self._changed:
            self._recorded.append(item)
            self._changed.notify_all()

    def _snapshot(self) -> list[R]:
        """What was recorded so far, in order (a copy)."""
        with self._changed:
            return list(self._recorded)

    def _next_fault(self) -> F | None:
        """The fault for this request (``None``: none), counted off its ``times``."""
        with self._changed:
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.times <= 1:
                self._faults.pop(0)
            else:
                self._faults[0] = dataclasses.replace(fault, times=fault.times - 1)
            return fault

    def _hold(self, delay: float) -> bool:
        """Hold an answer back ``delay`` seconds; ``True`` when the fake closed meanwhile (then
        answer nothing)."""
        return delay > 0 and self._stopping.wait(delay)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer[Any, Any]


class FakeRequest(BaseHTTPRequestHandler):
    """One request to a :class:`FakeServer`, as its :meth:`~FakeServer._serve` sees it (the
    standard library's handler: ``command``, ``path``, ``headers``, ``rfile``...), with what
    every fake needs to read it and answer it."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client's pool reuses its connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        if self.server.fake.socket_timeout is not None:
            self.connection.settimeout(self.server.fake.socket_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request on stderr

    def _dispatch(self) -> None:
        fake = self.server.fake
        if self.command not in fake.methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def read_body(self, limit: int = MAX_BODY) -> bytes:
        """The body (its ``Content-Length``, at most ``limit`` bytes of it)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, limit)) if length > 0 else b""

    def lowered_headers(self) -> dict[str, str]:
        """The request's headers, names lowercased."""
        return {name.lower(): value for name, value in self.headers.items()}

    def answer(
        self,
        status: int,
        body: bytes | Mapping[str, Any] = b"",
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> None:
        """Answer ``status`` with ``body`` (a mapping: as JSON) and ``headers``; a client that
        gave up (its timeout) and hung up is not an error."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    def hang_up(self) -> None:
        """Close the connection without an answer (the request was read)."""
        self.close_connection = True
