"""notifykit plugin for Twilio, registered through the ``notifykit`` entry-point group as
``twilio``: the ``twilio`` provider (accounts: account SID, auth token, ``from`` or a Messaging
Service; a sandbox that runs the local fake, :mod:`notifykit_twilio.fake`), the ``twilio-sms``
and ``twilio-call`` channel types (settings in :mod:`notifykit_twilio.settings`), the call
URLs ``notifykit serve`` answers (:mod:`notifykit_twilio.voice`, the ``register_routes`` hook).
``notifykit doctor``'s ``twilio.config`` check is a plugin of its own for now
(:mod:`notifykit_twilio.doctor`): every check registered shows in every doctor run's list,
which the documented outputs show.

Loading it is cheap: the ``twilio`` package, the client, the channels and the HTTP layer are
imported when an account or channel is built, or a call URL answered. Block it with
``NOTIFYKIT_DISABLE_PLUGINS=twilio``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from notifykit.channels import AccountContext, Channel, ChannelContext, ChannelType, Provider
from notifykit.checks import Check, deferred
from notifykit.hookspecs import hookimpl
from notifykit_twilio.settings import AccountSettings, CallSettings, SmsSettings

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = [
    "connect",
    "register_channel_types",
    "register_checks",
    "register_providers",
    "register_routes",
    "sandbox",
]


def connect(settings: AccountSettings, context: AccountContext) -> Any:
    """The account's client: one per account and Notifier, pooled, shared by its channels."""
    from notifykit_twilio.client import TwilioClient

    return TwilioClient(
        settings.account_sid,
        settings.auth_token,
        base_url=settings.base_url,
        region=settings.region,
        edge=settings.edge,
        timeout=float(settings.timeout),
        name=f"Twilio (account {context.account_name})",
    )


def _sms(settings: SmsSettings, context: ChannelContext) -> Channel:
    from notifykit_twilio.channel import TwilioSmsChannel

    return TwilioSmsChannel(settings, context)


def _call(settings: CallSettings, context: ChannelContext) -> Channel:
    from notifykit_twilio.channel import TwilioCallChannel

    return TwilioCallChannel(settings, context)


@contextmanager
def sandbox() -> Iterator[Mapping[str, Any]]:
    """A fake Twilio on 127.0.0.1 that takes every well-formed message and call with a
    throwaway account (``-v`` shows one line per request) and plays each call's TwiML; nothing
    leaves the machine."""
    from notifykit_twilio.fake import FakeTwilio

    with FakeTwilio(log_requests=True, play_calls=True) as fake:
        yield {
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "base_url": fake.base_url,
        }


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(
        Provider(
            name="twilio",
            settings=AccountSettings,
            connect=connect,
            sandbox=sandbox,
            sandbox_keys=frozenset({"account_sid", "auth_token", "base_url"}),
            description="Twilio (twilio.com) SMS and voice calls, through the official package",
        )
    )


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="twilio-sms",
            factory=_sms,
            settings=SmsSettings,
            kind="sms",
            template_suffix="sms",
            provider="twilio",
            description="SMS through Twilio",
        )
    )
    register(
        ChannelType(
            name="twilio-call",
            factory=_call,
            settings=CallSettings,
            kind="call",
            template_suffix="voice",
            provider="twilio",
            description="a Twilio voice call speaking the text; a key acknowledges "
            "(with server.public_url)",
        )
    )


@hookimpl
def register_routes(add_route: Callable[..., None], notifier: Notifier) -> None:
    from notifykit_twilio.voice import register

    register(add_route, notifier)


#: ``notifykit doctor``'s checks; their code (:mod:`notifykit_twilio.doctor`) loads when one runs
CHECKS: tuple[Check, ...] = (
    Check(
        "twilio.config",
        deferred("notifykit_twilio.doctor", "check_config"),
        "Twilio channels: a call's `from` number, the keypress acknowledgement's server.public_url",
    ),
)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    """``notifykit doctor``'s ``twilio.config`` check (:mod:`notifykit_twilio.doctor`)."""
    for check in CHECKS:
        register(check)
