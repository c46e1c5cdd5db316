"""notifykit plugin for Exotel, registered through the ``notifykit`` entry-point group as ``exotel``.

Registers the ``exotel`` provider (accounts: sid, api key, token, region; a sandbox that runs the
local simulator) and three channel types: ``exotel-sms``, ``exotel-call`` and ``exotel-flow``.
Loading it is cheap: the HTTP client and the channel classes are imported when a channel is built.
Block it with ``NOTIFYKIT_DISABLE_PLUGINS=exotel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from notifykit.channels import Channel, ChannelContext, ChannelType, Provider
from notifykit.config.schema import (
    Boolean,
    BySeverity,
    Choice,
    Field,
    Integer,
    PhoneNumber,
    Reference,
    String,
    Struct,
)
from notifykit.hookspecs import hookimpl

__all__ = ["register_channel_types", "register_providers"]

_DIGITS = String(r"\d{1,30}", "a numeric id")
_URL = String(r"https?://\S+", "an http(s) URL")
# A DLT sender id (6 letters, legacy "LM-EXOTEL"), a numeric promotional header, or an ExoPhone.
_SENDER = String(r"\+?[A-Za-z0-9-]{3,20}", "a sender id (e.g. NKALRT) or an ExoPhone number")
_EXOPHONE = PhoneNumber(normalize=False)

ACCOUNT_SETTINGS: dict[str, Field] = {
    "sid": Field(String(), required=True, help="the account SID"),
    "token": Field(String(), required=True, secret=True, help="the API token"),
    "api_key": Field(String(), help="the API key (Basic-auth user); defaults to the SID"),
    "region": Field(Choice(("singapore", "mumbai")), default="singapore", help="Exotel cluster"),
    "base_url": Field(String(), help="overrides region, e.g. a running simulator"),
    "timeout": Field(Integer(1, 300), help="seconds per HTTP request"),
    "rate_limit": Field(Integer(1, 100000), default=200, help="requests per minute, client-side"),
    "retries": Field(
        Integer(0, 10),
        default=3,
        help="immediate retries of a request Exotel certainly did not process (refused, 429, 503)",
    ),
    "array_style": Field(
        Choice(("indexed", "brackets", "repeat", "csv")),
        default="indexed",
        help="how bulk To lists are encoded",
    ),
}

_CALL_COMMON: dict[str, Field] = {
    "account": Field(Reference("account"), required=True),
    "caller_id": Field(BySeverity(_EXOPHONE), required=True, help="ExoPhone, or per severity"),
    "time_limit": Field(Integer(1, 14400), help="seconds before the call is cut"),
    "time_out": Field(Integer(1, 300), help="seconds to ring"),
    "record": Field(Boolean()),
    "status_callback": Field(_URL),
}

SMS_SETTINGS: dict[str, Field] = {
    "account": Field(Reference("account"), required=True),
    "senders": Field(
        BySeverity(
            Struct(
                {
                    "from": Field(_SENDER, required=True),
                    "priority": Field(Choice(("normal", "high"))),
                }
            ),
            scalar=False,
        ),
        required=True,
        help="sender id and Exotel SMS Priority by severity, with a default",
    ),
    "dlt_entity_id": Field(_DIGITS, help="DLT principal entity id (India)"),
    "sms_type": Field(
        Choice(("transactional", "transactional_opt_in", "promotional")),
        help="default SmsType when the template has none",
    ),
    "encoding": Field(Choice(("auto", "plain", "unicode")), default="auto"),
    "status_callback": Field(_URL),
    "bulk": Field(Boolean(), default=True, help="use the bulk endpoint for many recipients"),
}

CALL_SETTINGS: dict[str, Field] = {
    **_CALL_COMMON,
    "connect_to": Field(
        BySeverity(PhoneNumber()), required=True, help="the number to connect, or per severity"
    ),
    "wait_url": Field(_URL, help="a WAV played while connect_to rings"),
}

FLOW_SETTINGS: dict[str, Field] = {
    **_CALL_COMMON,
    "app_id": Field(_DIGITS, help="the flow (app) id"),
    "url": Field(_URL, help="a full flow URL instead of app_id"),
}


def _sms(settings: Mapping[str, Any], context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import SmsChannel

    return SmsChannel(settings, context)


def _call(settings: Mapping[str, Any], context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import CallChannel

    return CallChannel(settings, context)


def _flow(settings: Mapping[str, Any], context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import FlowChannel

    return FlowChannel(settings, context)


def _connect(settings: Mapping[str, Any]) -> Any:
    from notifykit_exotel.channels import connect

    return connect(settings)


def _lookup(client: Any, sid: str, kind: str | None) -> Mapping[str, Any]:
    from notifykit_exotel.channels import lookup

    return lookup(client, sid, kind)


@contextmanager
def sandbox() -> Iterator[Mapping[str, Any]]:
    """A throwaway simulator on 127.0.0.1 that completes calls and delivers SMS by itself."""
    from notifykit_exotel.simulator import ExotelSimulator

    with ExotelSimulator(auto_progress=True) as simulator:
        yield {
            "sid": simulator.sid,
            "token": simulator.token,
            "api_key": simulator.api_key,
            "base_url": simulator.base_url,
        }


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(
        Provider(
            name="exotel",
            settings=ACCOUNT_SETTINGS,
            connect=_connect,
            sandbox=sandbox,
            sandbox_keys=frozenset({"sid", "token", "api_key", "base_url"}),
            lookup=_lookup,
            description="Exotel (exotel.com) voice and SMS, v1 API",
        )
    )


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="exotel-sms",
            factory=_sms,
            settings=SMS_SETTINGS,
            kind="sms",
            template_suffix="sms",
            provider="exotel",
            description="SMS through Exotel; bulk endpoint for many recipients",
        )
    )
    register(
        ChannelType(
            name="exotel-call",
            factory=_call,
            settings=CALL_SETTINGS,
            kind="call",
            template_suffix=None,
            provider="exotel",
            description="Rings the recipient, then connects them to a number",
        )
    )
    register(
        ChannelType(
            name="exotel-flow",
            factory=_flow,
            settings=FLOW_SETTINGS,
            kind="flow",
            template_suffix="voice",
            provider="exotel",
            description="Rings the recipient into an Exotel flow (IVR) with the voice text",
        )
    )
