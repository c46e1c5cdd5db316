"""notifykit plugin for Exotel, registered through the ``notifykit`` entry-point group as ``exotel``.

Registers the ``exotel`` provider (accounts: sid, api key, token, region; a sandbox that runs the
local simulator), three channel types, ``exotel-sms``, ``exotel-call`` and ``exotel-flow``, the
``templates:`` keys of DLT registration (their settings are declared in
:mod:`notifykit_exotel.settings`), ``notifykit doctor``'s checks for them
(:mod:`notifykit_exotel.doctor`) and the ``notifykit simulator`` command
(:mod:`notifykit_exotel.cli`).
Loading it is cheap: the HTTP client and the channel classes are imported when a channel is built.
Block it with ``NOTIFYKIT_DISABLE_PLUGINS=exotel``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from notifykit.channels import (
    AccountContext,
    Channel,
    ChannelContext,
    ChannelType,
    Provider,
    TemplateSettings,
    TextInspection,
)
from notifykit.checks import Check, deferred
from notifykit.config.settings import Settings
from notifykit.hookspecs import hookimpl
from notifykit_exotel.settings import (
    AccountSettings,
    CallSettings,
    FlowSettings,
    SmsSettings,
    SmsTemplateSettings,
)

if TYPE_CHECKING:
    import click

__all__ = [
    "register_channel_types",
    "register_checks",
    "register_commands",
    "register_providers",
    "register_routes",
    "register_template_settings",
]


def _inspect_sms(text: str, settings: TemplateSettings) -> TextInspection:
    from notifykit_exotel.channels import inspect_sms

    return inspect_sms(text, settings)


def _sms(settings: SmsSettings, context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import SmsChannel

    return SmsChannel(settings, context)


def _call(settings: CallSettings, context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import CallChannel

    return CallChannel(settings, context)


def _flow(settings: FlowSettings, context: ChannelContext) -> Channel:
    from notifykit_exotel.channels import FlowChannel

    return FlowChannel(settings, context)


def _connect(settings: AccountSettings, context: AccountContext) -> Any:
    from notifykit_exotel.channels import connect

    return connect(settings, context)


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
            settings=AccountSettings,
            connect=_connect,
            sandbox=sandbox,
            sandbox_keys=frozenset({"sid", "token", "api_key", "base_url"}),
            lookup=_lookup,
            description="Exotel (exotel.com) voice and SMS, v1 API",
            # --sandbox's simulator: its request lines repeat the client's
            quiet_loggers=("notifykit_exotel.simulator",),
        )
    )


@hookimpl
def register_template_settings(register: Callable[[type[Settings]], None]) -> None:
    register(SmsTemplateSettings)
    register(_whatsapp_template_settings())


#: ``notifykit doctor``'s checks; their code (:mod:`notifykit_exotel.doctor`) loads when one runs
CHECKS: tuple[Check, ...] = (
    Check(
        "exotel.dlt",
        deferred("notifykit_exotel.doctor", "check_dlt"),
        "SMS templates against India's DLT rules: registration, variables, links to whitelist",
    ),
    Check(
        "exotel.sms-ids",
        deferred("notifykit_exotel.doctor", "check_sms_ids"),
        "each SMS channel's DLT entity id, and sender ids that fit the SMS type",
    ),
    Check(
        "exotel.account",
        deferred("notifykit_exotel.doctor", "check_account"),
        "through Exotel's API: credentials, KYC, caller ids that are ExoPhones with voice, "
        "numbers' type and DND status, NDNC numbers to whitelist",
        online=True,
    ),
)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    for check in CHECKS:
        register(check)


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="exotel-sms",
            factory=_sms,
            settings=SmsSettings,
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
            settings=CallSettings,
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
            settings=FlowSettings,
            kind="flow",
            template_suffix="voice",
            provider="exotel",
            description="Rings the recipient into an Exotel flow (IVR) with the voice text",
        )
    )
    register(_whatsapp_type())


@hookimpl
def register_commands(cli: click.Group) -> None:
    from notifykit_exotel.cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


# -- exotel-whatsapp (notifykit_exotel.whatsapp): its channel type, template keys and reply route --


def _whatsapp(settings: Any, context: ChannelContext) -> Channel:
    from notifykit_exotel.whatsapp import WhatsAppChannel

    return WhatsAppChannel(settings, context)


def _whatsapp_type() -> ChannelType:
    from notifykit_exotel.settings import WhatsAppSettings

    return ChannelType(
        name="exotel-whatsapp",
        factory=_whatsapp,
        settings=WhatsAppSettings,
        kind="whatsapp",
        template_suffix="sms",
        provider="exotel",
        description="an approved WhatsApp template through Exotel, with an Acknowledge button",
    )


def _whatsapp_template_settings() -> type[Settings]:
    from notifykit_exotel.settings import WhatsAppTemplateSettings

    return WhatsAppTemplateSettings


@hookimpl
def register_routes(add_route: Callable[..., None], notifier: Any) -> None:
    """The URLs Exotel flows call (:mod:`notifykit_exotel.flows`): the paging call's text and
    keys, and the missed-call acknowledgement; and the replies to ``exotel-whatsapp`` messages
    (:mod:`notifykit_exotel.whatsapp`)."""
    from notifykit_exotel.flows import register
    from notifykit_exotel.whatsapp import register as register_whatsapp

    register(add_route, notifier)
    register_whatsapp(add_route, notifier)
