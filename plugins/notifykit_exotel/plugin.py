"""notifykit channel plugin for Exotel (registered through the notifykit entry-point group)."""

from __future__ import annotations
