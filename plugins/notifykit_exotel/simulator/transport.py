"""The simulator's HTTP transport: a bounded, loopback-only HTTP/1.1 server and its body reader.

``http.server`` does the request line and headers (it starts in milliseconds and keeps
connections alive, which werkzeug's development server does not); werkzeug reads the body
(``Content-Length`` or chunked, capped) and parses the forms. The server here adds what a test bed
under load needs: a listen backlog that absorbs bursts, a bounded number of handler threads, a
per-connection read timeout so half-sent requests cannot hold a thread, IPv6 loopback, and
tracking of open connections so ``stop()`` really cuts them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from werkzeug.serving import DechunkedInput

logger = logging.getLogger(__name__)

#: Pending connections the kernel queues while every handler is busy. ``socketserver``'s
#: default of 5 overflowed under 50 concurrent clients, and each overflow was a reset that a
#: client must report as "maybe sent" for a request the simulator never saw.
LISTEN_BACKLOG = 1024
#: Handler threads at most (one per open connection); more connections wait in the backlog.
MAX_CONNECTIONS = 128
#: Seconds a connection may sit without sending a byte (mid-request or idle between keep-alive
#: requests) before the simulator closes it.
READ_TIMEOUT = 15.0
#: Largest request body accepted (413 above it). A bulk send of 100 messages of 2000 Devanagari
#: characters is about 1.8 MB urlencoded, so 4 MiB leaves room.
MAX_BODY_BYTES = 4 * 1024 * 1024


class PortInUseError(OSError):
    """The port is already taken: the simulator refuses to start rather than share it."""


class BodyReadError(Exception):
    """The body could not be read: ``status`` says how to answer (400, 408, 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection before sending the whole body: nothing to answer."""


def read_body(handler: BaseHTTPRequestHandler, max_bytes: int) -> bytes:
    """Read the whole request body, exactly, so a keep-alive connection stays in step.

    ``Transfer-Encoding: chunked`` is decoded by werkzeug's ``DechunkedInput``; a
    ``Content-Length`` body is read to its length. Raises :class:`BodyReadError` (the caller
    answers and closes the connection, since the stream can no longer be trusted) for an
    unreadable length, malformed chunking, a body over ``max_bytes`` (413) or a client that stops
    sending (408, after the socket's read timeout); :class:`ClientGone` when the client hung up.
    """
    headers = handler.headers
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    try:
        if chunked:
            return _read_chunked(handler, max_bytes)
        length_header = headers.get("Content-Length")
        if length_header is None:
            return b""
        text = length_header.strip()
        if not text.isdigit():
            raise BodyReadError(400, f"Content-Length {length_header!r} is not a number of bytes")
        length = int(text)
        if length > max_bytes:
            raise BodyReadError(
                413, f"request body of {length} bytes is over the limit of {max_bytes}"
            )
        body = handler.rfile.read(length) if length else b""
        if len(body) < length:
            raise ClientGone
        return body
    except TimeoutError:
        raise BodyReadError(408, "the client stopped sending the request body") from None
    except ConnectionError:
        raise ClientGone from None


def _read_chunked(handler: BaseHTTPRequestHandler, max_bytes: int) -> bytes:
    stream = DechunkedInput(handler.rfile)  # type: ignore[arg-type]
    parts: list[bytes] = []
    total = 0
    while True:
        try:
            data = stream.read(64 * 1024)
        except (TimeoutError, ConnectionError):
            raise
        except OSError as err:
            # DechunkedInput raises OSError for a malformed chunk header or terminator.
            raise BodyReadError(400, f"the chunked request body is malformed: {err}") from None
        if not data:  # the zero-length last chunk (an early EOF is a malformed header above)
            return b"".join(parts)
        total += len(data)
        if total > max_bytes:
            raise BodyReadError(413, f"request body over the limit of {max_bytes} bytes")
        parts.append(data)


class LoopbackServer(HTTPServer):
    """An HTTP server with a deep backlog, bounded handler threads and tracked connections.

    Handler threads are daemons (a forgotten simulator never blocks interpreter exit); at most
    ``max_connections`` run at once, and the accept loop waits for a free one, so a burst queues
    in the kernel backlog instead of spawning unbounded threads. ``close_connections`` cuts
    every open connection, so a pooled keep-alive connection is not served after ``stop()``.
    """

    request_queue_size = LISTEN_BACKLOG
    allow_reuse_address = True
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.read_timeout = read_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closing = threading.Event()
        self._open: set[socket.socket] = set()
        self._open_changed = threading.Condition()
        try:
            super().__init__(address, handler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    err.errno,
                    f"port {address[1]} on {address[0]} is already in use (another simulator or "
                    "program listens there); pick another port, or 0 for any free one",
                ) from None
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall start-up on a machine
        # with slow DNS; a loopback server has no use for it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.05):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        with self._open_changed:
            self._open.add(request)
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), daemon=True
        )
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            with self._open_changed:
                self._open.discard(request)
                self._open_changed.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request are normal here (timeouts, dropped faults); the
        # default prints a traceback to stderr.
        logger.debug("error while serving %s", client_address, exc_info=True)

    def begin_close(self) -> None:
        """Stop taking new connections off the backlog (called before ``shutdown()``)."""
        self._closing.set()

    def close_connections(self, timeout: float) -> None:
        """Cut every open connection, then wait for the handler threads to close them."""
        with self._open_changed:
            for conn in list(self._open):
                # OSError: the peer already closed it.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._open_changed.wait_for(lambda: not self._open, timeout)


def handler_class(
    serve: Callable[[Any], None], *, server_version: str = "ExotelSimulator"
) -> type[BaseHTTPRequestHandler]:
    """A request handler that passes every request to ``serve(handler)``."""

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 so pooled clients keep their connections, as they do with Exotel.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the client's delayed ACK would
        # add ~40 ms to every keep-alive request, which benchmarks would measure.
        disable_nagle_algorithm = True
        server: LoopbackServer

        def setup(self) -> None:
            # BaseHTTPRequestHandler applies ``timeout`` to the socket: a client that opens a
            # connection and sends half a request is cut off instead of holding a thread.
            self.timeout = self.server.read_timeout  # type: ignore[misc]
            super().setup()

        def _dispatch(self) -> None:
            serve(self)

        do_GET = _dispatch
        do_POST = _dispatch
        do_PUT = _dispatch
        do_PATCH = _dispatch
        do_DELETE = _dispatch
        do_HEAD = _dispatch

        def version_string(self) -> str:
            return server_version

        def log_message(self, format: str, *args: Any) -> None:
            # The simulator writes its own access line (without query or credentials).
            logger.debug("%s - %s", self.address_string(), format % args)

    return Handler
