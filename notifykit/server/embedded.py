"""The embedded server of ``notifykit serve``: the status app on waitress, with what paging
needs from a server that the standard library's ``wsgiref`` lacked.

waitress (the Pylons project's pure-Python WSGI server: every platform, no C extension) gives
HTTP/1.1 with keep-alive, chunked request bodies, a bounded pool of ``server.threads`` that run
the app while one event loop does all the socket work, 431 for headers over
:data:`MAX_HEADER_BYTES` and a connection closed after ``server.idle_timeout`` without a request
in progress. This module adds what waitress leaves out:

- **414** for a request line over :data:`MAX_REQUEST_LINE` (waitress counts it with the headers).
- **A deadline for each request**: one whose line, headers and body have not all arrived within
  ``server.request_timeout`` of its first byte is closed, however steadily it trickles (waitress
  only closes connections that are silent).
- **Room at the connection limit**: at ``server.connection_limit`` open connections waitress
  stops accepting, so one client's idle connections fill the kernel's queue and nobody else is
  answered. Here the server keeps accepting; each new connection closes the one idle longest
  (nothing running, nothing to send), and when every connection is busy the new one is closed.
  Both are logged (rate-limited) as refused connections.
- **The descriptor limit**: ``connection_limit`` is lowered to fit under the process's
  ``ulimit -n`` (with room for the ledger and logs), and ``accept()`` failing for want of
  descriptors closes an idle connection or pauses accepting for a moment, logged, instead of
  spinning.

:class:`StatusServer` is the app on this server; the app itself
(:func:`notifykit.server.create_app`) runs under any WSGI server (docs/deploy.md: gunicorn).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import sys
import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.utilities import BadRequest

from notifykit.config.delivery import ServerSettings
from notifykit.server.app import StatusApp
from notifykit.server.http import MAX_BODY, hide_tokens

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["MAX_HEADER_BYTES", "MAX_REQUEST_LINE", "StatusServer", "descriptor_room"]

logger = logging.getLogger("notifykit.server")

#: the longest request line answered (a status callback's is under 100 bytes): 414 beyond
MAX_REQUEST_LINE = 8 * 1024
#: the request line and headers together at most: 431 beyond
MAX_HEADER_BYTES = 32 * 1024
#: descriptors kept free for everything but connections (the ledger and its WAL, the wake-up
#: sockets, log files, the event loop's trigger, the providers' HTTPS pools)
FD_RESERVE = 64
#: connections taken from the kernel's queue per wake-up of the event loop
ACCEPT_BURST = 64
#: how long accepting pauses when no descriptor can be had and no connection can be closed
FD_PAUSE = 0.5
#: how long a stopping server waits for the requests it is running
DRAIN_TIMEOUT = 10.0
#: how long the event loop waits for a request's thread to release a connection's output
#: buffer (it holds it for an append and a non-blocking send) before going on
OUTBUF_WAIT = 0.05
_NO_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def descriptor_room(wanted: int) -> tuple[int, int | None]:
    """``(connections, soft limit)``: ``wanted`` lowered to what the process's descriptor limit
    leaves after :data:`FD_RESERVE` (the limit is ``None`` where there is none to read)."""
    try:
        import resource
    except ImportError:  # Windows: select() there takes 512 sockets at most
        return min(wanted, 500), None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted, None
    return max(1, min(wanted, soft - FD_RESERVE)), soft


class _URITooLong(BadRequest):  # type: ignore[misc]
    code = 414
    reason = "URI Too Long"


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser with a limit on the request line (414) and the time its request
    started (for ``request_timeout``)."""

    completed: bool  # waitress's attributes (class defaults there)
    headers_finished: bool

    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.time()

    def received(self, data: bytes) -> int:
        if self.body_rcv is None and not self.completed and not self.headers_finished:
            head = (self.header_plus + data[: MAX_REQUEST_LINE + 2]).lstrip(b"\r\n")
            end = head.find(b"\n")
            if (end if end >= 0 else len(head)) > MAX_REQUEST_LINE:
                self.parse_header(b"GET / HTTP/1.0\r\n")  # as waitress does for its 431
                self.error = _URITooLong(f"the request line is over {MAX_REQUEST_LINE} bytes")
                self.completed = True
                return len(data)
        return int(super().received(data))


