"""The simulator's public records: injected faults, recorded requests, callback attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


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
