"""The Apprise plugin's hook implementations, found through the ``notifykit`` entry-point group
(``apprise``), like any third-party plugin.

Registers the ``apprise`` provider (accounts: the Apprise URLs by target name; a sandbox that
runs a local receiver) and the ``apprise`` channel type. Loading it is cheap: Apprise, the
client and the channel are imported when an account is connected and a channel built. Block it
with ``NOTIFYKIT_DISABLE_PLUGINS=apprise``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from notifykit.channels import AccountContext, Channel, ChannelContext, ChannelType, Provider
from notifykit.hookspecs import hookimpl
from notifykit_apprise.settings import AppriseAccountSettings, AppriseChannelSettings

__all__ = ["register_channel_types", "register_providers", "sandbox"]


def _connect(settings: AppriseAccountSettings, context: AccountContext) -> Any:
    from notifykit_apprise.client import AppriseClient, AppriseNotInstalledError

    targets = None
    if settings.targets is not None:
        targets = {name: target.urls for name, target in settings.targets.items()}
    try:
        return AppriseClient(
            targets,
            redirect=settings.redirect,
            timeout=settings.timeout,
            throttle=settings.throttle,
        )
    except AppriseNotInstalledError as err:
        # a problem of the account, at its line (the core reports a ValueError from connect)
        raise ValueError(str(err)) from None


def _channel(settings: AppriseChannelSettings, context: ChannelContext) -> Channel:
    from notifykit_apprise.channel import AppriseChannel

    return AppriseChannel(settings, context)


@contextmanager
def sandbox() -> Iterator[Mapping[str, Any]]:
    """A throwaway :class:`~notifykit_apprise.receiver.AppriseReceiver` on 127.0.0.1 that every
    Apprise account notifies instead of its targets (``redirect``): a sandboxed notification
    reaches no real service."""
    from notifykit_apprise.receiver import AppriseReceiver

    with AppriseReceiver() as receiver:
        yield {"redirect": receiver.url("sandbox")}


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(
        Provider(
            name="apprise",
            settings=AppriseAccountSettings,
            connect=_connect,
            sandbox=sandbox,
            sandbox_keys=frozenset({"targets"}),
            description="Apprise (any of its services, by URL)",
        )
    )


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="apprise",
            factory=_channel,
            settings=AppriseChannelSettings,
            kind="text",
            template_suffix="sms",
            address="apprise",
            provider="apprise",
            description="Any of Apprise's services (Telegram, Slack, ntfy, email...) by URL",
        )
    )
