"""Channels: what a channel plugin implements and receives, and the built-in ``console`` channel.

The plugin-facing types live in :mod:`notifykit.channels.base` and are re-exported here, so a plugin
writes ``from notifykit.channels import ChannelType, DeliveryResult``.
"""

from __future__ import annotations

from notifykit.channels.base import *  # noqa: F403
from notifykit.channels.base import __all__ as __all__
