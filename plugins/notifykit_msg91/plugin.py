"""notifykit plugin for MSG91 (India), registered through the ``notifykit`` entry-point group as
``msg91``: the ``msg91`` provider (accounts: authkey, DLT sender id and entity id; a sandbox that
runs the local fake, :mod:`notifykit_msg91.fake`), the ``msg91-sms`` channel type (settings in
:mod:`notifykit_msg91.settings`), and ``notifykit doctor``'s ``msg91.dlt`` check
(:mod:`notifykit_msg91.doctor`).

Loading it is cheap: the client, the channel and the HTTP layer are imported when an account
or channel is built. Block it with ``NOTIFYKIT_DISABLE_PLUGINS=msg91``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from notifykit.channels import AccountContext, Channel, ChannelContext, ChannelType, Provider
from notifykit.checks import Check, deferred
from notifykit.hookspecs import hookimpl
from notifykit_msg91.settings import AccountSettings, SmsSettings

__all__ = [
    "connect",
    "register_channel_types",
    "register_checks",
    "register_providers",
    "sandbox",
]


def connect(settings: AccountSettings, context: AccountContext) -> Any:
    """The account's client: one per account and Notifier, pooled, shared by its channels."""
    from notifykit_msg91.client import Msg91Client

    return Msg91Client(
        settings.authkey,
        base_url=settings.base_url,
        timeout=float(settings.timeout),
        name=f"MSG91 (account {context.account_name})",
    )


def _sms(settings: SmsSettings, context: ChannelContext) -> Channel:
    from notifykit_msg91.channel import Msg91SmsChannel

    return Msg91SmsChannel(settings, context)


@contextmanager
def sandbox() -> Iterator[Mapping[str, Any]]:
    """A fake MSG91 on 127.0.0.1 that takes every well-formed SMS with a throwaway authkey
    (``-v`` shows one line per request); no SMS leaves the machine."""
    from notifykit_msg91.fake import FakeMsg91

    with FakeMsg91(log_requests=True) as fake:
        yield {"authkey": fake.authkey, "base_url": fake.base_url}


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(
        Provider(
            name="msg91",
            settings=AccountSettings,
            connect=connect,
            sandbox=sandbox,
            sandbox_keys=frozenset({"authkey", "base_url"}),
            description="MSG91 (msg91.com) SMS in India, DLT template and entity ids",
        )
    )


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="msg91-sms",
            factory=_sms,
            settings=SmsSettings,
            kind="sms",
            template_suffix="sms",
            provider="msg91",
            description="SMS through MSG91 (India), each checked against its DLT template",
        )
    )


#: ``notifykit doctor``'s checks; their code (:mod:`notifykit_msg91.doctor`) loads when one runs
CHECKS: tuple[Check, ...] = (
    Check(
        "msg91.dlt",
        deferred("notifykit_msg91.doctor", "check_dlt"),
        "SMS templates an MSG91 channel sends against India's DLT rules: the template id, the "
        "registered text, variables, links",
    ),
)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    for check in CHECKS:
        register(check)
