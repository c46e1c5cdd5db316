"""notifykit plugin for webhooks, registered through the ``notifykit`` entry-point group as
``webhook``: the ``webhook`` channel type (its settings in :mod:`notifykit_webhook.settings`),
and its sandbox, a local fake receiver (:mod:`notifykit_webhook.fake`) that ``--sandbox`` posts
to instead of the configured URL.

Loading it is cheap: the channel, and the HTTP layer under it, are imported when a channel is
built. Block it with ``NOTIFYKIT_DISABLE_PLUGINS=webhook``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from notifykit.channels import Channel, ChannelContext, ChannelType
from notifykit.hookspecs import hookimpl
from notifykit_webhook.settings import WebhookSettings

__all__ = ["register_channel_types", "sandbox"]


def _webhook(settings: WebhookSettings, context: ChannelContext) -> Channel:
    from notifykit_webhook.channel import WebhookChannel

    return WebhookChannel(settings, context)


@contextmanager
def sandbox() -> Iterator[Mapping[str, Any]]:
    """A fake receiver on 127.0.0.1 that records each post, checks its signature with a
    throwaway secret and answers 200; every webhook channel posts there, without the configured
    headers (``-v`` shows one line per post)."""
    import secrets

    from notifykit_webhook.fake import FakeReceiver

    secret = secrets.token_urlsafe(24)
    with FakeReceiver(secret=secret, require_signature=True, log_posts=True) as receiver:
        yield {"url": receiver.url, "secret": secret, "headers": {}}


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="webhook",
            factory=_webhook,
            settings=WebhookSettings,
            kind="webhook",
            template_suffix="sms",
            address="webhook",
            description="POSTs each delivery as signed JSON to a URL (Slack, Teams, Mattermost, "
            "a receiver of your own)",
            sandbox=sandbox,
            sandbox_keys=frozenset({"url", "secret", "headers"}),
        )
    )
