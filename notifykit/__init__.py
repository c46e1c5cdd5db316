"""notifykit: notifications from Python applications, with channels as pluggy plugins."""

from __future__ import annotations

__version__ = "0.1.0"
