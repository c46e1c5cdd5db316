"""A raw-socket HTTP server for faults the simulator cannot make (imported as
``tests.exotel.rawserver``).

Each connection gets one request read and one scripted answer written as bytes, exactly as given:
redirects, bodies nested 100,000 deep, fields of the wrong type, a connection dropped after the
request was read, or no answer at all. Every request is recorded, so a test can count what reached
the "server" (a redirected POST must reach it once, and another host never).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TLS_DIR = Path(__file__).parent / "tls"
CERT = TLS_DIR / "localhost-cert.pem"
KEY = TLS_DIR / "localhost-key.pem"

#: What a handler returns: the raw bytes to write, ``None`` to close without answering (a
#: connection dropped after the request arrived), or ``HANG`` to keep the socket open unanswered.
HANG = b"<hang>"


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def answer(
    status: int,
    body: bytes | str | Any = b"",
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> bytes:
    """An HTTP/1.1 answer as bytes; a body that is not bytes or str is sent as JSON."""
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode("utf-8")
    lines = [f"HTTP/1.1 {status} Scripted", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines += [f"Content-Length: {len(data)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


Handler = Callable[[RawRequest], "bytes | None"]


@dataclass
class RawServer:
    """HTTP (or HTTPS with the test certificate) on 127.0.0.1, one scripted answer per request."""

    handler: Handler = field(repr=False)
    tls: bool = False
    # Not in repr(): the recorded Authorization headers would show up in the secret-hygiene tests'
    # renderings of their own frames' locals.
    requests: list[RawRequest] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._context: ssl.SSLContext | None = None
        if self.tls:
            self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._context.load_cert_chain(CERT, KEY)
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux)
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.close()
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RawRequest]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
                self._lock.wait(left)
            return list(self.requests)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        sock: socket.socket = conn
        try:
            if self._context is not None:
                sock = self._context.wrap_socket(conn, server_side=True)
            request = _read_request(sock)
            with self._lock:
                self.requests.append(request)
                self._lock.notify_all()
            reply = self.handler(request)
            if reply == HANG:
                with self._lock:
                    self._open.append(sock)
                return
            if reply is not None:
                sock.sendall(reply)
        except (OSError, ssl.SSLError):
            pass  # the client hung up or refused the certificate
        sock.close()


def _read_request(sock: socket.socket) -> RawRequest:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("client closed before sending a request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawRequest(method, target, headers, body)


@contextlib.contextmanager
def raw_server(handler: Handler | bytes | None, *, tls: bool = False) -> Iterator[RawServer]:
    """A :class:`RawServer` answering ``handler(request)``, or the same bytes to every request."""
    fixed = handler
    server = RawServer(handler if callable(handler) else (lambda _r: fixed), tls=tls)  # type: ignore[arg-type,return-value]
    try:
        yield server
    finally:
        server.close()
