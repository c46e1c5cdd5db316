"""A tiny local HTTP server that stands in for an application's StatusCallback endpoint.

Tests point the simulator's callbacks (or anything else that POSTs webhooks) at
``receiver.url()`` and assert on what arrived; ``wait_for(n)`` blocks on a condition, so no test
needs to sleep.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .recorder import Recorder
from .wire import Form, parse_form


@dataclass(frozen=True)
class ReceivedCallback:
    """One POST the receiver got: path (with query), headers and the raw body."""

    method: str
    path: str
    headers: dict[str, str]
    content_type: str
    body: bytes

    @property
    def form(self) -> Form:
        """The body's form fields (urlencoded or multipart), repeated keys kept."""
        return parse_form(self.body, self.content_type)

    @property
    def fields(self) -> dict[str, Any]:
        """A JSON body's object, or each form field's last value."""
        if self.content_type.split(";", 1)[0].strip().lower() == "application/json":
            decoded = json.loads(self.body)
            return decoded if isinstance(decoded, dict) else {"": decoded}
        return {key: values[-1] for key, values in self.form.items() if values}


class CallbackReceiver:
    """Records every POST on a loopback port and answers ``status`` (200 unless changed)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200) -> None:
        self.host = host
        self.status = status
        self._received: Recorder[ReceivedCallback] = Recorder("callbacks")
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the receiver listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str = "/callback") -> str:
        """A URL on this receiver; the path (and any query) is recorded with each POST."""
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> CallbackReceiver:
        """Start serving in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"callback-receiver:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (a stopped receiver cannot be restarted)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def received(self) -> list[ReceivedCallback]:
        """Everything received so far, in arrival order (a snapshot copy)."""
        return self._received.snapshot()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Block until at least ``n`` POSTs arrived; raise TimeoutError naming how many did."""
        return self._received.wait_for(n, timeout)

    def clear(self) -> None:
        """Forget what was received."""
        self._received.clear()

    def _add(self, item: ReceivedCallback) -> None:
        self._received.add(item)


def _make_handler(receiver: CallbackReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or "0")
            body = self.rfile.read(length) if length > 0 else b""
            receiver._add(
                ReceivedCallback(
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    content_type=self.headers.get("Content-Type", ""),
                    body=body,
                )
            )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass  # tests assert on .received; access logs would only be noise

    return Handler
