"""The ``webhook`` channel's settings, each declared once, with validators that take Python values
(:func:`url_problems`, :func:`header_problems`) and never echo a value that may be a credential:
a chat webhook's URL carries its token in the path or query, and a header value is treated as a
secret."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Literal
from urllib.parse import urlsplit

from notifykit.config.settings import ConfigWarning, Duration, Settings, setting

__all__ = [
    "BODY_SHAPES",
    "RESERVED_HEADERS",
    "WebhookSettings",
    "header_problems",
    "is_loopback",
    "url_problems",
]

#: what ``body:`` may say: the channel's own JSON, or a chat service's
BodyShape = Literal["notifykit", "slack", "mattermost", "teams"]
BODY_SHAPES: tuple[str, ...] = ("notifykit", "slack", "mattermost", "teams")

#: headers the channel writes itself (compared without case)
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "idempotency-key",
        "notifykit-signature",
    }
)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110 token)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8, ``::1``."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problems(url: str) -> Iterator[str]:
    """What is wrong with a webhook URL: http(s) only, a host, no credentials in it (headers
    carry those); ``http://`` to another machine is a warning (readable and changeable on the
    way). The URL itself is never repeated: its path or query may be a token."""
    if url != url.strip() or any(c.isspace() for c in url):
        yield "must not contain spaces or line breaks"
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        yield "is not a valid URL (a bad port or IPv6 address): write https://host[:port]/path"
        return
    if parts.scheme not in ("http", "https"):
        yield "must be an https:// URL (or http://), e.g. https://hooks.example.com/notifykit"
        return
    if not host:
        yield "has no host: write https://host[:port]/path"
        return
    if parts.username is not None or parts.password is not None:
        yield (
            "must not carry a user or password: send credentials in headers (Authorization: "
            "${WEBHOOK_AUTH}) instead"
        )
        return
    if parts.scheme == "http" and not is_loopback(host):
        yield ConfigWarning(
            f"posts over plain http:// to {host}: anyone on the way can read and change what "
            "is sent (the signature still shows a change); use https://"
        )


def header_problems(headers: Mapping[str, str]) -> Iterator[str]:
    """What is wrong with extra headers: names must be HTTP tokens and not ones the channel
    writes; values one line of Latin-1 text. Values are never repeated (they may be secrets)."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            yield f"{name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
        elif name.lower() in RESERVED_HEADERS:
            yield f"{name!r} is written by the channel itself; leave it out"
        elif any(c in value for c in "\r\n\0"):
            yield f"the value of {name!r} has a line break or NUL: one line of text only"
        else:
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                yield f"the value of {name!r} is not Latin-1 text (HTTP header values are)"


class WebhookSettings(Settings):
    """A ``webhook`` channel: POSTs each delivery as JSON to a URL."""

    url: str = setting(
        check=url_problems,
        repr=False,
        doc="where each delivery is POSTed: https:// (http:// warns unless to this machine); "
        "errors show only its scheme and host; a chat webhook's URL is a credential: write it "
        "as ${ENV_VAR}",
    )
    secret: str | None = setting(
        default=None,
        secret=True,
        doc="signs each post (Notifykit-Signature: HMAC-SHA256); required for body: notifykit",
    )
    headers: Mapping[str, str] = setting(
        default_factory=dict,
        secret=True,
        check=header_problems,
        doc="extra request headers (Authorization: ...); every value is treated as a secret",
    )
    body: BodyShape = setting(
        default="notifykit",
        doc="notifykit: the channel's JSON, signed; slack or mattermost: {text}; teams: an "
        "Adaptive Card message (Workflows webhooks)",
    )
    timeout: Duration = setting(
        default=10.0, min=0.5, max=120.0, doc="to connect, and again to wait for the answer"
    )
    retry_unknown: bool = setting(
        default=False,
        doc="a post that may have arrived (5xx, timeout, dropped) is sent again with the same "
        "Idempotency-Key: only for receivers that honour it",
    )
    method: Literal["POST"] = setting(default="POST", doc="always POST")
