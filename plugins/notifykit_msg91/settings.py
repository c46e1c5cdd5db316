"""The MSG91 plugin's settings, each declared once: an account (``provider: msg91``: the
authkey, the DLT sender id and principal entity id, the route) and the ``msg91-sms`` channel.

The per-template DLT keys (``dlt_template_id``, ``dlt_pattern``) are the ``templates:`` keys the
Exotel plugin declares for India's DLT registration: a template registered once on the DLT
platform has one template id whichever aggregator sends it, so both plugins read the same keys
(this one by name, through ``message.template_settings``).

Loading it is cheap: it imports the core's settings declarations only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from notifykit.config.settings import Duration, Settings, server_url_problems, setting

__all__ = [
    "DEFAULT_BASE_URL",
    "ROUTES",
    "AccountSettings",
    "SmsSettings",
    "base_url_problems",
]

#: where MSG91's API is served (the documented ``https://api.msg91.com/api/v2/sendsms``)
DEFAULT_BASE_URL = "https://api.msg91.com"
#: MSG91's route numbers: 4 transactional, 1 promotional (MSG91's API documentation)
ROUTES = {"transactional": "4", "promotional": "1"}

_DIGITS = r"\d{1,30}"
# A DLT header (sender id): 6 letters for transactional and service SMS, 6 digits for
# promotional ones (MSG91's error 203: "Your sender ID must be 6 characters").
_SENDER = r"[A-Za-z]{6}|\d{6}"


def base_url_problems(url: str) -> Iterator[str]:
    """What is wrong with ``base_url``: ``https://`` (``http://`` only to this machine: a fake
    or a test), a host, no path, user or query (the authkey goes in a header, never a URL)."""
    return server_url_problems(url, example=DEFAULT_BASE_URL, secret="the authkey")


class AccountSettings(Settings):
    """An MSG91 account (``provider: msg91``)."""

    authkey: str = setting(
        secret=True,
        pattern=r"\S{8,200}",
        expected="the authkey from MSG91's panel (API > Authkey)",
        doc="the account's authkey, sent in the authkey header: write it as ${MSG91_AUTHKEY}",
    )
    sender: str = setting(
        pattern=_SENDER,
        expected="a 6-character DLT header (sender id), e.g. NKALRT",
        doc="the DLT header (sender id) every SMS is sent from, as registered on the DLT "
        "platform and in MSG91's panel",
    )
    dlt_entity_id: str = setting(
        pattern=_DIGITS,
        expected="the numeric DLT principal entity id",
        doc="the principal entity id (PE ID) the sender and templates are registered under on "
        "the DLT platform; sent with every SMS",
    )
    route: Literal["transactional", "promotional"] = setting(
        default="transactional", doc="MSG91's route: transactional (4) or promotional (1)"
    )
    base_url: str = setting(
        default=DEFAULT_BASE_URL,
        check=base_url_problems,
        doc="MSG91's API server; http:// only on loopback (a fake, tests)",
    )
    timeout: Duration = setting(
        default=10.0, min=0.5, max=120.0, doc="to connect, and again to wait for MSG91's answer"
    )


class SmsSettings(Settings):
    """An ``msg91-sms`` channel: every SMS from a template with a ``dlt_template_id``."""

    account: str = setting(ref="account", doc="the MSG91 account it sends from")
    encoding: Literal["auto", "plain", "unicode"] = setting(
        default="auto", doc="auto: unicode (MSG91's unicode=1) for a UCS-2 body (Hindi...)"
    )
