"""The simulator's public records: injected faults, recorded requests, callback attempts."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

_TO_KEY = re.compile(r"^(?:To(?:\[\d*\])?|Messages\[\d+\]\[To\])$")


@dataclass(frozen=True)
class Fault:
    """A failure the simulator serves instead of (or before) its normal answer.

    ``status`` answers with that HTTP status and a JSON ``RestException`` (``code`` and ``message``
    fill it in); ``retry_after`` adds a ``Retry-After`` header; ``delay`` sleeps first, to provoke
    client read timeouts (a fault with only a delay then answers normally, so the call or SMS *is*
    created, as happens when a real client gives up on a slow but successful request); ``drop``
    reads the request and closes the socket without answering; ``non_json`` answers an HTML
    gateway page (with ``status``, default 502). ``method`` and ``path`` (a regex searched in the
    request path) restrict which requests the fault applies to.
    """

    status: int | None = None
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    non_json: bool = False
    method: str | None = None
    path: str | None = None

    @property
    def answers(self) -> bool:
        """Whether this fault replaces the normal answer (as opposed to only delaying it)."""
        return self.drop or self.non_json or self.status is not None

    def to_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data (the admin endpoint's form)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """A fault from JSON-style data; ValueError naming any unknown or mistyped key."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault field(s) {', '.join(unknown)}: use {', '.join(known)}")
        checks: dict[str, tuple[type, ...]] = {
            "status": (int,),
            "code": (int,),
            "message": (str,),
            "retry_after": (int, float),
            "delay": (int, float),
            "drop": (bool,),
            "non_json": (bool,),
            "method": (str,),
            "path": (str,),
        }
        for key, value in data.items():
            allowed = checks[key]
            wrong_bool = isinstance(value, bool) and bool not in allowed
            if value is not None and (wrong_bool or not isinstance(value, allowed)):
                names = " or ".join(t.__name__ for t in allowed)
                raise ValueError(f"fault field {key} must be {names}, not {value!r}")
        if data.get("path") is not None:
            try:
                re.compile(data["path"])
            except re.error as err:
                raise ValueError(f"fault path {data['path']!r} is not a regex: {err}") from None
        status = data.get("status")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"fault status must be an HTTP status (100-599), not {status}")
        return cls(**data)


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the simulator received, as the client sent it (minus secrets).

    ``status`` is the HTTP status the simulator answered, or 0 when it dropped the connection
    (or has not answered yet). ``headers`` keep the client's spelling of names; the
    ``Authorization`` value is always ``"<scheme> <redacted>"`` so no credential is ever stored.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    time: float
    auth_user: str | None = None
    duration_ms: float | None = None

    @property
    def recipients(self) -> list[str]:
        """Every ``To`` number of the request as sent (``To``, ``To[i]``, ``Messages[i][To]``,
        comma-separated lists split), for counting requests per number."""
        numbers: list[str] = []
        for key, values in self.form.items():
            if _TO_KEY.match(key):
                for value in values:
                    numbers.extend(part.strip() for part in value.split(",") if part.strip())
        return numbers

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON-ready data; the body as UTF-8 text (undecodable bytes replaced)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "form": self.form,
            "headers": self.headers,
            "body": self.body.decode("utf-8", errors="replace"),
            "status": self.status,
            "time": self.time,
            "duration_ms": self.duration_ms,
            "auth_user": self.auth_user,
            "recipients": self.recipients,
        }

    def field(self, name: str) -> str | None:
        """The last value sent for form field ``name``, or None when it was not sent."""
        values = self.form.get(name)
        return values[-1] if values else None

    @property
    def fields(self) -> dict[str, str]:
        """Every form field with its last value (repeated keys collapse to the last one)."""
        return {key: values[-1] for key, values in self.form.items() if values}

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name, or None."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass(frozen=True)
class CallbackAttempt:
    """One status callback the simulator POSTed (or tried to) to a client's StatusCallback URL.

    ``content_type`` is the full header sent (a multipart one includes its boundary), ``fields``
    what was sent before encoding (for JSON the object itself, ``Legs`` as a list; form bodies
    send None as an empty string), and ``status`` the receiver's HTTP status, or None when the
    receiver could not be reached.
    """

    url: str
    content_type: str
    body: bytes
    fields: dict[str, Any]
    status: int | None
    kind: Literal["call", "sms"]
    sid: str
    error: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The attempt as JSON-ready data (the body as UTF-8 text)."""
        return {
            "url": self.url,
            "content_type": self.content_type,
            "body": self.body.decode("utf-8", errors="replace"),
            "fields": self.fields,
            "status": self.status,
            "kind": self.kind,
            "sid": self.sid,
            "error": self.error,
        }