class _Channel(HTTPChannel):  # type: ignore[misc]
    """waitress's connection, with its parser, and an event loop that waits for a running
    request's writer instead of spinning on it.

    While a request runs, its thread appends the answer to the connection's output buffer and
    sends it, holding ``outbuf_lock``; the loop sees the buffer non-empty (``writable()``), polls
    it as writable and tries the lock. waitress tries without waiting: the lock is held, nothing
    is sent, and ``poll()`` answers at once, again and again, the loop holding the GIL the writer
    needs to finish, until the interpreter forces a switch (5 ms). Measured in the callbacks
    scenario: 48 loop turns per callback, 98% of them such retries. Waiting for the lock (the
    writer holds it for an append and a non-blocking ``send()``) lets the writer finish and
    costs one turn. :data:`OUTBUF_WAIT` bounds the wait; beyond it the loop goes on as
    waitress's does."""

    parser_class = _Parser

    def _flush_some_if_lockable(self, do_close: bool = True) -> None:
        if self.outbuf_lock.acquire(timeout=OUTBUF_WAIT):
            try:
                self._flush_some(do_close=do_close)
                if self.total_outbufs_len < self.adj.outbuf_high_watermark:
                    self.outbuf_lock.notify()
            finally:
                self.outbuf_lock.release()


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """waitress's TCP server that never stops accepting (see the module docstring)."""

    channel_class = _Channel
    next_channel_cleanup: float  # waitress's (a class default there)

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        self.request_timeout = request_timeout
        self.paused_until = 0.0
        super().__init__(*args, **kwargs)

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        return bool(self.accepting) and now >= self.paused_until

    def maintenance(self, now: float) -> None:
        """Close connections idle past ``idle_timeout`` (waitress) and requests still arriving
        past ``request_timeout``."""
        super().maintenance(now)
        cutoff = now - self.request_timeout
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is not None and not channel.requests and request.started < cutoff:
                channel.will_close = True

    def handle_accept(self) -> None:
        # The connections accepted in this burst: never closed to make room for another (with
        # no descriptor free, accept() fails even when nobody is waiting, and the connection
        # just taken, its request not yet read, would look idle).
        fresh: set[int] = set()
        for _ in range(ACCEPT_BURST):
            try:
                conn, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno == errno.ECONNABORTED:
                    continue
                if err.errno in _NO_DESCRIPTORS:
                    if self._close_idle(fresh) is None:
                        self.paused_until = time.time() + FD_PAUSE
                        logger.warning(
                            "out of file descriptors (%s): refusing new connections for %g s; "
                            "raise the descriptor limit (ulimit -n, systemd LimitNOFILE=) or "
                            "lower server.connection_limit",
                            err.strerror,
                            FD_PAUSE,
                        )
                        return
                    continue
                logger.warning("accept() failed: %s", err)
                return
            if len(self.active_channels) >= self.adj.connection_limit:
                closed = self._close_idle(fresh)
                if closed is None:
                    _close_quietly(conn)
                    logger.warning(
                        "connection limit reached (%d open, server.connection_limit) and every "
                        "connection is busy: refusing new connections",
                        len(self.active_channels),
                    )
                    continue
                logger.warning(
                    "connection limit reached (%d open, server.connection_limit): refusing to "
                    "keep idle connections open: closed the one idle longest (from %s) to "
                    "accept a new one",
                    self.adj.connection_limit,
                    closed,
                )
            try:
                self.set_socket_options(conn)
            except OSError:  # the client left before we got to it
                _close_quietly(conn)
                continue
            channel = self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
            fresh.add(id(channel))

    def _close_idle(self, spare: Collection[int] = ()) -> str | None:
        """Close the connection idle longest (no request running, nothing left to send), but
        none of ``spare`` (their ``id()``); the address it came from, or ``None`` when every
        connection is busy."""
        idle = [
            c
            for c in self.active_channels.values()
            if not c.requests and not c.total_outbufs_len and id(c) not in spare
        ]
        if not idle:
            return None
        oldest = min(idle, key=lambda c: c.last_activity)
        oldest.handle_close()
        return str(oldest.addr[0]) if oldest.addr else "?"


