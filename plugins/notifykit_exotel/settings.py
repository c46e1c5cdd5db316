"""The Exotel plugin's settings, each declared once: an account (``provider: exotel``), the
``exotel-sms``, ``exotel-call``, ``exotel-flow`` and ``exotel-whatsapp`` channels, and the
``templates:`` keys of India's DLT registration and of WhatsApp templates. The core reads the
YAML into these classes; :func:`connect` and the channels get the instances.

Loading it is cheap: it imports the core's settings declarations and the client's rate-limit
defaults (no HTTP client, no YAML).
"""

from __future__ import annotations

import re
from typing import Literal

from notifykit.config.settings import (
    BySeverity,
    Duration,
    Phone,
    PhoneAsWritten,
    Settings,
    setting,
)
from notifykit_exotel.retry import DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW

__all__ = [
    "AccountSettings",
    "CallSettings",
    "FlowSettings",
    "Sender",
    "SmsSettings",
    "SmsTemplateSettings",
    "WhatsAppSettings",
    "WhatsAppTemplateSettings",
]

_DIGITS = r"\d{1,30}"
_URL = r"https?://\S+"
# A DLT sender id (6 letters, legacy "LM-EXOTEL"), a numeric promotional header, or an ExoPhone.
_SENDER = r"\+?[A-Za-z0-9-]{3,20}"
_DOMAIN = r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}"

SmsType = Literal["transactional", "transactional_opt_in", "promotional"]


_FLOW_SECRET = re.compile(r"[A-Za-z0-9_-]{16,128}")


def _flow_secret_problems(value: str | None) -> list[str]:
    """A flow secret goes in a URL path: 16 to 128 URL-safe characters (``openssl rand -hex
    16``). The value is never quoted."""
    if value is None or _FLOW_SECRET.fullmatch(value):
        return []
    return ["a flow secret is 16 to 128 letters, digits, - or _ (openssl rand -hex 16)"]


class AccountSettings(Settings):
    """An Exotel account (``provider: exotel``)."""

    sid: str = setting(doc="the account SID")
    token: str = setting(secret=True, doc="the API token")
    api_key: str | None = setting(
        default=None, doc="the API key (Basic-auth user); defaults to the SID"
    )
    region: Literal["singapore", "mumbai"] = setting(default="singapore", doc="Exotel cluster")
    base_url: str | None = setting(
        default=None,
        doc="overrides region, e.g. a running simulator (http:// only on loopback)",
    )
    timeout: int | None = setting(default=None, min=1, max=300, doc="seconds per HTTP request")
    rate_limit: int = setting(
        default=DEFAULT_RATE_LIMIT,
        min=1,
        max=100000,
        doc="requests per rate_window, client-side (Exotel allows about 200 a minute)",
    )
    rate_window: Duration = setting(
        default=DEFAULT_RATE_WINDOW,
        min=0.001,
        max=86400.0,
        doc="the rate limit's window (60s, 1m, 1h)",
    )
    retries: int = setting(
        default=3,
        min=0,
        max=10,
        doc="immediate retries of a request Exotel certainly did not process (refused, 429, 503)",
    )
    array_style: Literal["indexed", "brackets", "repeat", "csv"] = setting(
        default="indexed", doc="how bulk To lists are encoded"
    )
    flow_secret: str | None = setting(
        default=None,
        secret=True,
        env_only=True,
        check=_flow_secret_problems,
        doc="the secret in the missed-call and on-call URLs of Exotel flows (notifykit flows; "
        "${ENV_VAR} only, 16+ characters: letters, digits, - and _)",
    )
    missed_call_sms: str | None = setting(
        default=None,
        ref="channel",
        doc="an SMS channel that confirms a missed-call acknowledgement to the caller",
    )
    oncall_schedule: str | None = setting(
        default=None,
        ref="schedule",
        doc="the schedule the on-call URL dials when it names none (default: the only one)",
    )


class Sender(Settings):
    """An entry of an ``exotel-sms`` channel's ``senders`` table."""

    from_: str = setting(
        pattern=_SENDER,
        expected="a sender id (e.g. NKALRT) or an ExoPhone number",
        doc="the DLT sender id or ExoPhone",
    )
    priority: Literal["normal", "high"] | None = setting(
        default=None, doc="Exotel's SMS Priority (high for OTPs only)"
    )


