"""The sample chat plugin's hook implementations: the ``chat`` channel type and its template
settings, a status page route and a ``notifykit chat-rooms`` command. Loading it is cheap: the
channel module is imported when a channel is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from notifykit import hookimpl
from notifykit.channels import Channel, ChannelContext, ChannelType
from notifykit.config.settings import Settings
from notifykit_sample_chat.settings import ChatSettings, ChatTemplateSettings


def _chat(settings: ChatSettings, context: ChannelContext) -> Channel:
    from notifykit_sample_chat.channel import ChatChannel

    return ChatChannel(settings, context)


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="chat",
            factory=_chat,
            settings=ChatSettings,
            kind="text",
            template_suffix="sms",
            address="chat",
            description="Posts each message to a chat room's webhook",
        )
    )


@hookimpl
def register_template_settings(register: Callable[[type[Settings]], None]) -> None:
    register(ChatTemplateSettings)


@hookimpl
def register_routes(add_route: Callable[..., None], notifier: Any) -> None:
    """``GET /chat/rooms``: the rooms the config's chat channels post to, one per line."""
    from notifykit.server.http import Response

    def rooms(request: Any) -> Response:
        names = sorted(
            channel.settings.room
            for channel in notifier.config.channels.values()
            if channel.type == "chat"
        )
        return Response.text(200, "".join(f"{name}\n" for name in names))

    add_route(r"/chat/rooms", rooms)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``notifykit chat-rooms``: the rooms the config's chat channels post to."""

    @cli.command("chat-rooms")
    @click.option("--prefix", default="", help="Only the rooms starting with this.")
    def chat_rooms(prefix: str) -> None:
        """List the rooms the config's chat channels post to, one per line."""
        from notifykit.cli.common import State

        notifier = State.current().notifier()
        for channel_name, channel in sorted(notifier.config.channels.items()):
            if channel.type == "chat" and channel.settings.room.startswith(prefix):
                click.echo(f"{channel.settings.room} ({channel_name})")
