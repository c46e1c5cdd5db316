"""The token a call's TwiML URL carries: ``<batch token>.<8 characters naming the number>``.

With ``server.public_url``, every batch has a status-callback URL ending in ``/status/<token>``
(128 random bits); a ``twilio-call`` names one call of the batch by adding a short digest of the
number called. ``notifykit serve`` finds the delivery by it in the ledger. The URL is worth
nothing without Twilio's signature (:mod:`notifykit_twilio.voice`): every request to it must
carry an ``X-Twilio-Signature`` made with the account's auth token.
"""

from __future__ import annotations

import base64
import hashlib
import re

__all__ = ["call_token", "parse_token", "public_base", "who"]

_BATCH = re.compile(r"^(?P<base>.+)/status/(?P<token>[A-Za-z0-9_-]{16,128})$")
_TOKEN = re.compile(r"(?P<batch>[A-Za-z0-9_-]{16,128})\.(?P<who>[A-Za-z0-9_-]{8})")


def who(batch: str, address: str) -> str:
    digest = hashlib.sha256(f"{batch}/{address}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def public_base(status_callback: str | None) -> str | None:
    """``server.public_url`` as a batch's status callback URL shows it (``None``: none)."""
    match = _BATCH.match(status_callback or "")
    return None if match is None else match.group("base")


def call_token(status_callback: str | None, address: str | None) -> str | None:
    """The token of a call to ``address`` in the batch of ``status_callback``."""
    match = _BATCH.match(status_callback or "")
    if match is None or not address:
        return None
    batch = match.group("token")
    return f"{batch}.{who(batch, address)}"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(batch token, number part)`` of a well-formed call token, else ``None``."""
    match = _TOKEN.fullmatch(token.strip())
    return None if match is None else (match.group("batch"), match.group("who"))
