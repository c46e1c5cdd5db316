"""notifykit plugin for Exotel, registered through the ``notifykit`` entry-point group as ``exotel``.

Registers the ``exotel`` provider (accounts: sid, api key, token, region; a sandbox that runs the
local simulator) and three channel types: ``exotel-sms``, ``exotel-call`` and ``exotel-flow``.
Loading it is cheap: the HTTP client and the channel classes are imported when a channel is built.
Block it with ``NOTIFYKIT_DISABLE_PLUGINS=exotel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from notifykit.channels import Channel, ChannelContext, ChannelType, Provider, TextInspection
from notifykit.config.schema import (
    INVALID,
    UNSET,
    Boolean,
    BySeverity,
    Checker,
    Choice,
    Duration,
    Field,
    Integer,
    PhoneNumber,
    Reference,
    String,
    Struct,
    Type,
)
from notifykit.hookspecs import hookimpl

if TYPE_CHECKING:
    import yaml

__all__ = ["register_channel_types", "register_providers", "register_template_settings"]

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
    "rate_limit": Field(
        Integer(1, 100000), default=200, help="requests per rate_window, client-side"
    ),
    "rate_window": Field(
        Duration(0.001, 86400.0), default=60.0, help="the rate limit's window (60s, 1m, 1h)"
    ),
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


@dataclass(frozen=True)
class DltPattern(Type):
    """A DLT content template, as registered (``{#var#}`` placeholders), parsed at load."""

    description = "a DLT content template"

    def check(self, node: yaml.Node, path: str, ctx: Checker) -> Any:
        from notifykit.text.sms import parse_dlt_pattern

        value = String().check(node, path, ctx)
        if value is INVALID or value is UNSET:
            return value
        try:
            parse_dlt_pattern(value)
        except ValueError as err:
            return ctx.problem(node, path, str(err))
        return value


#: the ``templates.<name>`` keys for Exotel SMS: DLT registration (India) and the SMS type
TEMPLATE_SETTINGS: dict[str, Field] = {
    "dlt_template_id": Field(
        String(r"\d{1,30}", "a numeric DLT template id"), help="sent as DltTemplateId"
    ),
    "sms_type": Field(
        Choice(("transactional", "transactional_opt_in", "promotional")), help="sent as SmsType"
    ),
    "dlt_pattern": Field(DltPattern(), help="the registered DLT text the body must match"),
}


def _inspect_sms(text: str, settings: Mapping[str, Any]) -> TextInspection:
    from notifykit_exotel.channels import inspect_sms

    return inspect_sms(text, settings)


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
def register_template_settings(register: Callable[[str, Field], None]) -> None:
    for key, spec in TEMPLATE_SETTINGS.items():
        register(key, spec)


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
            inspect=_inspect_sms,
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