class SmsSettings(Settings):
    """An ``exotel-sms`` channel."""

    account: str = setting(ref="account", doc="the Exotel account it sends from")
    senders: BySeverity[Sender] = setting(
        doc="sender id and Exotel SMS Priority by severity, with a default"
    )
    dlt_entity_id: str | None = setting(
        default=None,
        pattern=_DIGITS,
        expected="a numeric id",
        doc="DLT principal entity id (India), sent as DltEntityId",
    )
    dlt_whitelisted_domains: tuple[str, ...] = setting(
        default=(),
        pattern=_DOMAIN,
        expected="a domain name (alerts.example.com)",
        doc="domains whitelisted on the DLT portal for links in SMS (doctor stops warning)",
    )
    sms_type: SmsType | None = setting(
        default=None, doc="default SmsType when the template has none"
    )
    encoding: Literal["auto", "plain", "unicode"] = setting(
        default="auto", doc="auto: unicode for UCS-2 bodies"
    )
    status_callback: str | None = setting(
        default=None, pattern=_URL, expected="an http(s) URL", doc="where Exotel reports status"
    )
    bulk: bool = setting(default=True, doc="use the bulk endpoint for many recipients")


class _CallSettings(Settings):
    """What the call channels share."""

    account: str = setting(ref="account", doc="the Exotel account it calls from")
    caller_id: BySeverity[PhoneAsWritten] = setting(doc="your ExoPhone, or one per severity")
    time_limit: int | None = setting(
        default=None, min=1, max=14400, doc="seconds before the call is cut"
    )
    time_out: int | None = setting(default=None, min=1, max=300, doc="seconds to ring")
    record: bool | None = setting(default=None, doc="record the call")
    status_callback: str | None = setting(
        default=None, pattern=_URL, expected="an http(s) URL", doc="where Exotel reports status"
    )


class CallSettings(_CallSettings):
    """An ``exotel-call`` channel: rings the recipient, then connects them to a number."""

    connect_to: BySeverity[Phone] = setting(doc="the number to connect, or one per severity")
    wait_url: str | None = setting(
        default=None,
        pattern=_URL,
        expected="an http(s) URL",
        doc="a WAV played while connect_to rings",
    )


class FlowSettings(_CallSettings):
    """An ``exotel-flow`` channel: rings the recipient into an Exotel flow (IVR)."""

    app_id: str | None = setting(
        default=None, pattern=_DIGITS, expected="a numeric id", doc="the flow (app) id"
    )
    url: str | None = setting(
        default=None,
        pattern=_URL,
        expected="an http(s) URL",
        doc="a full flow URL instead of app_id",
    )


class SmsTemplateSettings(Settings):
    """The ``templates.<name>`` keys for Exotel SMS: the SMS type. (The DLT keys,
    ``dlt_template_id`` and ``dlt_pattern``, are India's: :class:`notifykit.india.DltTemplateSettings`.)"""

    sms_type: SmsType | None = setting(default=None, doc="sent as SmsType")


# -- exotel-whatsapp (its channel: notifykit_exotel.whatsapp, loaded when a channel is built) --

#: an exotel-whatsapp channel's webhook_secret, the last segment of its reply URL
WHATSAPP_SECRET = r"[A-Za-z0-9_-]{16,128}"
_NAME = r"[a-z0-9_]{1,512}"
_LANGUAGE = r"[a-z]{2,3}(?:_[A-Z]{2})?"
_VARIABLE = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*"


class WhatsAppSettings(Settings):
    """An ``exotel-whatsapp`` channel: an approved template message with an Acknowledge button."""

    account: str = setting(ref="account", doc="the Exotel account it sends from")
    from_: PhoneAsWritten = setting(doc="the WhatsApp business number it sends from")
    template: str | None = setting(
        default=None,
        pattern=_NAME,
        expected="an approved template's name (alert_page)",
        doc="the approved WhatsApp template, unless the notifykit template names one",
    )
    language: str = setting(
        default="en",
        pattern=_LANGUAGE,
        expected="a language code (en, en_US, hi)",
        doc="the template's language, unless the notifykit template names one",
    )
    variables: tuple[str, ...] = setting(
        default=("text",),
        pattern=_VARIABLE,
        expected="a name: text, event, severity, alert_key, or a key of the data (labels.service)",
        doc="what fills the template's {{1}}, {{2}}...: text is the rendered .sms text",
    )
    ack_button: bool = setting(
        default=True,
        doc="the template's first button is a quick reply: its payload says acknowledge",
    )
    webhook_secret: str | None = setting(
        default=None,
        secret=True,
        pattern=WHATSAPP_SECRET,
        expected="16 to 128 letters, digits, - or _ (use ${ENV})",
        doc="the secret of POST /exotel/whatsapp/<secret>, where replies acknowledge",
    )
    reply_url: str | None = setting(
        default=None,
        secret=True,
        pattern=r"https?://\S+",
        expected="an http(s) URL ending in /exotel/whatsapp/<secret>",
        doc="sent as status_callback: where Exotel posts replies (holds the secret: ${ENV})",
    )


class WhatsAppTemplateSettings(Settings):
    """The ``templates.<name>`` keys for ``exotel-whatsapp``."""

    whatsapp_template: str | None = setting(
        default=None, pattern=_NAME, doc="the approved WhatsApp template this one is sent as"
    )
    whatsapp_language: str | None = setting(
        default=None, pattern=_LANGUAGE, doc="that template's language code"
    )
