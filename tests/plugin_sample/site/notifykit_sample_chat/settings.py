"""The sample chat plugin's settings, each declared once: a type, a default, constraints, a doc,
and a validator of its own (:func:`room_problems`) that takes a Python value, never YAML."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from notifykit.config.settings import Duration, Settings, setting
from notifykit.model import Severity

_ROOM = re.compile(r"#[a-z0-9][a-z0-9-]*")


def room_problems(room: str) -> Iterable[str]:
    """What is wrong with a room name: ``#`` then lowercase letters, digits and dashes, at most
    32 characters in all."""
    if not _ROOM.fullmatch(room):
        yield f"{room!r} is not a room: write # and lowercase letters, digits or dashes (#ops)"
    if len(room) > 32:
        yield f"{room!r} is {len(room)} characters long: a room name has at most 32"


class ChatSettings(Settings):
    """A ``chat`` channel: posts each message to a room's webhook."""

    webhook: str = setting(
        pattern=r"https?://\S+", expected="an http(s) URL", doc="the room's incoming webhook"
    )
    token: str = setting(secret=True, doc="the bearer token the webhook wants")
    room: str = setting(check=room_problems, doc="the room it posts to (#ops)")
    timeout: Duration = setting(default=10.0, min=0.5, max=60.0, doc="per request")
    mention: Literal["nobody", "here", "all"] = setting(
        default="nobody", doc="who an urgent message also notifies"
    )
    urgent_from: Severity = setting(
        default="error", doc="messages of this severity and above are urgent"
    )


class ChatTemplateSettings(Settings):
    """The ``templates.<name>`` keys this plugin adds (every one optional)."""

    chat_format: Literal["plain", "card"] | None = setting(
        default=None, doc="how the chat shows the message (plain by default)"
    )