def _close_quietly(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.close()


class _HideTokens(logging.Filter):
    """waitress names the path of a request it could not serve: the token in it is cut out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = hide_tokens(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


class StatusServer:
    """The status app on the embedded server (``notifykit serve``). ``port=0`` picks a free
    port; :attr:`url` says where it listens. ``settings`` (default: the notifier's
    ``server:``) gives the threads, the connection limit and the timeouts."""

    def __init__(
        self,
        notifier: Notifier,
        host: str = "127.0.0.1",
        port: int = 8025,
        settings: ServerSettings | None = None,
        *,
        app: Any = None,
    ) -> None:
        settings = settings or notifier.config.server
        self.app = app if app is not None else StatusApp(notifier)
        self.settings = settings
        limit, soft = descriptor_room(settings.connection_limit)
        if limit < settings.connection_limit:
            logger.warning(
                "server.connection_limit %d does not fit the descriptor limit (ulimit -n %s): "
                "using %d; raise the limit (systemd LimitNOFILE=) or lower connection_limit",
                settings.connection_limit,
                soft,
                limit,
            )
        self.connection_limit = limit
        try:
            adj = Adjustments(
                host=host,
                port=port,
                threads=settings.threads,
                connection_limit=limit,
                channel_timeout=settings.idle_timeout,
                # the timeouts are checked this often (a cheap walk over the connections)
                cleanup_interval=max(0.1, min(1.0, settings.idle_timeout / 4)),
                max_request_header_size=MAX_HEADER_BYTES,
                # larger bodies are refused (413) before they are read; the app reads <= MAX_BODY
                max_request_body_size=MAX_BODY + 1,
                asyncore_use_poll=sys.platform != "win32",  # select() stops at descriptor 1023
                ident="notifykit",
                clear_untrusted_proxy_headers=False,
            )
        except ValueError as err:  # waitress: a host it cannot resolve
            raise OSError(errno.EADDRNOTAVAIL, f"{host!r} is not an address ({err})") from None
        self._dispatcher = ThreadedTaskDispatcher()
        self._map: dict[int, Any] = {}
        self._server = _Server(
            self.app,
            map=self._map,
            dispatcher=self._dispatcher,
            adj=adj,
            sockinfo=adj.listen[0],
            request_timeout=settings.request_timeout,
        )
        self._dispatcher.set_thread_count(settings.threads)
        self._adj = adj
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._filter = _HideTokens()
        logging.getLogger("waitress").addFilter(self._filter)

    @property
    def url(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown`; then stop accepting, let the requests running finish
        (up to :data:`DRAIN_TIMEOUT`) and close every connection."""
        settings = self.settings
        logger.info(
            "serving on %s: %d threads, at most %d connections, idle timeout %gs, request "
            "timeout %gs",
            self.url,
            settings.threads,
            self.connection_limit,
            settings.idle_timeout,
            settings.request_timeout,
        )
        if isinstance(self.app, StatusApp):
            self.app.announce()
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=1.0, map=self._map, use_poll=self._adj.asyncore_use_poll,
                               count=1)  # fmt: skip
            self._drain()
        finally:
            self._dispatcher.shutdown(timeout=2)
            wasyncore.close_all(self._map)
            logging.getLogger("waitress").removeFilter(self._filter)
            self._stopped.set()

    def _drain(self) -> None:
        wasyncore.dispatcher.close(self._server)  # the listening socket only: the trigger stays
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline and any(
            c.requests or c.total_outbufs_len for c in list(self._server.active_channels.values())
        ):
            wasyncore.loop(timeout=0.1, map=self._map, use_poll=self._adj.asyncore_use_poll,
                           count=1)  # fmt: skip

    def start(self) -> StatusServer:
        """Serve in a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="notifykit-serve")
        self._thread.daemon = True
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to stop (from another thread or a signal handler)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.pull_trigger()

    def close(self) -> None:
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=DRAIN_TIMEOUT + 5)
        elif not self._stopped.is_set():  # never served: close what was opened
            self._dispatcher.shutdown(timeout=2)
            wasyncore.close_all(self._map)
            logging.getLogger("waitress").removeFilter(self._filter)

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
