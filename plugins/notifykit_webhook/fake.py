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

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from notifykit import fakeserver
from notifykit.fakeserver import FakeRequest, FakeServer
from notifykit_webhook.signature import SIGNATURE_HEADER, verify

__all__ = ["FakeReceiver", "Fault", "Post", "closed_url"]

log = logging.getLogger("notifykit_webhook.fake")


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
    return fakeserver.closed_url(path)


class FakeReceiver(FakeServer[Post, Fault]):
    """A webhook receiver on 127.0.0.1 (see the module docstring). ``secret``: check each post's
    ``Notifykit-Signature`` (``Post.verified``); with ``require_signature`` a post whose
    signature does not check out is answered 401. ``log_posts``: one INFO line per post on
    ``notifykit_webhook.fake`` (the sandbox's)."""

    thread_name = "notifykit-webhook-fake"
    methods = ("POST", "GET")
    noun = "posts"

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
        super().__init__()
        self.url = self.base_url + path

    def __repr__(self) -> str:
        return f"FakeReceiver({self.url!r}, posts={len(self.posts)})"

    @property
    def posts(self) -> list[Post]:
        """Every post received, in order."""
        return self._recorded

    def _serve(self, request: FakeRequest) -> None:
        if request.command != "POST":
            request.answer(405, b'{"error": "POST only"}', {"Allow": "POST"})
            return
        body = request.read_body()
        headers = request.lowered_headers()
        verified = (
            None
            if self.secret is None
            else verify(self.secret, headers.get(SIGNATURE_HEADER.lower()), body)
        )
        post = Post(request.command, request.path, headers, body, time.time(), verified)
        if self.log_posts:
            log.info(
                "webhook sandbox received %s %s (%d bytes, signature %s, Idempotency-Key %s)",
                request.command,
                request.path,
                len(body),
                {None: "not checked", True: "valid", False: "INVALID"}[verified],
                post.idempotency_key,
            )
        self._record(post)
        fault = self._next_fault()
        if fault is not None and (fault.drop or self._hold(fault.delay)):
            request.hang_up()  # the request was read (or the fake closed): no word
        elif self.require_signature and verified is False:
            request.answer(401, b'{"error": "bad signature"}')
        elif fault is None:
            request.answer(200, b'{"ok": true}')
        else:
            request.answer(fault.status, fault.payload(), fault.headers)
