"""The ``Notifykit-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw
body>" keyed by the channel's secret>``, as Stripe signs its webhooks. A receiver recomputes the
HMAC over the body exactly as it arrived (before any JSON parsing), compares in constant time,
and refuses a ``t`` too far from its own clock (a replayed post)."""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "Notifykit-Signature"
#: how far ``t`` may be from the receiver's clock, in seconds, by default
DEFAULT_TOLERANCE = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Notifykit-Signature`` value of ``body`` at ``timestamp`` (default: now)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (a ``Notifykit-Signature`` value) signs ``body`` with ``secret``,
    made within ``tolerance`` seconds of ``now`` (default: the current time)."""
    if not header:
        return False
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = _mac(secret, t, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
