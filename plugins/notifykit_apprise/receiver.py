"""A stand-in for the services behind Apprise URLs: an HTTP server on 127.0.0.1 that takes what
Apprise's ``json://`` plugin posts and keeps it.

``--sandbox`` runs one and points every Apprise account at it (its ``redirect``), so a sandboxed
notification reaches no real service; the plugin's tests point URLs at one and script its
answers (a status, a delay) by path::

    with AppriseReceiver() as receiver:
        receiver.answer("/down", status=503)
        url = receiver.url("ops")  # json://127.0.0.1:PORT/ops
        ...
        [received] = receiver.wait_for(1)
        received.title, received.body, received.type

It reads bodies up to 1 MiB, times out idle connections, and wakes a delayed answer when it is
closed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["AppriseReceiver", "Received"]

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20
SOCKET_TIMEOUT = 10.0


@dataclass(frozen=True)
class Received:
    """One notification the receiver took (as soon as it arrived, before a delayed answer): the
    request's path, the title, body and type Apprise posted, the status it answers."""

    path: str
    title: str
    body: str
    type: str
    status: int
    payload: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class _Answer:
    status: int
    delay: float


@dataclass
class _Script:
    """A path's answers: ``next``, each ``[answer, requests left]``, then ``always``."""

    next: list[list[Any]] = field(default_factory=list)
    always: _Answer = field(default_factory=lambda: _Answer(200, 0.0))


class AppriseReceiver:
    """An HTTP server on 127.0.0.1 (a free port unless ``port`` is given) for ``json://`` URLs.
    Answers 200 unless :meth:`answer` scripted otherwise for a path. Thread-safe."""

    def __init__(self, *, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._answers: dict[str, _Script] = {}
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> AppriseReceiver:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"apprise-receiver:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (a delayed answer is cut short). Idempotent."""
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> AppriseReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- use ------------------------------------------------------------------------------------

    def url(self, path: str = "notify") -> str:
        """An Apprise URL that posts here: ``json://127.0.0.1:PORT/<path>``."""
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def answer(
        self, path: str, *, status: int = 200, delay: float = 0.0, times: int | None = None
    ) -> None:
        """Answer requests to ``path`` (and below it) with ``status``, after ``delay`` seconds:
        the next ``times`` requests only, or every one from now on (``None``). Answers given with
        ``times`` are used first, in the order given; then the last one given without (200)."""
        with self._lock:
            script = self._answers.setdefault("/" + path.strip("/"), _Script())
            if times is None:
                script.always = _Answer(status, delay)
            elif times > 0:
                script.next.append([_Answer(status, delay), times])

    @property
    def received(self) -> list[Received]:
        """Everything received so far, in order."""
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` notifications arrived; all received so far.

        :raises TimeoutError: fewer arrived within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._received)} notification(s) arrived within {timeout} s, "
                        f"not {count}"
                    )
                self._lock.wait(left)
            return list(self._received)

    def reset(self) -> None:
        """Forget what was received and every scripted answer."""
        with self._lock:
            self._received.clear()
            self._answers.clear()

    # -- serving ----------------------------------------------------------------------------------

    def _answer_for(self, path: str) -> _Answer:
        path = "/" + path.split("?", 1)[0].strip("/")
        with self._lock:
            for prefix in sorted(self._answers, key=len, reverse=True):
                if not (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
                    continue
                script = self._answers[prefix]
                if not script.next:
                    return script.always
                entry = script.next[0]
                entry[1] -= 1
                if entry[1] <= 0:
                    script.next.pop(0)
                return entry[0]  # type: ignore[no-any-return]
        return _Answer(200, 0.0)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        try:
            length = int(request.headers.get("Content-Length") or "")
        except ValueError:
            self._reply(request, 411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY:
            self._reply(request, 413, {"error": f"at most {MAX_BODY} bytes"})
            request.close_connection = True
            return
        raw = request.rfile.read(length)
        try:
            payload = json.loads(raw or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reply(request, 400, {"error": "expected a JSON object"})
            return
        answer = self._answer_for(request.path)
        received = Received(
            path=request.path.split("?", 1)[0],
            title=str(payload.get("title") or ""),
            body=str(payload.get("message") or ""),
            type=str(payload.get("type") or ""),
            status=answer.status,
            payload=payload,
        )
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()
        logger.info(
            "received (answered %d): %s%s",
            answer.status,
            f"[{received.title}] " if received.title else "",
            received.body,
        )
        if answer.delay > 0:  # received, then answered late (or never, if closed first)
            self._closing.wait(answer.delay)
        self._reply(request, answer.status, {"ok": 200 <= answer.status < 300})

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the client gave up (its timeout): nothing to answer
