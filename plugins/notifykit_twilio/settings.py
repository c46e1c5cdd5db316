"""The Twilio plugin's settings, each declared once: an account (``provider: twilio``: the
account SID, the auth token, who messages and calls come from, where the API is) and the
``twilio-sms`` and ``twilio-call`` channels.

Loading it is cheap: it imports the core's settings declarations only.
"""

from __future__ import annotations

from collections.abc import Iterator

from notifykit.config.settings import (
    ConfigWarning,
    Duration,
    Settings,
    server_url_problems,
    setting,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AccountSettings",
    "CallSettings",
    "SmsSettings",
    "base_url_problems",
]

#: where Twilio's REST API is served (``https://api.twilio.com/2010-04-01/...``)
DEFAULT_BASE_URL = "https://api.twilio.com"

_E164 = r"\+[1-9]\d{6,14}"
# An alphanumeric sender id (SMS only, where the destination country allows one): 1-11
# characters, letters, digits and spaces, at least one letter.
_SENDER = rf"{_E164}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{{1,11}}"


def base_url_problems(url: str) -> Iterator[str]:
    """What is wrong with ``base_url``: ``https://`` (``http://`` only to this machine: a fake
    or a test), a host, no path, user or query (the auth token goes in a header)."""
    return server_url_problems(url, example=DEFAULT_BASE_URL, secret="the auth token")


def _region_warning(region: str) -> Iterator[str]:
    if region and region not in ("us1", "ie1", "au1"):
        yield ConfigWarning(f"{region!r} is not one of Twilio's documented regions (us1, ie1, au1)")


class AccountSettings(Settings):
    """A Twilio account (``provider: twilio``)."""

    account_sid: str = setting(
        pattern=r"AC[0-9a-fA-F]{32}",
        expected="the account SID from Twilio's console: AC and 32 hex digits",
        doc="the account SID (AC...), the user of every API request",
    )
    auth_token: str = setting(
        secret=True,
        pattern=r"\S{16,200}",
        expected="the auth token from Twilio's console",
        doc="the account's auth token: signs in to the API and verifies Twilio's request "
        "signatures; write it as ${TWILIO_AUTH_TOKEN}",
    )
    from_number: str | None = setting(
        default=None,
        key="from",
        pattern=_SENDER,
        expected="a Twilio number in E.164 (+14155550100) or an alphanumeric sender id",
        doc="who SMS and calls come from: a number of the account (E.164), or for SMS an "
        "alphanumeric sender id; calls need a number",
    )
    messaging_service_sid: str | None = setting(
        default=None,
        pattern=r"MG[0-9a-fA-F]{32}",
        expected="a Messaging Service SID: MG and 32 hex digits",
        doc="SMS through this Messaging Service (its sender pool) instead of from `from`",
    )
    region: str | None = setting(
        default=None,
        pattern=r"[a-z]{2}[0-9]",
        expected="a Twilio region such as ie1",
        check=_region_warning,
        doc="the Twilio region to send through (us1 when unset)",
    )
    edge: str | None = setting(
        default=None,
        pattern=r"[a-z-]{3,20}",
        expected="a Twilio edge location such as dublin",
        doc="the edge location the region is reached through (Twilio requires one with a region)",
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        check=base_url_problems,
        doc="Twilio's API server (another one: a fake); http:// only on loopback",
    )
    timeout: Duration = setting(
        default=10.0, min=0.5, max=120.0, doc="to connect, and again to wait for Twilio's answer"
    )

    def __post_init__(self) -> None:
        if self.from_number is None and self.messaging_service_sid is None:
            raise ValueError(
                "a Twilio account needs `from` (a number of the account) or "
                "`messaging_service_sid`: Twilio refuses a message from nobody"
            )


class SmsSettings(Settings):
    """A ``twilio-sms`` channel."""

    account: str = setting(ref="account", doc="the Twilio account it sends from")


class CallSettings(Settings):
    """A ``twilio-call`` channel: the ``<template>.voice`` text spoken, then, with
    ``server.public_url``, a key to press (acknowledge, escalate, resolve)."""

    account: str = setting(ref="account", doc="the Twilio account it calls from")
    voice: str = setting(
        default="alice",
        pattern=r"[A-Za-z0-9._-]{1,60}",
        expected="a TwiML Say voice such as alice or Polly.Aditi",
        doc="the voice the text is spoken in (TwiML Say)",
    )
    language: str = setting(
        default="en-US",
        pattern=r"[a-z]{2,3}(-[A-Z]{2})?",
        expected="a language tag such as en-US or en-IN",
        doc="the language of the spoken text and of the keypress prompt (TwiML Say, Gather)",
    )
    gather_timeout: Duration = setting(
        default=6.0, min=1.0, max=60.0, doc="how long the call waits for a key after the text"
    )
    repeat: int = setting(
        default=2, min=1, max=5, doc="how many times the text is spoken when no key is pressed"
    )
