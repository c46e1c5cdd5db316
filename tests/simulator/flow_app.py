"""A tiny real HTTP application for flow tests: it serves the URLs a flow's applets call.

Each path answers what the test set with :meth:`FlowApp.answer` (a status, a body and a
``Content-Type``, or a delay to provoke a timeout), HEAD and GET alike (HEAD without the body, as
Exotel requires of greeting URLs), and every request is recorded with its query parameters, so a
test asserts on exactly what the simulator sent. Standard library only: ``http.server`` on a
thread, on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Hit:
    """One request the app received: method, path and query parameters (blank ones kept)."""

    method: str
    path: str
    query: dict[str, list[str]]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class FlowApp:
    """Answers per path; ``answer(path, ...)`` sets one, ``route(path, fn)`` computes one from
    the request (``fn(hit) -> Reply``). Unknown paths answer 404."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._hits: list[Hit] = []
        self._routes: dict[str, Callable[[Hit], Reply]] = {}
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FlowApp:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()  # a handler delaying its answer gives up now
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def answer(self, path: str, status: int = 200, body: str = "", **options: Any) -> None:
        reply = Reply(status, body, **options)
        self._routes[path] = lambda hit: reply

    def route(self, path: str, compute: Callable[[Hit], Reply]) -> None:
        self._routes[path] = compute

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def hits_to(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def wait_for(self, path: str, n: int, timeout: float = 5.0) -> list[Hit]:
        """Block until ``path`` got at least ``n`` requests; return them (TimeoutError says how
        many came)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._on(path)) >= n, timeout):
                raise TimeoutError(f"{path} got {len(self._on(path))} request(s), not {n}")
            return self._on(path)

    def _on(self, path: str) -> list[Hit]:
        return [hit for hit in self._hits if hit.path == path]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

            def _serve(self, with_body: bool) -> None:
                parts = urlsplit(self.path)
                hit = Hit(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True))
                with app._lock:
                    app._hits.append(hit)
                    app._lock.notify_all()
                compute = app._routes.get(parts.path)
                reply = compute(hit) if compute else Reply(404, "not here")
                if reply.delay and app._release.wait(reply.delay):
                    return
                data = reply.body.encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    if with_body:
                        self.wfile.write(data)
                except OSError:
                    pass  # the simulator gave up waiting: nobody to answer

            def do_GET(self) -> None:
                self._serve(with_body=True)

            def do_HEAD(self) -> None:
                self._serve(with_body=False)

        return Handler
