"""A webhook receiver on 127.0.0.1, for tests and ``--sandbox``: it records every post (headers,
raw body, whether its signature checks out) and answers 200, or the faults it is told to make.

Faults (:class:`Fault`), each for the next ``times`` posts: any status with a body and headers
(500, 429 with ``Retry-After``, 408, 404, a 301 with a ``Location``...), an answer held back for
``delay`` seconds (past the client's timeout), a connection dropped after the request was read
(``drop``). A refused connection needs no server: :func:`closed_url` is a URL nothing listens on.

::

    with FakeReceiver(secret="s3cr3t") as receiver:
        receiver.inject(Fault(status=500))
        ...  # post to receiver.url
        [post] = receiver.wait_for(1)
        assert post.verified and post.idempotency_key
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notifykit_webhook.signature import SIGNATURE_HEADER, verify

__all__ = ["FakeReceiver", "Fault", "Post", "closed_url"]

log = logging.getLogger("notifykit_webhook.fake")

#: the largest body the fake reads
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Post:
    """One request the fake received."""

    method: str
    path: str
    headers: Mapping[str, str] = field(repr=False)  # names lowercased
    body: bytes = field(repr=False)
    received: float
    #: the signature checked out against the fake's secret (``None``: the fake has none)
    verified: bool | None

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def signature(self) -> str | None:
        return self.headers.get(SIGNATURE_HEADER.lower())

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Fault:
    """What the fake does with the next ``times`` posts instead of answering 200."""

    status: int = 200
    body: bytes | str | Mapping[str, Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: seconds to hold the answer back (the client's timeout runs out first)
    delay: float = 0.0
    #: close the connection after reading the request, without answering
    drop: bool = False
    times: int = 1

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def closed_url(path: str = "/hook") -> str:
    """An http:// URL on 127.0.0.1 where nothing listens (a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}{path}"


class FakeReceiver:
    """A webhook receiver on 127.0.0.1 (see the module docstring). ``secret``: check each post's
    ``Notifykit-Signature`` (``Post.verified``); with ``require_signature`` a post whose
    signature does not check out is answered 401. ``log_posts``: one INFO line per post on
    ``notifykit_webhook.fake`` (the sandbox's)."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        require_signature: bool = False,
        path: str = "/hook",
        log_posts: bool = False,
    ) -> None:
        self.secret = secret
        self.require_signature = require_signature
        self.log_posts = log_posts
        self.posts: list[Post] = []
        self._faults: list[Fault] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="notifykit-webhook-fake",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"FakeReceiver({self.url!r}, posts={len(self.posts)})"

    def __enter__(self) -> FakeReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (an answer held back is given up)."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def inject(self, fault: Fault) -> None:
        """Make ``fault`` for the next ``fault.times`` posts (after the faults injected before)."""
        with self._changed:
            self._faults.append(fault)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Post]:
        """The posts, once at least ``count`` have arrived (``AssertionError`` after
        ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.posts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.posts)} posts arrived, not {count}")
                self._changed.wait(left)
            return list(self.posts)

    # -- called by the handler ------------------------------------------------------------

    def _record(self, post: Post) -> Fault | None:
        with self._changed:
            self.posts.append(post)
            self._changed.notify_all()
            if not self._faults:
                return None
            fault = self._faults[0]
            if fault.times <= 1:
                self._faults.pop(0)
            else:
                self._faults[0] = Fault(
                    status=fault.status,
                    body=fault.body,
                    headers=fault.headers,
                    delay=fault.delay,
                    drop=fault.drop,
                    times=fault.times - 1,
                )
            return fault


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: FakeReceiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses its connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request on stderr

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY))
        headers = {name.lower(): value for name, value in self.headers.items()}
        verified = (
            None
            if receiver.secret is None
            else verify(receiver.secret, headers.get(SIGNATURE_HEADER.lower()), body)
        )
        post = Post(self.command, self.path, headers, body, time.time(), verified)
        if receiver.log_posts:
            log.info(
                "webhook sandbox received %s %s (%d bytes, signature %s, Idempotency-Key %s)",
                self.command,
                self.path,
                len(body),
                {None: "not checked", True: "valid", False: "INVALID"}[verified],
                post.idempotency_key,
            )
        fault = receiver._record(post)
        if fault is not None and fault.drop:
            self.close_connection = True
            return  # the request was read: close without a word
        if fault is not None and fault.delay and receiver._stopping.wait(fault.delay):
            self.close_connection = True
            return
        if receiver.require_signature and verified is False:
            self._answer(401, b'{"error": "bad signature"}', {})
            return
        if fault is None:
            self._answer(200, b'{"ok": true}', {})
        else:
            self._answer(fault.status, fault.payload(), fault.headers)

    def do_GET(self) -> None:
        self._answer(405, b'{"error": "POST only"}', {"Allow": "POST"})

    def _answer(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        with contextlib.suppress(OSError):  # the client gave up (a timeout) and hung up
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
