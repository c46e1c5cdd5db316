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
from dataclasses import dataclass, field
from typing import Any

from notifykit.fakeserver import FakeRequest, FakeServer

__all__ = ["AppriseReceiver", "Received"]

logger = logging.getLogger(__name__)

MAX_BODY = 1 << 20


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


class AppriseReceiver(FakeServer[Received, Any]):
    """An HTTP server on 127.0.0.1 (a free port unless ``port`` is given) for ``json://`` URLs.
    Answers 200 unless :meth:`answer` scripted otherwise for a path. Thread-safe. It serves from
    :meth:`start` (or ``with``) until :meth:`close`."""

    thread_name = "apprise-receiver"
    noun = "notification(s)"
    timeout_error = TimeoutError
    socket_timeout = 10.0

    def __init__(self, *, port: int = 0) -> None:
        self._answers: dict[str, _Script] = {}
        super().__init__(port=port, start=False)

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
        with self._changed:
            script = self._answers.setdefault("/" + path.strip("/"), _Script())
            if times is None:
                script.always = _Answer(status, delay)
            elif times > 0:
                script.next.append([_Answer(status, delay), times])

    @property
    def received(self) -> list[Received]:
        """Everything received so far, in order."""
        return self._snapshot()

    def reset(self) -> None:
        """Forget what was received and every scripted answer."""
        with self._changed:
            self._recorded.clear()
            self._answers.clear()

    # -- serving ----------------------------------------------------------------------------------

    def _answer_for(self, path: str) -> _Answer:
        path = "/" + path.split("?", 1)[0].strip("/")
        with self._changed:
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

    def _serve(self, request: FakeRequest) -> None:
        try:
            length = int(request.headers.get("Content-Length") or "")
        except ValueError:
            request.answer(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY:
            request.answer(413, {"error": f"at most {MAX_BODY} bytes"})
            request.hang_up()
            return
        raw = request.rfile.read(length)
        try:
            payload = json.loads(raw or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            request.answer(400, {"error": "expected a JSON object"})
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
        self._record(received)
        logger.info(
            "received (answered %d): %s%s",
            answer.status,
            f"[{received.title}] " if received.title else "",
            received.body,
        )
        self._hold(answer.delay)  # received, then answered late (or at once, if closed first)
        request.answer(answer.status, {"ok": 200 <= answer.status < 300})
