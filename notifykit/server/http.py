"""The small HTTP vocabulary of the status app's handlers: a :class:`Request` (its body read
with limits), a :class:`Response`, and :class:`HTTPProblem` for an answer that is an error."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_BODY",
    "MAX_ERROR_CHARS",
    "MAX_JSON_DEPTH",
    "REASONS",
    "HTTPProblem",
    "Request",
    "Response",
    "hide_tokens",
    "json_too_deep",
]

#: the largest body read (Exotel's callbacks are well under a kilobyte)
MAX_BODY = 1 << 20
#: the deepest JSON accepted (an Alertmanager payload is 4 deep)
MAX_JSON_DEPTH = 32
#: an error's text in an answer is cut here (it may quote a 900 kB label)
MAX_ERROR_CHARS = 500
REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    411: "Length Required",
    413: "Payload Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HTTPProblem(Exception):
    """A request answered with an error: ``status`` and what to tell the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Request:
    """One request as a handler sees it: ``params`` are the route's named groups."""

    environ: dict[str, Any]
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str:
        """A request header (``Authorization``), ``""`` when absent."""
        return str(self.environ.get("HTTP_" + name.upper().replace("-", "_"), ""))

    @property
    def content_type(self) -> str:
        return str(self.environ.get("CONTENT_TYPE", ""))

    def body(self) -> bytes:
        """The body, at most :data:`MAX_BODY` bytes (``413`` beyond) and, when it is JSON, at
        most :data:`MAX_JSON_DEPTH` deep (``400`` beyond): checked before anything parses it."""
        data = _read_body(self.environ)
        if json_too_deep(data, MAX_JSON_DEPTH):
            raise HTTPProblem(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return data


@dataclass(frozen=True)
class Response:
    """What a handler answers: a status, a body and its headers."""

    status: int
    body: bytes
    headers: Sequence[tuple[str, str]] = ()

    @classmethod
    def json(cls, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> Response:
        body = json.dumps(payload).encode()
        return cls(status, body, (("Content-Type", "application/json"), *headers))

    @classmethod
    def html(cls, status: int, body: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return cls(status, body.encode(), (("Content-Type", "text/html; charset=utf-8"), *headers))

    @classmethod
    def text(cls, status: int, body: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return cls(status, body.encode(), (("Content-Type", "text/plain; charset=utf-8"), *headers))

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json(status, {"error": cut(message)})


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether ``body``, when it looks like JSON (its first non-blank byte is ``{`` or ``[``),
    nests arrays and objects deeper than ``limit``. Linear and cheap: a body with no more than
    ``limit`` opening brackets is not scanned; otherwise only brackets, quotes and backslashes
    are visited, strings skipped. Whether it is valid JSON is the parser's business."""
    start = body.lstrip()[:1]
    if start not in (b"{", b"["):
        return False
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    skip = -1
    for match in _JSON_SPECIAL.finditer(body):
        at = match.start()
        if at == skip:
            continue
        char = body[at]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                skip = at + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):
            depth -= 1
    return False


_JSON_SPECIAL = re.compile(rb'[\[\]{}"\\]')


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, at most :data:`MAX_BODY` bytes. A chunked body arrives decoded (the
    embedded server and gunicorn decode it; ``wsgi.input_terminated`` says the stream ends)."""
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            raise HTTPProblem(400, "Content-Length is not a number") from None
        if length < 0:
            raise HTTPProblem(400, "Content-Length is negative")
        if length > MAX_BODY:
            raise HTTPProblem(413, f"body over {MAX_BODY} bytes")
        return bytes(stream.read(length))
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    if chunked or environ.get("wsgi.input_terminated"):
        data = bytes(stream.read(MAX_BODY + 1))
        if len(data) > MAX_BODY:
            raise HTTPProblem(413, f"body over {MAX_BODY} bytes")
        return data
    return b""


def cut(text: str) -> str:
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return f"{text[:MAX_ERROR_CHARS]}... ({len(text) - MAX_ERROR_CHARS} more characters)"


#: a path segment or a query value that may be a token or a secret (a plugin's route may
#: carry one: a flow secret, a per-call token): 16 or more URL-safe characters
_TOKENISH = re.compile(r"(?<=[/=])[A-Za-z0-9_~.%-]{16,}")


def hide_tokens(text: str) -> str:
    """``text`` (a path, a request line, a log message) with the tokens of ``/status/``,
    ``/ack/`` and ``/heartbeat/<name>/`` paths and every other token-like path segment or query
    value cut out."""
    text = re.sub(r"/(heartbeat/[^/\s]+)/[A-Za-z0-9._~-]+", r"/\1/<token>", text)
    text = re.sub(r"/(status|ack)/[A-Za-z0-9._~-]+", r"/\1/<token>", text)
    return _TOKENISH.sub("<token>", text)
